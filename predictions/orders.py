"""An order to predict, as the prediction API and replay see it: normalised like the importer does.

The API accepts the seed's field names (``driver_id``, ``traffic_condition``...); `OrderInput` is the same
order in the product's vocabulary (the field names of `core.delivery.schema.CleanDelivery`), which is what the
feature code reads. Coordinates get the importer's repairs, so an order sent to the API and the same order
imported from a file produce the same feature vector.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from zoneinfo import ZoneInfo

from core.delivery.schema import repair_coordinates
from predictions.constants import ORDER_ID_MAX_LENGTH


def order_id_normalise(raw: str) -> str:
    """An order id as stored and looked up: surrounding whitespace dropped, then 1..64 printable characters.

    A ``/`` is refused: the outcome URL (``/deliveries/<order_id>/outcome``) could never address it. The
    prediction API and the outcome URL both go through this, so every id a prediction accepts can receive
    its outcome. Raises ValueError saying what is wrong.
    """
    value = raw.strip()
    if not value or len(value) > ORDER_ID_MAX_LENGTH:
        raise ValueError(f"must be 1..{ORDER_ID_MAX_LENGTH} characters after trimming spaces")
    if "/" in value or not value.isprintable():
        raise ValueError("must not contain '/' or control characters (the outcome URL must be able to address it)")
    return value


@dataclass(frozen=True)
class OrderInput:
    """One order at order time. Coordinates are None when the caller sent only ``distance_km``."""

    order_id: str
    courier_id: str
    ordered_at: dt.datetime
    picked_at: dt.datetime | None
    pickup_latitude: float | None
    pickup_longitude: float | None
    drop_latitude: float | None
    drop_longitude: float | None
    distance_km: float | None
    has_usable_coordinates: bool
    weather: str | None
    traffic: str | None
    vehicle: str
    area: str | None
    courier_age: float | None
    courier_rating: float | None

    def feature_input(self) -> dict[str, object]:
        """The mapping `build_order_features` and the feature store read."""
        return asdict(self)

    def as_json(self) -> dict[str, object]:
        """JSON-ready, for the audit row; `from_json` reverses it exactly."""
        data = asdict(self)
        data["ordered_at"] = self.ordered_at.isoformat()
        data["picked_at"] = self.picked_at.isoformat() if self.picked_at else None
        return data

    @classmethod
    def from_json(cls, data: dict[str, object]) -> OrderInput:
        values = dict(data)
        values["ordered_at"] = dt.datetime.fromisoformat(str(values["ordered_at"]))
        picked = values.get("picked_at")
        values["picked_at"] = dt.datetime.fromisoformat(str(picked)) if picked else None
        return cls(**values)  # type: ignore[arg-type]


def order_from_request(fields: dict[str, object], *, time_zone: ZoneInfo, now: dt.datetime) -> OrderInput:
    """Build an `OrderInput` from validated API fields (the seed's names).

    ``ordered_at`` wins over the seed's ``time_of_day``; a time of day alone is taken as today in the
    tenant's time zone. A ``picked_at`` earlier than the order is refused by the serializer, not here.
    """
    ordered_at = fields.get("ordered_at")
    if ordered_at is None:
        clock = fields["time_of_day"]
        assert isinstance(clock, dt.time)
        ordered_at = dt.datetime.combine(now.astimezone(time_zone).date(), clock, tzinfo=time_zone)
    assert isinstance(ordered_at, dt.datetime)
    if fields.get("pickup_latitude") is None:
        coordinates: dict[str, object] = dict.fromkeys(
            ("pickup_latitude", "pickup_longitude", "drop_latitude", "drop_longitude")
        )
        coordinates["has_usable_coordinates"] = False
    else:
        repaired = repair_coordinates(
            float(fields["pickup_latitude"]),  # type: ignore[arg-type]
            float(fields["pickup_longitude"]),  # type: ignore[arg-type]
            float(fields["drop_latitude"]),  # type: ignore[arg-type]
            float(fields["drop_longitude"]),  # type: ignore[arg-type]
        )
        coordinates = {
            "pickup_latitude": repaired.pickup_latitude,
            "pickup_longitude": repaired.pickup_longitude,
            "drop_latitude": repaired.drop_latitude,
            "drop_longitude": repaired.drop_longitude,
            "has_usable_coordinates": repaired.has_usable_coordinates,
        }
    age = fields.get("driver_age")
    rating = fields.get("driver_rating")
    return OrderInput(
        order_id=str(fields["order_id"]),
        courier_id=str(fields["driver_id"]),
        ordered_at=ordered_at,
        picked_at=fields.get("picked_at"),  # type: ignore[arg-type]
        distance_km=fields.get("distance_km") if coordinates["pickup_latitude"] is None else None,  # type: ignore[arg-type]
        weather=fields.get("weather_condition"),  # type: ignore[arg-type]
        traffic=fields.get("traffic_condition"),  # type: ignore[arg-type]
        vehicle=str(fields["vehicle_type"]),
        area=fields.get("area"),  # type: ignore[arg-type]
        courier_age=float(age) if age is not None else None,  # type: ignore[arg-type]
        courier_rating=float(rating) if rating is not None else None,  # type: ignore[arg-type]
        **coordinates,  # type: ignore[arg-type]
    )
