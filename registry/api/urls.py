from rest_framework.routers import SimpleRouter

from registry.api.views import ModelVersionViewSet, RegistryEventViewSet, ShadowEvaluationViewSet

router = SimpleRouter(trailing_slash=False)
router.register("models/versions", ModelVersionViewSet, basename="model-version")
router.register("models/events", RegistryEventViewSet, basename="registry-event")
router.register("models/shadow-evaluations", ShadowEvaluationViewSet, basename="shadow-evaluation")
urlpatterns = router.urls
