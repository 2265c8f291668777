from rest_framework.routers import SimpleRouter

from monitoring.api.views import AccuracyReportViewSet, AlertViewSet, DriftReportViewSet

router = SimpleRouter(trailing_slash=False)
router.register("monitoring/drift-reports", DriftReportViewSet, basename="drift-report")
router.register("monitoring/accuracy-reports", AccuracyReportViewSet, basename="accuracy-report")
router.register("monitoring/alerts", AlertViewSet, basename="alert")
urlpatterns = router.urls
