from rest_framework.routers import SimpleRouter

from registry.api.views import ModelVersionViewSet, RegistryEventViewSet

router = SimpleRouter(trailing_slash=False)
router.register("models/versions", ModelVersionViewSet, basename="model-version")
router.register("models/events", RegistryEventViewSet, basename="registry-event")
urlpatterns = router.urls
