"""Importing delivery history into PostgreSQL: accounting, idempotency, all-or-nothing, quality gate."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.delivery.schema import SchemaError
from core.delivery.synthetic import SyntheticConfig, write_synthetic_file
from core.tests.delivery.rows import raw_row, write_rows
from deliveries.models import DataQualityReport, Delivery, ImportBatch, RejectedRow
from deliveries.selectors import deliveries_frame, tenant_quality_gate
from deliveries.services import deliveries_import
from tenants.tests.factories import TenantFactory

pytestmark = pytest.mark.django_db


def stored_counts(tenant) -> tuple[int, int, int, int]:  # type: ignore[no-untyped-def]
    return (
        Delivery.objects.filter(tenant=tenant).count(),
        ImportBatch.objects.filter(tenant=tenant).count(),
        RejectedRow.objects.filter(batch__tenant=tenant).count(),
        DataQualityReport.objects.filter(batch__tenant=tenant).count(),
    )


def test_real_file_imports_with_every_row_accounted_for_and_twice_adds_nothing(bundled_deliveries: Path) -> None:
    tenant = TenantFactory()

    first = deliveries_import(tenant=tenant, path=bundled_deliveries)
    second = deliveries_import(tenant=tenant, path=bundled_deliveries)

    batch = first.batch
    assert batch.rows_read == 34682
    assert (batch.rows_imported, batch.rows_rejected, batch.rows_duplicate) == (34605, 77, 0)
    assert batch.rows_imported + batch.rows_rejected + batch.rows_duplicate == batch.rows_read
    assert batch.file_sha256 == "e659525fc8bd5c4edeaf310b3166534585f7b5630ebc16a2359307b4bd4d8c59"
    assert batch.normalisations == {
        "coordinate_sign_typo": 156,
        "pickup_after_midnight": 654,
        "zero_store_coordinates": 2928,
    }
    assert first.report.score >= 95 and first.report.passes_gate
    assert batch.rejected_rows.count() == 77
    assert Delivery.objects.filter(tenant=tenant, has_usable_coordinates=False).count() == 2928

    assert (second.batch.rows_imported, second.batch.rows_duplicate) == (0, 34605)
    assert second.added_nothing and second.already_imported_batch == batch
    assert Delivery.objects.filter(tenant=tenant).count() == 34605
    assert tenant_quality_gate(tenant=tenant).passes


def test_rejected_rows_are_stored_with_line_column_and_reason(tmp_path: Path) -> None:
    tenant = TenantFactory()
    path = write_rows(
        tmp_path / "mixed.csv",
        [
            raw_row(order_id="0x1"),
            raw_row(order_id="0x2", courier_rating="6"),
            raw_row(order_id="0x3", vehicle="rocket", order_time="NaN"),
            raw_row(order_id="0x1"),  # repeats line 2
        ],
    )

    outcome = deliveries_import(tenant=tenant, path=path)

    assert (outcome.batch.rows_imported, outcome.batch.rows_rejected, outcome.batch.rows_duplicate) == (1, 2, 1)
    rejected = {row.line_number: row.errors for row in outcome.batch.rejected_rows.all()}
    assert rejected[3] == [{"column": "courier_rating", "reason": "6 outside 1.0..5.0"}]
    assert {e["column"] for e in rejected[4]} == {"vehicle", "order_time"}
    assert outcome.report.duplicate_share == pytest.approx(1 / 4)


@pytest.mark.parametrize("column", ["courier_rating", "courier_id", "order_id"])
def test_a_row_holding_a_nul_is_rejected_and_reported_not_a_crash(tmp_path: Path, column: str) -> None:
    # PostgreSQL text and JSON cannot hold NUL (Hypothesis found it): the row is rejected naming the column, and
    # the report keeps it with U+FFFD in the NUL's place.
    tenant = TenantFactory()
    damaged = raw_row(order_id="0x2")
    damaged[column] = damaged[column] + "\x00"
    path = write_rows(tmp_path / "nul.csv", [raw_row(order_id="0x1"), damaged])

    outcome = deliveries_import(tenant=tenant, path=path)

    assert (outcome.batch.rows_imported, outcome.batch.rows_rejected) == (1, 1)
    (rejected,) = outcome.batch.rejected_rows.all()
    assert rejected.line_number == 3
    assert {"column": column, "reason": "contains a NUL character"} in rejected.errors
    assert rejected.raw[column] == damaged[column].replace("\x00", "\ufffd")


def test_rows_dated_outside_the_plausible_window_are_rejected_naming_the_column(tmp_path: Path) -> None:
    """Rows dated 2262 or 1600 used to pass (quality score and all) and then crash training for good."""
    tenant = TenantFactory()
    path = write_rows(
        tmp_path / "dates.csv",
        [
            raw_row(order_id="0x1"),
            raw_row(order_id="0x2", order_date="2262-04-12"),
            raw_row(order_id="0x3", order_date="1600-01-01"),
            raw_row(order_id="0x4", order_date="9999-12-31", order_time="23:50:00", pickup_time="00:05:00"),
            raw_row(order_id="0x5", order_time="01:00:00", pickup_time="09:00:00"),
        ],
    )

    outcome = deliveries_import(tenant=tenant, path=path)

    assert (outcome.batch.rows_imported, outcome.batch.rows_rejected) == (1, 4)
    rejected = {row.line_number: row.errors for row in outcome.batch.rejected_rows.all()}
    assert [[error["column"] for error in rejected[line]] for line in (3, 4, 5)] == [["order_date"]] * 3
    assert "is implausible" in rejected[3][0]["reason"]
    assert rejected[6] == [
        {
            "column": "pickup_time",
            "reason": "pickup 8:00:00 after the order: a pickup must be 0:00:00..6:00:00 after the order",
        }
    ]
    assert list(Delivery.objects.filter(tenant=tenant).values_list("external_order_id", flat=True)) == ["0x1"]


def test_rows_already_stored_count_as_duplicates_and_new_ones_go_in(tmp_path: Path) -> None:
    tenant = TenantFactory()
    deliveries_import(tenant=tenant, path=write_rows(tmp_path / "a.csv", [raw_row(order_id="0x1")]))

    outcome = deliveries_import(
        tenant=tenant, path=write_rows(tmp_path / "b.csv", [raw_row(order_id="0x1"), raw_row(order_id="0x2")])
    )

    assert (outcome.batch.rows_imported, outcome.batch.rows_duplicate) == (1, 1)
    assert sorted(Delivery.objects.filter(tenant=tenant).values_list("external_order_id", flat=True)) == ["0x1", "0x2"]


def test_malformed_file_writes_nothing_even_when_the_damage_is_after_good_rows(tmp_path: Path) -> None:
    tenant = TenantFactory()
    deliveries_import(tenant=tenant, path=write_rows(tmp_path / "good.csv", [raw_row(order_id="0x1")]))
    before = stored_counts(tenant)
    path = write_rows(tmp_path / "broken.csv", [raw_row(order_id=f"0x{i + 10}") for i in range(100)])
    with open(path, "a") as handle:
        handle.write("0xdead,too,few,fields\n")

    with pytest.raises(SchemaError, match="line 102 has 4 fields"):
        deliveries_import(tenant=tenant, path=path)

    assert stored_counts(tenant) == before


def test_command_refuses_a_wrong_header_with_non_zero_exit_and_writes_nothing(tmp_path: Path) -> None:
    tenant = TenantFactory()
    path = tmp_path / "wrong.csv"
    path.write_text("id,minutes\n1,20\n")

    with pytest.raises(CommandError, match=r"wrong header.*nothing was imported"):
        call_command("import_deliveries", str(path), tenant=tenant.slug)

    assert stored_counts(tenant) == (0, 0, 0, 0)


def test_command_names_an_unknown_tenant(tmp_path: Path) -> None:
    path = write_rows(tmp_path / "a.csv", [raw_row()])
    with pytest.raises(CommandError, match="--tenant: no tenant with slug 'ghost'"):
        call_command("import_deliveries", str(path), tenant="ghost")


def test_same_order_id_is_independent_per_tenant(tmp_path: Path) -> None:
    path = write_rows(tmp_path / "a.csv", [raw_row(order_id="0x1")])
    first, second = TenantFactory(), TenantFactory()

    deliveries_import(tenant=first, path=path)
    outcome = deliveries_import(tenant=second, path=path)

    assert outcome.batch.rows_imported == 1
    assert Delivery.objects.filter(external_order_id="0x1").count() == 2


def test_synthetic_history_goes_through_the_same_import_and_passes_the_gate(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    tenant = TenantFactory()
    output = tmp_path / "synthetic.csv.gz"

    call_command("generate_deliveries", rows=3000, seed=7, output=str(output), tenant=tenant.slug)

    batch = ImportBatch.objects.get(tenant=tenant)
    assert batch.source == "synthetic"
    assert batch.rows_read == 3000
    assert batch.rows_imported + batch.rows_rejected + batch.rows_duplicate == 3000
    assert 0 < batch.rows_rejected < 60  # the generator writes the real file's kinds of dirty values
    assert set(batch.normalisations) == {"coordinate_sign_typo", "pickup_after_midnight", "zero_store_coordinates"}
    assert batch.quality_report.passes_gate
    frame = deliveries_frame(tenant=tenant)
    assert frame["courier_id"].str.match(r"^[A-Z]+RES\d{2}DEL\d{2}$").all()
    # Delivery time must depend on distance and traffic, or there is nothing to learn.
    distance = (frame["drop_latitude"] - frame["pickup_latitude"]).abs()
    assert frame["delivery_minutes"].corr(distance) > 0.3
    by_traffic = frame.groupby("traffic")["delivery_minutes"].mean()
    assert by_traffic["jam"] > by_traffic["low"] + 5
    assert "Data quality score" in capsys.readouterr().out


def test_same_seed_generates_the_same_file(tmp_path: Path) -> None:
    call_command("generate_deliveries", rows=200, seed=3, output=str(tmp_path / "a.csv.gz"))
    call_command("generate_deliveries", rows=200, seed=3, output=str(tmp_path / "b.csv.gz"))
    with gzip.open(tmp_path / "a.csv.gz") as a, gzip.open(tmp_path / "b.csv.gz") as b:
        assert a.read() == b.read()


def test_gate_fails_when_a_contributing_batch_scores_below_the_threshold(tmp_path: Path, settings) -> None:  # type: ignore[no-untyped-def]
    settings.DATA_QUALITY_GATE = 99.9
    tenant = TenantFactory()
    rows = [raw_row(order_id=f"0x{i}") for i in range(20)] + [raw_row(order_id="bad", courier_rating="6")]
    outcome = deliveries_import(tenant=tenant, path=write_rows(tmp_path / "a.csv", rows))

    verdict = tenant_quality_gate(tenant=tenant)

    assert not outcome.report.passes_gate
    assert not verdict.passes
    assert f"batch #{outcome.batch.pk} scored" in verdict.reason
    assert not tenant_quality_gate(tenant=TenantFactory()).passes


def imported_state(tenant) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """Everything an import stores for a tenant, without ids and times."""
    batches = ImportBatch.objects.filter(tenant=tenant).order_by("pk")
    return {
        "batches": list(
            batches.values_list(
                "rows_read", "rows_imported", "rows_rejected", "rows_duplicate", "normalisations", "file_sha256"
            )
        ),
        "reports": list(
            DataQualityReport.objects.filter(batch__tenant=tenant)
            .order_by("batch")
            .values_list("score", "validity", "completeness", "outliers", "duplicate_share", "distribution_shift")
        ),
        "rejected": list(
            RejectedRow.objects.filter(batch__tenant=tenant).order_by("batch", "line_number").values_list(
                "line_number", "errors", "raw"
            )
        ),
        # In id order: the rows go in in file order, whatever the chunk size.
        "deliveries": list(
            Delivery.objects.filter(tenant=tenant)
            .order_by("pk")
            .values_list(
                "external_order_id", "courier_rating", "pickup_latitude", "has_usable_coordinates", "ordered_at",
                "picked_at", "weather", "area", "delivery_minutes",
            )
        ),
    }  # fmt: skip


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chunk_rows=st.integers(min_value=1, max_value=40), seed=st.integers(min_value=0, max_value=3))
def test_result_does_not_depend_on_the_chunk_size(tmp_path: Path, chunk_rows: int, seed: int) -> None:
    """A file read in many small chunks stores exactly what one chunk stores, duplicates across chunks included."""
    path = write_synthetic_file(tmp_path / f"h{seed}.csv.gz", SyntheticConfig(rows=150, seed=seed, days=3))
    repeats = write_rows(
        tmp_path / f"r{seed}.csv",
        [raw_row(order_id=f"0x{i % 7}", courier_rating="6" if i % 5 == 0 else "4.5") for i in range(30)],
    )
    whole, chunked = TenantFactory(), TenantFactory()

    for tenant, rows in ((whole, 10_000), (chunked, chunk_rows)):
        for file in (path, repeats, path):
            deliveries_import(tenant=tenant, path=file, chunk_rows=rows)

    assert imported_state(chunked) == imported_state(whole)
    assert imported_state(whole)["batches"][2][1] == 0  # the third import only repeats the first


def test_damage_in_the_last_chunk_writes_nothing_from_the_chunks_before(tmp_path: Path) -> None:
    tenant = TenantFactory()
    path = write_rows(tmp_path / "broken.csv", [raw_row(order_id=f"0x{i}") for i in range(50)])
    with open(path, "a") as handle:
        handle.write("0xdead,too,few,fields\n")
    read: list[int] = []

    with pytest.raises(SchemaError, match="line 52 has 4 fields"):
        deliveries_import(tenant=tenant, path=path, chunk_rows=8, progress=read.append)

    assert read == [8] * 6  # six chunks were staged before the damage was reached
    assert stored_counts(tenant) == (0, 0, 0, 0)


def test_rejections_in_every_chunk_are_stored_with_their_lines(tmp_path: Path) -> None:
    rows = [raw_row(order_id=f"0x{i}", vehicle="rocket" if i % 4 == 3 else "van") for i in range(20)]
    outcome = deliveries_import(tenant=TenantFactory(), path=write_rows(tmp_path / "a.csv", rows), chunk_rows=3)

    assert list(outcome.batch.rejected_rows.values_list("line_number", flat=True)) == [5, 9, 13, 17, 21]
    assert (outcome.batch.rows_imported, outcome.batch.rows_rejected) == (15, 5)
