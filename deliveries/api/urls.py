from rest_framework.routers import SimpleRouter

from deliveries.api.views import DeliveryViewSet, ImportBatchViewSet

router = SimpleRouter(trailing_slash=False)
router.register("deliveries", DeliveryViewSet, basename="delivery")
router.register("import-batches", ImportBatchViewSet, basename="import-batch")
urlpatterns = router.urls
