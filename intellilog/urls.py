from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from intellilog.health import liveness, readiness
from monitoring.views import metrics_view

api_v1 = [
    # Before deliveries: its router would take deliveries/outcomes for the order id "outcomes".
    path("", include("predictions.api.urls")),
    path("", include("deliveries.api.urls")),
    path("", include("registry.api.urls")),
    path("", include("monitoring.api.urls")),
    path("", include("routing.api.urls")),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema", SpectacularAPIView.as_view(authentication_classes=[], permission_classes=[]), name="schema"),
    path(
        "api/docs",
        SpectacularSwaggerView.as_view(url_name="schema", authentication_classes=[], permission_classes=[]),
        name="api-docs",
    ),
    path("metrics", metrics_view, name="metrics"),
    path("health/live", liveness, name="health-live"),
    path("health/ready", readiness, name="health-ready"),
]
