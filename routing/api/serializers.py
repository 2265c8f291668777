"""The routing API's input (a routing problem, validated down to the field that is wrong) and its output."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.settings import api_settings

from core.delivery.schema import TRAFFIC_VALUES, WEATHER_VALUES
from intellilog.api_bounds import FiniteFloatField, RejectUnknownFieldsMixin
from registry.selectors import eta_champion
from routing.choices import RouteObjective, TravelTimeSource
from routing.constants import (
    DEFAULT_SPEED_KMH,
    DEFAULT_TIME_LIMIT_SECONDS,
    MAX_DEPOTS,
    MAX_ID_LENGTH,
    MAX_JOBS,
    MAX_LATENESS_COST_PER_MINUTE,
    MAX_MINUTES,
    MAX_QUANTITY,
    MAX_SPEED_KMH,
    MAX_TIME_LIMIT_SECONDS,
    MAX_TIME_WINDOWS_PER_JOB,
    MAX_VEHICLES,
    MIN_SPEED_KMH,
    MIN_TIME_LIMIT_SECONDS,
)
from routing.models import RoutePlan


class FieldNamedListSerializer(serializers.ListSerializer):
    """A list whose own errors (not a list, empty, too long) are reported on the list's field.

    DRF files them under `non_field_errors` inside the field, which would make the API name
    `jobs.non_field_errors` instead of `jobs`. Errors of items keep DRF's `jobs.3.demand` form, which
    the cross-field checks of `OptimizeRequestSerializer` use too.
    """

    def to_internal_value(self, data: Any) -> list[Any]:
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if isinstance(exc.detail, dict) and set(exc.detail) == {api_settings.NON_FIELD_ERRORS_KEY}:
                raise serializers.ValidationError(exc.detail[api_settings.NON_FIELD_ERRORS_KEY]) from exc
            raise


def _minutes(**kwargs: Any) -> FiniteFloatField:
    return FiniteFloatField(min_value=0, max_value=MAX_MINUTES, **kwargs)


class LocationSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    lat = FiniteFloatField(min_value=-90, max_value=90)
    lon = FiniteFloatField(min_value=-180, max_value=180)


class TimeWindowSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    """Minutes from the planning day's origin; a missing or null `end` means open-ended."""

    start = _minutes()
    end = _minutes(required=False, allow_null=True)

    class Meta:
        list_serializer_class = FieldNamedListSerializer

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("end") is None:
            # The solver reads an absent end as "no end"; a stored null would not be.
            attrs.pop("end", None)
        elif attrs["end"] < attrs["start"]:
            raise serializers.ValidationError({"end": f"ends ({attrs['end']:g}) before it starts ({attrs['start']:g})"})
        return attrs


def _identifier() -> serializers.CharField:
    return serializers.CharField(max_length=MAX_ID_LENGTH)


class DepotSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    id = _identifier()
    location = LocationSerializer()

    class Meta:
        list_serializer_class = FieldNamedListSerializer


class VehicleSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    id = _identifier()
    capacity = serializers.IntegerField(min_value=0, max_value=MAX_QUANTITY)
    start_depot = _identifier()
    end_depot = serializers.CharField(max_length=MAX_ID_LENGTH, required=False, allow_null=True)
    shift = TimeWindowSerializer(required=False, allow_null=True)
    max_route_duration = FiniteFloatField(
        min_value=0, max_value=MAX_MINUTES, required=False, allow_null=True, help_text="minutes, waiting included"
    )

    class Meta:
        list_serializer_class = FieldNamedListSerializer


class JobSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    id = _identifier()
    location = LocationSerializer()
    demand = serializers.IntegerField(min_value=0, max_value=MAX_QUANTITY, default=0)
    service_minutes = _minutes(default=0.0)
    time_windows = TimeWindowSerializer(many=True, max_length=MAX_TIME_WINDOWS_PER_JOB, default=list)
    lateness_cost_per_minute = FiniteFloatField(
        min_value=0,
        max_value=MAX_LATENESS_COST_PER_MINUTE,
        required=False,
        allow_null=True,
        help_text="makes the last window's end soft: each minute late costs this much (1.0 = one km driven)",
    )

    class Meta:
        list_serializer_class = FieldNamedListSerializer

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        windows = sorted(attrs["time_windows"], key=lambda window: window["start"])
        for before, after in itertools.pairwise(windows):
            if after["start"] <= before.get("end", float("inf")):
                raise serializers.ValidationError({"time_windows": "time windows overlap or touch; merge them"})
        cost = attrs.get("lateness_cost_per_minute")
        if cost is not None and (cost <= 0 or not windows):
            raise serializers.ValidationError(
                {"lateness_cost_per_minute": "must be > 0 and needs a time window; leave it out for a hard window"}
            )
        return attrs


@extend_schema_field({"type": "array", "items": {"type": "array", "items": {"type": "number", "minimum": 0}}})
class DurationMatrixField(serializers.Field):
    """Square matrix of travel minutes between all locations, depots first then jobs, in request order."""

    default_error_messages = {
        "not_a_matrix": "must be a list of equally long lists of numbers",
        "too_large": f"has more than {MAX_DEPOTS + MAX_JOBS} rows or columns",
        "not_square": "must be square (one row and one column per depot and job)",
        "bad_values": f"must contain only numbers from 0 to {MAX_MINUTES}",
    }

    def to_internal_value(self, data: Any) -> list[list[float]]:
        if not isinstance(data, list) or not all(isinstance(row, list) for row in data):
            self.fail("not_a_matrix")
        # Checked before numpy sees it, so an oversized body cannot make a huge array.
        if len(data) > MAX_DEPOTS + MAX_JOBS or any(len(row) > MAX_DEPOTS + MAX_JOBS for row in data):
            self.fail("too_large")
        if any(isinstance(value, bool | str) for row in data for value in row):
            self.fail("not_a_matrix")
        try:
            matrix = np.asarray(data, dtype=float)
        except (TypeError, ValueError):
            self.fail("not_a_matrix")
        if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
            self.fail("not_square")
        if not np.all((matrix >= 0) & (matrix <= MAX_MINUTES)):  # also false for NaN and infinities
            self.fail("bad_values")
        return matrix.tolist()

    def to_representation(self, value: list[list[float]]) -> list[list[float]]:
        return value


def _duplicate_errors(items: Sequence[dict[str, Any]], list_name: str) -> dict[str, str]:
    seen: set[str] = set()
    errors = {}
    for index, item in enumerate(items):
        if item["id"] in seen:
            errors[f"{list_name}.{index}.id"] = f"duplicate {list_name[:-1]} id {item['id']!r}"
        seen.add(item["id"])
    return errors


class OptimizeRequestSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    """A routing problem: depots, vehicles and jobs, plus how to solve it (see `routing.constants` for limits)."""

    depots = DepotSerializer(many=True, min_length=1, max_length=MAX_DEPOTS)
    vehicles = VehicleSerializer(many=True, min_length=1, max_length=MAX_VEHICLES)
    jobs = JobSerializer(many=True, min_length=1, max_length=MAX_JOBS)
    objective = serializers.ChoiceField(choices=RouteObjective.choices, default=RouteObjective.VEHICLES_THEN_DISTANCE)
    max_route_duration = FiniteFloatField(
        min_value=0,
        max_value=MAX_MINUTES,
        required=False,
        allow_null=True,
        help_text="minutes; applies to every vehicle without its own",
    )
    time_limit_seconds = FiniteFloatField(
        min_value=MIN_TIME_LIMIT_SECONDS, max_value=MAX_TIME_LIMIT_SECONDS, default=DEFAULT_TIME_LIMIT_SECONDS
    )
    speed_kmh = FiniteFloatField(
        min_value=MIN_SPEED_KMH,
        max_value=MAX_SPEED_KMH,
        default=DEFAULT_SPEED_KMH,
        help_text="average road speed for haversine travel times",
    )
    travel_times = serializers.ChoiceField(
        choices=TravelTimeSource.choices,
        default=TravelTimeSource.AUTO,
        help_text="auto: haversine at speed_kmh scaled by the tenant's champion ETA model's congestion factor for "
        "the departure hour (first shift start), traffic and weather, when it has one; else plain haversine at "
        "speed_kmh. Ignored when duration_matrix is given.",
    )
    traffic_condition = serializers.ChoiceField(
        choices=TRAFFIC_VALUES, required=False, help_text="expected traffic, for ETA-model travel times"
    )
    weather_condition = serializers.ChoiceField(
        choices=WEATHER_VALUES, required=False, help_text="expected weather, for ETA-model travel times"
    )
    duration_matrix = DurationMatrixField(
        required=False, help_text="travel minutes between all locations (depots, then jobs); replaces haversine"
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        errors: dict[str, str] = {}
        tenant = self.context.get("tenant")
        if attrs.get("travel_times") == TravelTimeSource.ETA_MODEL and tenant and eta_champion(tenant=tenant) is None:
            errors["travel_times"] = f"tenant {tenant.slug} has no champion ETA model yet"
        for list_name in ("depots", "vehicles", "jobs"):
            errors.update(_duplicate_errors(attrs[list_name], list_name))
        depot_ids = {depot["id"] for depot in attrs["depots"]}
        for index, vehicle in enumerate(attrs["vehicles"]):
            for key in ("start_depot", "end_depot"):
                if vehicle.get(key) is not None and vehicle[key] not in depot_ids:
                    errors[f"vehicles.{index}.{key}"] = f"unknown depot id {vehicle[key]!r}"
        matrix = attrs.get("duration_matrix")
        size = len(attrs["depots"]) + len(attrs["jobs"])
        if matrix is not None and len(matrix) != size:
            errors["duration_matrix"] = (
                f"is {len(matrix)}x{len(matrix)}, expected {size}x{size} (depots, then jobs, in request order)"
            )
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


class RoutePlanListSerializer(serializers.ModelSerializer):
    """A plan's status and size, without the request or the result."""

    solve_seconds = serializers.FloatField(read_only=True, allow_null=True)

    class Meta:
        model = RoutePlan
        fields = [
            "id",
            "status",
            "is_async",
            "job_count",
            "vehicle_count",
            "time_limit_seconds",
            "created_at",
            "started_at",
            "finished_at",
            "solve_seconds",
            "error",
        ]


class RoutePlanSerializer(RoutePlanListSerializer):
    """A plan with its result: routes with per-stop schedule and load, totals, unassigned jobs with
    reasons, the objective, solver statistics and the travel-time source (`result.travel_source`)."""

    class Meta(RoutePlanListSerializer.Meta):
        fields = [*RoutePlanListSerializer.Meta.fields, "result"]
