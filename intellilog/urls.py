from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from intellilog.csp import self_only_csp
from intellilog.health import liveness, readiness
from intellilog.views import landing
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
    path("", landing, name="landing"),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema", SpectacularAPIView.as_view(authentication_classes=[], permission_classes=[]), name="schema"),
    # The split view serves its start-up script as a file of its own, so the page needs no inline script;
    # its assets come from drf-spectacular-sidecar through the app's static files: it works offline.
    path(
        "api/docs",
        self_only_csp(
            SpectacularSwaggerSplitView.as_view(url_name="schema", authentication_classes=[], permission_classes=[])
        ),
        name="api-docs",
    ),
    path("metrics", metrics_view, name="metrics"),
    path("health/live", liveness, name="health-live"),
    path("health/ready", readiness, name="health-ready"),
]
