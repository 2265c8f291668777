"""Admin pages of drift and accuracy reports: read-only lists with filters, details with tables and plots."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from django.urls import reverse

from monitoring import admin as monitoring_admin
from monitoring.charts import accuracy_history_figure
from monitoring.live.accuracy import realized_accuracy_check
from monitoring.live.drift import drift_check_run
from monitoring.tests.factories import AccuracyReportFactory
from monitoring.tests.live.conftest import audits_create, outcomes_create, recent_vectors
from registry.tests.factories import ModelVersionFactory

pytestmark = pytest.mark.django_db

END = dt.datetime(2026, 3, 2, 19, 0, tzinfo=dt.UTC)


def test_drift_reports_are_listed_filtered_and_shown_with_plots_of_drifted_features(admin_client, monitored) -> None:  # type: ignore[no-untyped-def]
    vectors = recent_vectors(monitored, 300, seed=1)
    vectors["traffic"] = "jam"
    audits_create(monitored, vectors, end=END)
    report = drift_check_run(tenant=monitored.tenant, version=monitored.version, window_end=END)
    ModelVersionFactory()  # a second tenant and version, so that their filters have a choice to offer

    listing = admin_client.get(reverse("admin:monitoring_driftreport_changelist"))
    filtered = admin_client.get(reverse("admin:monitoring_driftreport_changelist"), {"severity": "none"})
    detail = admin_client.get(reverse("admin:monitoring_driftreport_change", args=[report.pk]))

    assert listing.status_code == 200 and filtered.status_code == 200 and detail.status_code == 200
    page = listing.content.decode()
    for title in ("By severity", "By tenant", "By model version"):
        assert title in page
    assert "traffic" in page and listing.context["cl"].result_count == 1
    assert filtered.context["cl"].result_count == 0  # the only report is critical
    detail_page = detail.content.decode()
    assert "chi_square" in detail_page or "fisher" in detail_page
    assert detail_page.count("data:image/png;base64,") >= 1 and "traffic (" in detail_page
    assert 'name="_save"' not in detail_page
    # The adjusted and raw shift side by side, and the ETA impact, in the list and on the detail page.
    assert "drifted (raw)" in page.lower() and "eta impact (min)" in page.lower()
    assert f"{report.impact_minutes:.3g}" in page
    assert "effect (raw)" in detail_page and "time of day, weekend" in detail_page
    assert admin_client.get(reverse("admin:monitoring_driftreport_add")).status_code == 403


def test_accuracy_reports_are_read_only_with_their_segments(admin_client, monitored) -> None:  # type: ignore[no-untyped-def]
    audits = audits_create(monitored, recent_vectors(monitored, 120, seed=2), end=END - dt.timedelta(minutes=40))
    # Errors that are not round numbers, so that an unrounded MAE would show its many digits.
    errors = 2.0 + np.random.default_rng(2).uniform(-1, 1, 120)
    outcomes_create(monitored, audits, errors, reported_at=END - dt.timedelta(minutes=5))
    report = realized_accuracy_check(tenant=monitored.tenant, version=monitored.version, window_end=END)

    listing = admin_client.get(reverse("admin:monitoring_accuracyreport_changelist"))
    detail = admin_client.get(reverse("admin:monitoring_accuracyreport_change", args=[report.pk]))

    assert listing.status_code == 200 and detail.status_code == 200
    assert "By is degraded" in listing.content.decode()
    assert "metropolitan" in detail.content.decode() and "By is degraded" in listing.content.decode()
    detail_page, raw = _outside_and_inside_raw(detail.content.decode())
    assert "mae_p_value" in raw and "mae_p_value" not in detail_page  # each window's test: a table, JSON kept raw
    # Rounded with their units, never the stored float (e.g. 2.8697684540483537).
    assert f"{report.mae:.2f} min" in detail_page and repr(report.mae) not in detail_page
    assert f"{report.mae:.2f} min" in listing.content.decode() and repr(report.mae) not in listing.content.decode()
    assert f"{report.within_5_share:.1%}" in detail_page
    # The CUSUM table: each stream's start as a reader's time, never the stored ISO text.
    starts = [
        stream["since"]
        for stream in [report.change_detection["overall"], *report.change_detection["segments"]]
        if stream["since"]
    ]
    assert starts  # errors 2 min off the validation bias start a run on every stream
    for since in starts:
        assert since not in detail_page and f"{dt.datetime.fromisoformat(since):%Y-%m-%d %H:%M:%S}" in detail_page
    # The realized impact: minutes over the hour-matched baseline (adjusted) and over the validation MAE (raw).
    excess = f"{report.mae - report.baseline_mae:+.2f} / {report.mae - report.validation_mae:+.2f}"
    assert "mae excess (min): adjusted / raw" in listing.content.decode().lower() and excess in listing.content.decode()
    assert admin_client.post(reverse("admin:monitoring_accuracyreport_delete", args=[report.pk])).status_code == 403


def test_a_degraded_report_is_flagged_as_a_warning_not_a_green_tick(admin_client, monitored) -> None:  # type: ignore[no-untyped-def]
    audits = audits_create(monitored, recent_vectors(monitored, 120, seed=3), end=END - dt.timedelta(minutes=40))
    outcomes_create(monitored, audits, np.full(120, 40.0), reported_at=END - dt.timedelta(minutes=5))
    report = realized_accuracy_check(tenant=monitored.tenant, version=monitored.version, window_end=END)
    assert report.is_degraded

    page = admin_client.get(reverse("admin:monitoring_accuracyreport_changelist")).content.decode()

    assert "il-warning" in page and "icon-yes.svg" not in page


def test_an_accuracy_report_plots_its_versions_last_week_of_mae_and_cusum(admin_client, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    version = ModelVersionFactory()
    days = [8, 6, 3, 1, 0]  # days before the shown report: the first is outside the plotted week
    reports = [
        AccuracyReportFactory(
            model_version=version,
            window_end=END - dt.timedelta(days=day),
            mae=3.0 + index,
            baseline_mae=2.5,
            cusum_ratio=0.2 * index,
            change_detection={},  # its table is not what this test looks at
        )
        for index, day in enumerate(days)
    ]
    AccuracyReportFactory(model_version=ModelVersionFactory(), window_end=END, mae=9.0)  # another version's
    plotted: list[list[object]] = []
    monkeypatch.setattr(
        monitoring_admin,
        "accuracy_history_figure",
        lambda shown: plotted.append(shown) or accuracy_history_figure(shown),
    )

    page = admin_client.get(reverse("admin:monitoring_accuracyreport_change", args=[reports[-1].pk])).content.decode()

    section = page.split("field-history", 1)[1].split("form-row", 1)[0]
    assert '<img class="il-chart" src="data:image/png;base64,' in section
    assert [report.pk for report in plotted[0]] == [report.pk for report in reports[1:]]
    figure = accuracy_history_figure(plotted[0])
    mae_axis, cusum_axis = figure.axes
    realized, limit = mae_axis.get_lines()
    assert list(realized.get_ydata()) == [report.mae for report in reports[1:]]
    assert list(limit.get_ydata()) == pytest.approx([2.5 * (1 + report.tolerance) for report in reports[1:]])
    ratios, threshold = cusum_axis.get_lines()
    assert list(ratios.get_ydata()) == pytest.approx([report.cusum_ratio for report in reports[1:]])
    assert list(threshold.get_ydata()) == [1.0, 1.0]


def _outside_and_inside_raw(html: str) -> tuple[str, str]:
    """The page without its collapsed raw JSON section, and that section."""
    before, rest = html.split('<details class="il-raw">', 1)
    inside, after = rest.split("</details>", 1)
    return before + after, inside
