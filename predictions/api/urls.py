from django.urls import path

from predictions.api.views import (
    BulkOutcomeView,
    EtaBatchPredictionView,
    EtaPredictionView,
    ModelInfoView,
    OutcomeView,
)

urlpatterns = [
    path("predictions/eta", EtaPredictionView.as_view(), name="prediction-eta"),
    path("predictions/eta/batch", EtaBatchPredictionView.as_view(), name="prediction-eta-batch"),
    path("deliveries/<str:order_id>/outcome", OutcomeView.as_view(), name="delivery-outcome"),
    path("deliveries/outcomes", BulkOutcomeView.as_view(), name="delivery-outcomes"),
    path("models/info", ModelInfoView.as_view(), name="model-info"),
]
