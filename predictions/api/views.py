from __future__ import annotations

import time
from typing import Any
from zoneinfo import ZoneInfo

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from intellilog.api_bounds import BoundedJSONParser
from intellilog.request_id import request_id_of
from predictions.api.serializers import (
    BulkOutcomeRequestSerializer,
    BulkOutcomeResponseSerializer,
    EtaBatchRequestSerializer,
    EtaBatchResponseSerializer,
    EtaRequestSerializer,
    EtaResponseSerializer,
    ModelInfoSerializer,
    OutcomeRequestSerializer,
    OutcomeResponseSerializer,
)
from predictions.constants import IDEMPOTENCY_KEY_MAX_LENGTH
from predictions.orders import order_from_request, order_id_normalise
from predictions.outcomes import outcomes_import
from predictions.selectors import serving_model
from predictions.services import (
    NoChampionServing,
    OrderRequest,
    prediction_outcome_record,
    prediction_serve,
    predictions_serve_batch,
)
from tenants.models import Tenant

IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="a retried request with the same key and body returns the stored prediction (409 if the body differs)",
)


def _order_request(tenant: Tenant, body: dict[str, Any], fields: dict[str, Any]) -> OrderRequest:
    order = order_from_request(fields, time_zone=ZoneInfo(tenant.time_zone), now=timezone.now())
    return OrderRequest(order=order, body=body)


def _idempotency_key(request: Request) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not key.strip() or len(key) > IDEMPOTENCY_KEY_MAX_LENGTH or not key.isprintable():
        raise exceptions.ValidationError(
            {"Idempotency-Key": f"must be 1..{IDEMPOTENCY_KEY_MAX_LENGTH} printable characters"}
        )
    return key


class EtaPredictionView(APIView):
    """Predict one order's delivery time with the tenant's champion; explained, audited, replayable."""

    # JSON only: the body is audited as sent, and a form encoding has no nulls or numbers.
    parser_classes = [BoundedJSONParser]

    @extend_schema(
        request=EtaRequestSerializer,
        responses={200: EtaResponseSerializer},
        parameters=[IDEMPOTENCY_HEADER],
    )
    def post(self, request: Request) -> Response:
        started = time.perf_counter()
        tenant = request.user.tenant
        idempotency_key = _idempotency_key(request)
        serializer = EtaRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        served = prediction_serve(
            tenant=tenant,
            item=_order_request(tenant, request.data, serializer.validated_data),
            request_id=request_id_of(request._request),
            idempotency_key=idempotency_key,
            started=started,
        )
        response = Response(served.body)
        if served.is_replay:
            response["Idempotent-Replayed"] = "true"
        return response


class EtaBatchPredictionView(APIView):
    """Predict up to PREDICTION_BATCH_MAX_ORDERS orders in one call, each audited like a single one."""

    # JSON only: the body is audited as sent, and a form encoding has no nulls or numbers.
    parser_classes = [BoundedJSONParser]

    @extend_schema(request=EtaBatchRequestSerializer, responses={200: EtaBatchResponseSerializer})
    def post(self, request: Request) -> Response:
        tenant = request.user.tenant
        serializer = EtaBatchRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        items = [
            _order_request(tenant, body, fields)
            for body, fields in zip(request.data["orders"], serializer.validated_data["orders"], strict=True)
        ]
        served = predictions_serve_batch(tenant=tenant, items=items, request_id=request_id_of(request._request))
        return Response({"predictions": [prediction.body for prediction in served]})


class OutcomeView(APIView):
    """Report the actual delivery time of a predicted order: ground truth for monitoring and features."""

    # JSON only: the body is audited as sent, and a form encoding has no nulls or numbers.
    parser_classes = [BoundedJSONParser]

    @extend_schema(request=OutcomeRequestSerializer, responses={201: OutcomeResponseSerializer})
    def post(self, request: Request, order_id: str) -> Response:
        try:
            order_id = order_id_normalise(order_id)
        except ValueError as error:
            raise exceptions.ValidationError({"order_id": str(error)}) from error
        serializer = OutcomeRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        recorded = prediction_outcome_record(tenant=request.user.tenant, order_id=order_id, **serializer.validated_data)
        return Response(
            OutcomeResponseSerializer(recorded).data,
            status=status.HTTP_201_CREATED if recorded.created else status.HTTP_200_OK,
        )


class BulkOutcomeView(APIView):
    """Report the actual delivery times of many predicted orders at once (a nightly export, in batches)."""

    parser_classes = [BoundedJSONParser]

    @extend_schema(request=BulkOutcomeRequestSerializer, responses={200: BulkOutcomeResponseSerializer})
    def post(self, request: Request) -> Response:
        serializer = BulkOutcomeRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = outcomes_import(tenant=request.user.tenant, rows=serializer.validated_data["outcomes"])
        return Response(BulkOutcomeResponseSerializer(result).data)


class ModelInfoView(APIView):
    """The ETA model version serving the caller: metadata, lineage and artifact checksum."""

    @extend_schema(responses={200: ModelInfoSerializer})
    def get(self, request: Request) -> Response:
        serving = serving_model(tenant=request.user.tenant)
        if serving is None:
            raise NoChampionServing(f"no ETA model is serving for tenant {request.user.tenant.slug} yet")
        return Response(ModelInfoSerializer(serving.version).data)
