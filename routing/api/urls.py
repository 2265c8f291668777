from rest_framework.routers import SimpleRouter

from routing.api.views import RoutePlanViewSet

router = SimpleRouter(trailing_slash=False)
router.register("routes", RoutePlanViewSet, basename="route-plan")
urlpatterns = router.urls
