"""replay_prediction and predict_batch, run as an operator would."""

from __future__ import annotations

import csv
import gzip
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from predictions.models import BatchPredictionRun, PredictionAudit
from predictions.tests.test_api import BATCH, ETA, order_body

pytestmark = pytest.mark.django_db(transaction=True)


def test_every_audited_prediction_replays_exactly(serving_tenant, capsys) -> None:  # type: ignore[no-untyped-def]
    client = serving_tenant.client
    single = client.post(ETA, json=order_body()).json()
    batch = client.post(BATCH, json={"orders": [order_body(order_id="b", traffic_condition="jam")]}).json()

    for audit_id in (single["audit_id"], batch["predictions"][0]["audit_id"]):
        call_command("replay_prediction", audit_id)
        assert capsys.readouterr().out.startswith("match: ")


def test_a_replay_that_differs_names_the_output(serving_tenant) -> None:  # type: ignore[no-untyped-def]
    body = serving_tenant.client.post(ETA, json=order_body()).json()
    audit = PredictionAudit.objects.get(pk=body["audit_id"])
    # A copy whose recorded features were altered (the table itself refuses edits).
    audit.id = uuid.uuid4()
    audit._state.adding = True
    audit.idempotency_key = None
    audit.features = {**audit.features, "distance_km": 40.0}
    audit.save()

    with pytest.raises(CommandError, match=r"MISMATCH(.|\n)*predicted_eta_minutes"):
        call_command("replay_prediction", str(audit.pk))


def test_replay_refuses_a_tampered_artifact_and_unknown_ids(serving_tenant) -> None:  # type: ignore[no-untyped-def]
    body = serving_tenant.client.post(ETA, json=order_body()).json()
    with pytest.raises(CommandError, match="not a UUID"):
        call_command("replay_prediction", "42")
    with pytest.raises(CommandError, match="no prediction audit"):
        call_command("replay_prediction", "00000000-0000-0000-0000-000000000000")
    artifact = Path(settings.ARTIFACT_ROOT) / serving_tenant.version.artifact_path
    artifact.write_bytes(artifact.read_bytes() + b" ")
    with pytest.raises(CommandError, match="checksum"):
        call_command("replay_prediction", body["audit_id"])


def _orders_file(source: Path, target: Path, rows: int) -> Path:
    """The first ``rows`` orders of a history file with their outcomes blanked, as a tenant would send them."""
    with gzip.open(source, "rt", newline="") as handle:
        reader = csv.DictReader(handle)
        selected = [row for _, row in zip(range(rows), reader, strict=False)]
    with open(target, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(selected[0]))
        writer.writeheader()
        for row in selected:
            writer.writerow({**row, "delivery_minutes": "", "pickup_time": ""})
    return target


def test_predict_batch_scores_a_file_like_the_api_does(serving_tenant, trained_model, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    orders = _orders_file(trained_model.history_path, tmp_path / "orders.csv", rows=60)
    output = tmp_path / "out" / "eta.csv"

    call_command("predict_batch", str(orders), str(output), tenant=serving_tenant.client.tenant.slug, explain=True)

    scored = pd.read_csv(output)
    assert len(scored) == 60 and scored["model_version"].eq(serving_tenant.version.version).all()
    assert (scored["p05"] <= scored["p50"]).all() and (scored["p50"] <= scored["p95"]).all()
    assert scored["top_reasons"].str.count(":").eq(5).all()
    run = BatchPredictionRun.objects.get()
    assert (run.rows, run.model_version) == (60, serving_tenant.version)
    assert "scored 60 orders" in capsys.readouterr().out

    # The same order through the API, at the same history, gives the same ETA (features agree).
    first = pd.read_csv(orders, nrows=1).iloc[0]
    body = order_body(
        order_id=first["order_id"].strip(),
        driver_id=first["courier_id"].strip(),
        pickup_latitude=float(first["store_latitude"]),
        pickup_longitude=float(first["store_longitude"]),
        drop_latitude=float(first["drop_latitude"]),
        drop_longitude=float(first["drop_longitude"]),
        ordered_at=f"{first['order_date']}T{first['order_time']}+05:30",
        picked_at=...,
        traffic_condition=first["traffic"].strip() if isinstance(first["traffic"], str) else None,
        weather_condition=first["weather"].strip() if isinstance(first["weather"], str) else None,
        vehicle_type=first["vehicle"].strip(),
        area=first["area"].strip() if isinstance(first["area"], str) else None,
        driver_age=int(first["courier_age"]),
        driver_rating=None if np.isnan(first["courier_rating"]) else float(first["courier_rating"]),
    )
    api = serving_tenant.client.post(ETA, json=body).json()
    assert api["predicted_eta_minutes"] == pytest.approx(scored.iloc[0]["predicted_eta_minutes"], abs=1e-4)


def test_predict_batch_refuses_a_bad_row_and_writes_nothing(serving_tenant, trained_model, tmp_path) -> None:  # type: ignore[no-untyped-def]
    orders = _orders_file(trained_model.history_path, tmp_path / "orders.csv", rows=5)
    lines = orders.read_text().splitlines()
    lines[3] = lines[3].replace("motorcycle", "rocket").replace("scooter", "rocket")
    orders.write_text("\n".join(lines) + "\n")
    output = tmp_path / "eta.csv"

    with pytest.raises(CommandError, match="line 4: vehicle: unknown value"):
        call_command("predict_batch", str(orders), str(output), tenant=serving_tenant.client.tenant.slug)
    assert not output.exists()
    assert not BatchPredictionRun.objects.exists()
    with pytest.raises(CommandError, match="--tenant: no tenant"):
        call_command("predict_batch", str(orders), str(output), tenant="nobody")
