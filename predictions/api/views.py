from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from predictions.api.serializers import ModelInfoSerializer
from predictions.selectors import serving_model
from registry.artifacts import ArtifactError


class NoChampion(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "no ETA model is serving for this tenant yet"
    default_code = "no_champion"


class ModelUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "the serving model's artifact cannot be loaded"
    default_code = "model_unavailable"


class ModelInfoView(APIView):
    """The ETA model version serving the caller: metadata, lineage and artifact checksum."""

    @extend_schema(responses={200: ModelInfoSerializer})
    def get(self, request: Request) -> Response:
        try:
            serving = serving_model(tenant=request.user.tenant)
        except ArtifactError as error:
            raise ModelUnavailable(str(error)) from error
        if serving is None:
            raise NoChampion()
        return Response(ModelInfoSerializer(serving.version).data)
