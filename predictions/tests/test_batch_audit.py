"""predict_batch audits every scored order: rows copied in bulk, replayable, all or nothing with the run."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pandas as pd
import pyarrow as pa
import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.test import Client
from django.urls import reverse

from core.features import FEATURES_BY_NAME
from predictions import batch_audit, services
from predictions.models import BatchPredictionRun, PredictionAudit
from predictions.orders import OrderInput
from predictions.tests.test_api import ETA, order_body
from predictions.tests.test_commands import _orders_file
from registry.tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

OUTCOME = "/api/v1/deliveries/{}/outcome"


def _renamed(path, prefix: str):  # type: ignore[no-untyped-def]
    """The orders with new ids, so they are not the tenant's stored deliveries (and can take an outcome)."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame["order_id"] = prefix + frame["order_id"].str.strip()
    frame.to_csv(path, index=False)
    return path


def _replays(capsys, audit_id: object) -> str:  # type: ignore[no-untyped-def]
    capsys.readouterr()
    call_command("replay_prediction", str(audit_id))
    return capsys.readouterr().out


def test_every_scored_order_has_its_audit_row_and_replays(serving_tenant, trained_model, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    tenant = serving_tenant.client.tenant
    orders = _renamed(_orders_file(trained_model.history_path, tmp_path / "orders.csv", rows=45), "f-")
    output = tmp_path / "eta.csv"

    call_command("predict_batch", str(orders), str(output), tenant=tenant.slug)

    run = BatchPredictionRun.objects.get()
    scored = pd.read_csv(output, dtype={"order_id": str})
    audits = {audit.order_id: audit for audit in PredictionAudit.objects.filter(request_id=run.request_id)}
    assert run.request_id.startswith("batch-") and len(audits) == run.rows == len(scored) == 45
    assert PredictionAudit.objects.count() == 45
    for position, row in scored.iterrows():
        audit = audits[row["order_id"]]
        assert (audit.tenant_id, audit.source, audit.model_version) == (tenant.pk, "batch", serving_tenant.version)
        assert audit.request == {"row": position} and audit.request_sha256 == run.input_sha256
        # The output file and the audit hold the same floats, bit for bit.
        assert audit.predicted_eta_minutes == audit.response["predicted_eta_minutes"] == row["predicted_eta_minutes"]
        assert audit.quantiles == audit.response["quantiles"] == {name: row[name] for name in audit.quantiles}
        assert audit.response["confidence_score"] == row["confidence_score"] and audit.is_ood == row["is_ood"]
        assert audit.response["explanation"] is None and audit.response["is_explained"] is False
        # Freshness per entity: each feature's is its entity's.
        assert {FEATURES_BY_NAME[name].entity.value for name in audit.features} == set(audit.feature_freshness)
        # The recorded order is what an outcome report reads back.
        assert OrderInput.from_json(audit.order).order_id == row["order_id"]
    for audit in list(audits.values())[::9]:
        assert _replays(capsys, audit.pk).startswith("match: ")

    # Rows that came in by COPY are as append-only as any: the database itself refuses to change them.
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE predictions_predictionaudit SET predicted_eta_minutes = 0 WHERE request_id = %s", [run.request_id]
        )


def test_explained_batch_rows_record_and_replay_their_explanation(  # type: ignore[no-untyped-def]
    serving_tenant, trained_model, tmp_path, capsys
) -> None:
    orders = _orders_file(trained_model.history_path, tmp_path / "orders.csv", rows=12)

    call_command("predict_batch", str(orders), str(tmp_path / "eta.csv"), tenant=serving_tenant.client.tenant.slug)
    call_command(
        "predict_batch", str(orders), str(tmp_path / "why.csv"), tenant=serving_tenant.client.tenant.slug, explain=True
    )

    plain, explained = BatchPredictionRun.objects.order_by("started_at")
    audits = PredictionAudit.objects.filter(request_id=explained.request_id)
    assert audits.count() == 12 and PredictionAudit.objects.filter(request_id=plain.request_id).count() == 12
    for audit in audits:
        assert audit.response["is_explained"] is True
        assert len(audit.response["explanation"]["top"]) == 5
        assert _replays(capsys, audit.pk).startswith("match: ")

    # The admin says why a row of the plain run has no explanation picture.
    staff = Client()
    staff.force_login(UserFactory(is_staff=True, is_superuser=True))
    unexplained = PredictionAudit.objects.filter(request_id=plain.request_id).first()
    page = staff.get(reverse("admin:predictions_predictionaudit_change", args=[unexplained.pk])).content.decode()
    assert "scored by predict_batch without --explain" in page


def test_a_refused_file_writes_no_run_and_no_audit(serving_tenant, trained_model, tmp_path) -> None:  # type: ignore[no-untyped-def]
    orders = _orders_file(trained_model.history_path, tmp_path / "orders.csv", rows=8)
    lines = orders.read_text().splitlines()
    lines[6] = lines[6].replace("motorcycle", "rocket").replace("scooter", "rocket")
    orders.write_text("\n".join(lines) + "\n")

    with pytest.raises(CommandError, match="line 7: vehicle"):
        call_command(
            "predict_batch", str(orders), str(tmp_path / "out" / "eta.csv"), tenant=serving_tenant.client.tenant.slug
        )
    assert not PredictionAudit.objects.exists() and not BatchPredictionRun.objects.exists()
    assert not (tmp_path / "out").exists()

    orders.write_text(lines[0] + "\n")
    with pytest.raises(CommandError, match="no orders to score"):
        call_command(
            "predict_batch", str(orders), str(tmp_path / "out" / "eta.csv"), tenant=serving_tenant.client.tenant.slug
        )
    assert not BatchPredictionRun.objects.exists() and not (tmp_path / "out").exists()


def test_a_copy_failing_midway_leaves_neither_run_nor_audits_nor_file(  # type: ignore[no-untyped-def]
    serving_tenant, trained_model, tmp_path, monkeypatch
) -> None:
    client = serving_tenant.client
    assert client.post(ETA, json=order_body(), headers={"Idempotency-Key": "live-key"}).status_code == 200
    orders = _orders_file(trained_model.history_path, tmp_path / "orders.csv", rows=50)
    monkeypatch.setattr(services, "BATCH_SCORE_CHUNK_ROWS", 10)
    written = []
    build = services.batch_audit_table

    def planted(**kwargs: object) -> pa.Table:
        # The third chunk carries a row under a live idempotency key: the key trigger must refuse it
        # inside the COPY, after two chunks were already copied.
        table = build(**kwargs)  # type: ignore[arg-type]
        written.append(table.num_rows)
        if len(written) == 3:
            keys = pa.array(["live-key"] + [None] * (table.num_rows - 1), type=pa.string())
            table = table.set_column(table.column_names.index("idempotency_key"), "idempotency_key", keys)
        return table

    monkeypatch.setattr(services, "batch_audit_table", planted)

    with pytest.raises(IntegrityError):
        services.predictions_score_file(
            tenant=client.tenant, input_path=orders, output_path=tmp_path / "out" / "eta.csv", created_by="test"
        )
    assert written[:3] == [10, 10, 10]  # the third chunk was built (the refusal may surface later)
    assert PredictionAudit.objects.count() == 1 and PredictionAudit.objects.get().source == "api"
    assert not BatchPredictionRun.objects.exists()
    assert list((tmp_path / "out").iterdir()) == []  # neither the output nor its partial file


def test_batch_audits_belong_to_their_tenant_and_take_its_outcomes(  # type: ignore[no-untyped-def]
    serving_tenant, trained_model, make_tenant_client, tmp_path
) -> None:
    owner = serving_tenant.client
    other = make_tenant_client()
    orders = _renamed(_orders_file(trained_model.history_path, tmp_path / "orders.csv", rows=3), "t-")
    call_command("predict_batch", str(orders), str(tmp_path / "eta.csv"), tenant=owner.tenant.slug)
    audit = PredictionAudit.objects.order_by("order_id").first()
    assert audit is not None and audit.tenant_id == owner.tenant.pk
    assert not PredictionAudit.objects.filter(tenant=other.tenant).exists()
    picked_at = OrderInput.from_json(audit.order).ordered_at.isoformat()
    report = {"delivery_minutes": 31.5, "picked_at": picked_at}

    refused = other.post(OUTCOME.format(audit.order_id), json=report)
    joined = owner.post(OUTCOME.format(audit.order_id), json=report)

    assert refused.status_code == 404 and refused.json()["code"] == "unknown_order"
    assert joined.status_code in (200, 201), joined.text
    assert audit.outcome.error_minutes == audit.predicted_eta_minutes - 31.5


def test_batch_rows_land_in_their_month_partition(serving_tenant, trained_model, tmp_path) -> None:  # type: ignore[no-untyped-def]
    if connection.vendor != "postgresql":
        pytest.skip("partitions are PostgreSQL's")
    orders = _orders_file(trained_model.history_path, tmp_path / "orders.csv", rows=5)
    call_command("predict_batch", str(orders), str(tmp_path / "eta.csv"), tenant=serving_tenant.client.tenant.slug)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tableoid::regclass::text, count(*) FROM predictions_predictionaudit "
            "WHERE source = 'batch' GROUP BY 1"
        )
        placed = dict(cursor.fetchall())
    assert sum(placed.values()) == 5 and all(not name.endswith("_default") for name in placed)


def test_without_copy_the_same_rows_are_written_by_bulk_create(  # type: ignore[no-untyped-def]
    serving_tenant, trained_model, tmp_path, monkeypatch, capsys
) -> None:
    # SQLite's path, taken here on PostgreSQL: the rows it writes must be as complete and replayable.
    @contextmanager
    def bulk_create_writer() -> Iterator[Callable[[pa.Table], None]]:
        yield batch_audit._audits_bulk_create

    monkeypatch.setattr(services, "batch_audits_writer", bulk_create_writer)
    orders = _orders_file(trained_model.history_path, tmp_path / "orders.csv", rows=6)

    call_command("predict_batch", str(orders), str(tmp_path / "eta.csv"), tenant=serving_tenant.client.tenant.slug)

    run = BatchPredictionRun.objects.get()
    audits = PredictionAudit.objects.filter(request_id=run.request_id, source="batch")
    assert sorted(audit.request["row"] for audit in audits) == list(range(6))
    for audit in audits:
        assert _replays(capsys, audit.pk).startswith("match: ")
