from django.urls import path

from predictions.api.views import ModelInfoView

urlpatterns = [path("models/info", ModelInfoView.as_view(), name="model-info")]
