"""`backfill_predictions`: real models score stored history into evidence that is never mixed with live evidence."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.urls import reverse

from predictions.models import BackfilledPrediction, ShadowPrediction
from predictions.shadow import backfilled_paired_errors, shadow_paired_errors
from registry.choices import EvidenceSource
from registry.models import Backtest, PromotionRequest, ShadowEvaluation
from registry.selectors import promotion_gate, shadow_evaluation_latest
from registry.tests.factories import ShadowEvaluationFactory, approver

pytestmark = pytest.mark.django_db


def backfill(*args: str) -> str:
    out = io.StringIO()
    call_command("backfill_predictions", *args, stdout=out)
    return out.getvalue()


def days(two_versions, count: int) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    return str(two_versions.last_day - dt.timedelta(days=count - 1)), str(two_versions.last_day)


def test_both_versions_score_the_same_deliveries_and_a_rerun_adds_nothing(two_versions) -> None:  # type: ignore[no-untyped-def]
    tenant, (start, end) = two_versions.tenant, days(two_versions, 3)
    first = backfill("--tenant", tenant.slug, "--version", "2", "--from", start, "--to", end)

    rows = BackfilledPrediction.objects.filter(tenant=tenant)
    challenger_rows = rows.filter(model_version=two_versions.candidate)
    champion_rows = rows.filter(model_version=two_versions.champion)
    scored = challenger_rows.count()
    assert scored > 100 and champion_rows.count() == scored
    assert set(challenger_rows.values_list("delivery_id", flat=True)) == set(
        champion_rows.values_list("delivery_id", flat=True)
    )
    assert f"{two_versions.candidate} (challenger): {scored} new rows" in first
    pairs = backfilled_paired_errors(champion=two_versions.champion, challenger=two_versions.candidate)
    assert len(pairs.champion) == scored

    second = backfill("--tenant", tenant.slug, "--version", "2", "--from", start, "--to", end)
    assert "(challenger): 0 new rows" in second and "(champion): 0 new rows" in second
    assert rows.count() == 2 * scored
    looks = ShadowEvaluation.objects.filter(source=EvidenceSource.BACKFILLED)
    assert list(looks.values_list("look", "pairs")) == [(1, scored)]  # no new pairs, no new look


@pytest.mark.parametrize("database", ["postgresql", "sqlite"])
def test_backfilled_errors_are_the_backtest_errors_on_the_same_days(two_versions, database, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # "sqlite": the quickstart's path (no COPY: the scores staged with executemany), run here on PostgreSQL.
    monkeypatch.setattr(connection, "vendor", database)
    tenant, (start, end) = two_versions.tenant, days(two_versions, 2)
    backfill("--tenant", tenant.slug, "--version", "2", "--from", start, "--to", end)
    call_command(
        "backtest_model_version", f"{tenant.slug}/2", "--from", start, "--to", end, "--with-champion",
        stdout=io.StringIO(),
    )  # fmt: skip

    pairs = backfilled_paired_errors(champion=two_versions.champion, challenger=two_versions.candidate)
    candidate, champion = (
        Backtest.objects.get(version=version) for version in (two_versions.candidate, two_versions.champion)
    )
    assert pairs.challenger.mean() == pytest.approx(candidate.overall["mae"], rel=1e-9)
    assert pairs.champion.mean() == pytest.approx(champion.overall["mae"], rel=1e-9)
    look = shadow_evaluation_latest(
        champion=two_versions.champion, challenger=two_versions.candidate, source=EvidenceSource.BACKFILLED
    )
    assert look.challenger_mae == pytest.approx(candidate.overall["mae"], rel=1e-9)


def test_backfilled_evidence_stays_apart_from_live_evidence(two_versions) -> None:  # type: ignore[no-untyped-def]
    champion, candidate = two_versions.champion, two_versions.candidate
    live = ShadowEvaluationFactory(champion=champion, challenger=candidate, look=1)
    start, end = days(two_versions, 2)

    printed = backfill("--tenant", two_versions.tenant.slug, "--version", "2", "--from", start, "--to", end)

    backfilled = ShadowEvaluation.objects.get(source=EvidenceSource.BACKFILLED)
    assert backfilled.look == 1 and backfilled.pk != live.pk  # its own test, its own look numbers
    assert "backfilled A/B (not live evidence), look 1" in printed
    assert shadow_evaluation_latest(champion=champion, challenger=candidate) == live
    assert promotion_gate(version=candidate, champion=champion).evaluation == live
    assert not ShadowPrediction.objects.exists()
    assert len(shadow_paired_errors(champion=champion, challenger=candidate).champion) == 0


def test_the_approval_page_says_which_evidence_it_shows(two_versions) -> None:  # type: ignore[no-untyped-def]
    start, end = days(two_versions, 2)
    backfill("--tenant", two_versions.tenant.slug, "--version", "2", "--from", start, "--to", end)
    checker = approver()
    request = PromotionRequest.objects.create(
        tenant=two_versions.tenant, version=two_versions.candidate, requested_by=approver(), reason="backfilled"
    )
    client = Client()
    client.force_login(checker)

    page = client.get(reverse("admin:registry_promotionrequest_change", args=[request.pk])).content.decode()

    section = page.split('<section id="backfilled-ab">', 1)[1].split("</section>", 1)[0]
    look = ShadowEvaluation.objects.get(source=EvidenceSource.BACKFILLED)
    assert "the approval gate counts live evidence only" in section and f"<td>{look.pairs}</td>" in section
    live = page.split("Shadow A/B test on live traffic", 1)[1].split('<section id="backfilled-ab">', 1)[0]
    assert "no shadow A/B evaluation of v2 against the champion v1 yet" in live


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--version", "1"], "is the champion; backfill a challenger"),
        (["--version", "9"], "no ETA model version '9'"),
        (["--from", "2022-03-02", "--to", "2022-03-01"], "--from 2022-03-02 is after --to 2022-03-01"),
        (["--from", "2001-01-01", "--to", "2001-01-02"], "is outside the stored history"),
        (["--tenant", "nobody"], "--tenant: no tenant with slug 'nobody'"),
    ],
)
def test_bad_arguments_exit_with_a_message_and_store_nothing(two_versions, arguments, message) -> None:  # type: ignore[no-untyped-def]
    start, end = days(two_versions, 1)
    defaults = {"--tenant": two_versions.tenant.slug, "--version": "2", "--from": start, "--to": end}
    defaults.update(dict(zip(arguments[::2], arguments[1::2], strict=True)))
    with pytest.raises(CommandError, match=message):
        backfill(*[part for pair in defaults.items() for part in pair])
    assert not BackfilledPrediction.objects.exists() and not ShadowEvaluation.objects.exists()
