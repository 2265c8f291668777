"""The HTTP transport against a real local server, the retry schedule, and secret scrubbing."""

from __future__ import annotations

import pytest

from monitoring.alerting.transport import REDACTED, backoff_delay, post_json, redact, url_for_display, url_secrets


def test_post_json_sends_json_and_reports_success(receiver) -> None:  # type: ignore[no-untyped-def]
    result = post_json(receiver.url("/in"), {"a": 1}, timeout=5)

    assert result.is_success and result.status_code == 202
    [request] = receiver.requests
    assert request.path == "/in" and request.body == {"a": 1}
    assert request.headers["Content-Type"] == "application/json"


def test_server_error_is_retryable_with_the_status_and_body(receiver) -> None:  # type: ignore[no-untyped-def]
    receiver.fail_first = 1

    result = post_json(receiver.url("/in"), {}, timeout=5)

    assert not result.is_success and result.is_retryable
    assert result.status_code == 500 and result.error == "HTTP 500: no hook at /in"


@pytest.mark.parametrize(("status", "is_retryable"), [(400, False), (404, False), (429, True), (503, True)])
def test_client_errors_other_than_rate_limits_are_not_retried(receiver, status: int, is_retryable: bool) -> None:  # type: ignore[no-untyped-def]
    receiver.fail_first, receiver.fail_status = 1, status
    assert post_json(receiver.url(), {}, timeout=5).is_retryable is is_retryable


def test_refused_connection_is_a_retryable_network_error(closed_port_url: str) -> None:
    result = post_json(closed_port_url, {}, timeout=5)

    assert not result.is_success and result.is_retryable and result.status_code is None
    assert result.error == "network error: Connection refused"


def test_slow_receiver_times_out(receiver) -> None:  # type: ignore[no-untyped-def]
    receiver.delay = 1.0
    result = post_json(receiver.url(), {}, timeout=0.2)
    assert not result.is_success and result.is_retryable and "timed out" in result.error


def test_backoff_doubles_from_the_base_and_stops_at_the_cap() -> None:
    lowest = [backoff_delay(attempt, base=30, cap=600, rand=lambda: 0.0) for attempt in range(1, 8)]
    highest = [backoff_delay(attempt, base=30, cap=600, rand=lambda: 1.0) for attempt in range(1, 8)]

    assert highest == [30, 60, 120, 240, 480, 600, 600]
    assert lowest == [15, 30, 60, 120, 240, 300, 300]


def test_backoff_jitter_spreads_retries() -> None:
    delays = {round(backoff_delay(3, base=30, cap=600), 6) for _ in range(20)}
    assert len(delays) > 1 and all(60 <= delay <= 120 for delay in delays)


def test_secrets_are_scrubbed_and_urls_shown_by_host_only() -> None:
    url = "https://hooks.slack.com/services/T000/B000/XXXXSECRET"
    assert redact(f"HTTP 404: no hook at {url}", [url, ""]) == f"HTTP 404: no hook at {REDACTED}"
    assert url_for_display(url) == "https://hooks.slack.com/…"
    assert url_for_display("http://user:pw@127.0.0.1:8080/x?token=1") == "http://127.0.0.1:8080/…"
    assert url_for_display("not a url") == REDACTED


def test_every_part_of_a_url_that_may_hold_a_token_is_a_secret() -> None:
    secrets = url_secrets("https://bot:pa55@hooks.example.com/services/T0/B0/TOKEN?sig=abc")

    assert secrets == (
        "https://bot:pa55@hooks.example.com/services/T0/B0/TOKEN?sig=abc",
        "/services/T0/B0/TOKEN?sig=abc",
        "/services/T0/B0/TOKEN",
        "sig=abc",
        "pa55",
    )
    assert redact("404 for /services/T0/B0/TOKEN", secrets) == f"404 for {REDACTED}"
    assert url_secrets("https://events.pagerduty.com/") == ("https://events.pagerduty.com/",)
