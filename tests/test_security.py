"""Security hardening that is not tenant isolation (tests/test_tenant_isolation.py):

- a failed-authentication burst reveals nothing: every wrong key gets the same 401 body whether or not its
  prefix exists, in a time that does not tell them apart, and it neither locks out nor throttles the key
  whose prefix was guessed;
- the admin is behind a login (every admin page, anonymous or non-staff);
- the approve permission is held only by the approvers group, never granted per user by the code;
- secrets come from the environment or from ``NAME_FILE`` paths, also for production's check --deploy.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from django.contrib import admin
from django.test import Client
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from tests.test_settings import ROOT, run_manage

pytestmark = pytest.mark.django_db(transaction=True)

INVALID = {"code": "invalid_api_key", "detail": "invalid API key"}
# Requests per kind of wrong key for the timing comparison, interleaved so that drift hits both alike.
TIMING_ROUNDS = 100
# Medians of the two kinds must be within this factor of each other: generous, since the test shares two
# cores with everything else. It catches a gross difference over real HTTP (an extra query or a slow hash
# on one path only); the exact work per path, a few microseconds of hashing, is pinned by counting it in
# `test_the_authentication_work_is_the_same_for_unknown_and_known_prefixes`.
TIMING_RATIO_BOUNDS = (0.5, 2.0)


# ----- failed-auth burst -----


def _wrong_keys(raw_key: str) -> dict[str, str]:
    """Wrong keys of every kind for a tenant whose real key is ``raw_key``."""
    prefix, _, secret = raw_key.removeprefix("il_").partition(".")
    flipped = ("A" if secret[0] != "A" else "B") + secret[1:]
    return {
        "known prefix, wrong secret": f"il_{prefix}.{flipped}",
        "known prefix, empty secret": f"il_{prefix}.",
        "unknown prefix, same-shaped secret": f"il_{'0' * len(prefix)}.{secret}",
        "unknown prefix, random secret": f"il_{'f' * len(prefix)}.{flipped[::-1]}",
        "no prefix": f"il_{secret}",
        "not key-shaped": "hunter2",
    }


def test_every_wrong_key_gets_the_same_401_body(make_tenant_client) -> None:  # type: ignore[no-untyped-def]
    from tenants.models import ApiKey
    from tenants.services import api_key_revoke

    live, revoked, expired = make_tenant_client(), make_tenant_client(), make_tenant_client()
    api_key_revoke(api_key=ApiKey.objects.get(tenant=revoked.tenant))
    ApiKey.objects.filter(tenant=expired.tenant).update(expires_at=timezone.now() - dt.timedelta(minutes=1))

    answers = {}
    for owner, client in (("live", live), ("revoked", revoked), ("expired", expired)):
        for kind, key in _wrong_keys(client.raw_key).items():
            response = requests.get(
                f"{client.base_url}/api/v1/deliveries", headers={"Authorization": f"Api-Key {key}"}, timeout=10
            )
            answers[f"{owner}: {kind}"] = (
                response.status_code,
                response.text,
                response.headers.get("WWW-Authenticate"),
            )
    # A revoked or expired key says so only to a caller who holds its secret.
    assert set(answers.values()) == {(401, json.dumps(INVALID, separators=(",", ":")), 'Api-Key realm="api"')}, answers


def test_unknown_and_known_prefixes_take_indistinguishable_time(make_tenant_client) -> None:  # type: ignore[no-untyped-def]
    client = make_tenant_client()
    keys = _wrong_keys(client.raw_key)
    kinds = ("known prefix, wrong secret", "unknown prefix, same-shaped secret")
    url = f"{client.base_url}/api/v1/deliveries"

    def timed(key: str) -> float:
        started = time.perf_counter()
        # A new loopback connection each time: a kept-alive one stalls on delayed ACKs (a ~40 ms step that
        # would swamp the difference being looked for).
        response = requests.get(url, headers={"Authorization": f"Api-Key {key}"}, timeout=10)
        elapsed = time.perf_counter() - started
        assert response.status_code == 401
        return elapsed

    for _ in range(20):  # warm-up: connection, code paths, query plans
        timed(keys[kinds[0]])
        timed(keys[kinds[1]])
    samples: dict[str, list[float]] = {kind: [] for kind in kinds}
    for round_ in range(TIMING_ROUNDS):
        order = kinds if round_ % 2 == 0 else kinds[::-1]
        for kind in order:
            samples[kind].append(timed(keys[kind]))
    known, unknown = (statistics.median(samples[kind]) for kind in kinds)
    ratio = known / unknown
    low, high = TIMING_RATIO_BOUNDS
    print(f"median known prefix {known * 1e3:.2f} ms, unknown prefix {unknown * 1e3:.2f} ms, ratio {ratio:.3f}")
    assert low <= ratio <= high, f"median known {known * 1e3:.2f} ms vs unknown {unknown * 1e3:.2f} ms"


def test_the_authentication_work_is_the_same_for_unknown_and_known_prefixes(make_tenant_client, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The timing test's cause, counted instead of timed: one hash and one constant-time compare each."""
    from rest_framework.exceptions import AuthenticationFailed
    from rest_framework.test import APIRequestFactory

    from tenants import authentication, services

    client = make_tenant_client()
    keys = _wrong_keys(client.raw_key)
    calls: list[str] = []
    real_hash, real_compare = services.hash_secret, authentication.hmac.compare_digest

    def counting_hash(secret: str) -> str:
        calls.append("hash")
        return real_hash(secret)

    def counting_compare(a: object, b: object) -> bool:
        calls.append("compare")
        return real_compare(a, b)  # type: ignore[arg-type]

    monkeypatch.setattr(services, "hash_secret", counting_hash)
    monkeypatch.setattr(authentication, "hash_secret", counting_hash)
    monkeypatch.setattr(services.hmac, "compare_digest", counting_compare)
    work = {}
    for kind in ("known prefix, wrong secret", "unknown prefix, same-shaped secret", "unknown prefix, random secret"):
        calls.clear()
        request = APIRequestFactory().get("/", HTTP_AUTHORIZATION=f"Api-Key {keys[kind]}")
        with pytest.raises(AuthenticationFailed):
            authentication.ApiKeyAuthentication().authenticate(request)
        work[kind] = sorted(calls)
    assert len(set(map(tuple, work.values()))) == 1, work
    assert work["known prefix, wrong secret"] == ["compare", "hash"]


def test_a_burst_of_wrong_keys_neither_locks_out_nor_throttles_the_real_key(make_tenant_client) -> None:  # type: ignore[no-untyped-def]
    from tenants.models import ApiKey

    client = make_tenant_client()
    ApiKey.objects.filter(tenant=client.tenant).update(rate_limit_per_minute=5)
    keys = _wrong_keys(client.raw_key)
    session = requests.Session()
    statuses = set()
    for attempt in range(60):
        key = keys["known prefix, wrong secret"] if attempt % 2 else keys["unknown prefix, same-shaped secret"]
        response = session.get(
            f"{client.base_url}/api/v1/deliveries", headers={"Authorization": f"Api-Key {key}"}, timeout=10
        )
        statuses.add((response.status_code, response.text))
    assert statuses == {(401, json.dumps(INVALID, separators=(",", ":")))}
    # Failed attempts are not counted against the key's limit of 5 a minute, and lock nothing out.
    assert [client.get("/api/v1/deliveries").status_code for _ in range(5)] == [200] * 5
    assert client.get("/api/v1/deliveries").status_code == 429
    api_key = ApiKey.objects.get(tenant=client.tenant)
    assert api_key.revoked_at is None and api_key.is_expired is False


# ----- admin -----


def _admin_pages() -> list[str]:
    """The index, and every registered model's changelist and add page (where the admin has one)."""
    urls = [reverse("admin:index")]
    for model in admin.site._registry:
        for view in ("changelist", "add"):
            with contextlib.suppress(NoReverseMatch):
                urls.append(reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}"))
    return urls


def test_every_admin_page_needs_a_staff_login() -> None:
    from django.contrib.auth import get_user_model

    pages = _admin_pages()
    assert len(pages) > 10
    login = reverse("admin:login")
    non_staff = get_user_model().objects.create_user("customer", password="x" * 16)
    logged_in_non_staff = Client()
    logged_in_non_staff.force_login(non_staff)
    for page in pages:
        for label, client in (("anonymous", Client()), ("non-staff", logged_in_non_staff)):
            response = client.get(page)
            assert response.status_code == 302, f"{label} {page}: {response.status_code}"
            assert response["Location"].startswith(f"{login}?next="), f"{label} {page}: {response['Location']}"
    # The login page itself is the only admin page served to them.
    assert Client().get(login).status_code == 200


def test_approving_needs_the_approvers_group_not_other_registry_permissions() -> None:
    from django.contrib.auth.models import Permission

    from registry.choices import Alias, RequestStatus
    from registry.services import alias_version, approvers_group_ensure, promotion_request_create
    from registry.tests.factories import ModelVersionFactory, UserFactory

    version = ModelVersionFactory()
    request = promotion_request_create(version=version, user=UserFactory(), reason="better")
    # Every registry permission a staff member could be given, except approving.
    reviewer = UserFactory()
    reviewer.user_permissions.set(
        Permission.objects.filter(content_type__app_label="registry").exclude(codename="approve_promotionrequest")
    )
    client = Client()
    client.force_login(reviewer)
    url = reverse("admin:registry_promotionrequest_approve", args=[request.pk])

    assert client.post(url, {"text": "looks fine"}).status_code == 403
    request.refresh_from_db()
    assert request.status == RequestStatus.PENDING
    assert alias_version(registered_model=version.registered_model, alias=Alias.CHAMPION) is None

    reviewer.groups.add(approvers_group_ensure())
    client.force_login(type(reviewer).objects.get(pk=reviewer.pk))  # a fresh user: no cached permissions
    approved = client.post(url, {"text": "looks fine"}, follow=True)
    assert f"Approved: {version} is now the champion." in approved.content.decode()


def test_the_approve_permission_is_held_by_the_group_only() -> None:
    """In the database: the group and nobody else. In the code: no path grants a permission per user."""
    from django.contrib.auth.models import Permission

    from registry.constants import APPROVERS_GROUP
    from registry.services import approvers_group_ensure
    from registry.tests.factories import approver

    approvers_group_ensure()
    approver()
    permission = Permission.objects.get(content_type__app_label="registry", codename="approve_promotionrequest")
    assert list(permission.group_set.values_list("name", flat=True)) == [APPROVERS_GROUP]
    assert not permission.user_set.exists()

    project = ("intellilog", "tenants", "deliveries", "registry", "features", "predictions", "routing", "monitoring")
    direct_grants = [
        f"{path.relative_to(ROOT)}:{number}"
        for package in project
        for path in (ROOT / package).rglob("*.py")
        if "tests" not in path.parts and "migrations" not in path.parts
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if re.search(r"user_permissions|is_superuser\s*=\s*True", line)
    ]
    assert direct_grants == [], "permissions must be granted through groups: " + ", ".join(direct_grants)


# ----- secrets from the environment or files -----

PRODUCTION = {"DEBUG": "false", "ALLOWED_HOSTS": "eta.example.com"}
SECRETS = ("SECRET_KEY", "DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "METRICS_TOKEN")


def _settings_seen(**env: str) -> dict[str, str]:
    """The secret settings as a fresh process reads them from ``env``."""
    code = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        f"print(json.dumps({{name: getattr(s, name) for name in {list(SECRETS)!r}}}))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**_clean_environment(), "DJANGO_SETTINGS_MODULE": "intellilog.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _clean_environment() -> dict[str, str]:
    import os

    return {key: value for key, value in os.environ.items() if key not in {"DEBUG", *SECRETS} and "_FILE" not in key}


def test_every_secret_can_come_from_a_file(tmp_path: Path) -> None:
    values = {
        "SECRET_KEY": "file-secret-" + "k" * 50,
        "DATABASE_URL": "postgres://app:file-password@db.internal:5432/intellilog",
        "REDIS_URL": "redis://:file-password@redis.internal:6379/0",
        "CELERY_BROKER_URL": "amqp://app:file-password@mq.internal:5672//",
        "METRICS_TOKEN": "file-metrics-token",
    }
    files = {}
    for name, value in values.items():
        (tmp_path / name).write_text(value + "\n")  # as `docker secret` and kubectl write them
        files[f"{name}_FILE"] = str(tmp_path / name)
    assert _settings_seen(**PRODUCTION, **files) == values


def test_a_secret_file_that_cannot_be_read_stops_start_up_naming_it(tmp_path: Path) -> None:
    result = run_manage("check", **PRODUCTION, SECRET_KEY_FILE=str(tmp_path / "missing"))
    assert result.returncode != 0
    assert "SECRET_KEY_FILE: cannot read" in result.stderr


def test_production_with_file_secrets_passes_check_deploy(tmp_path: Path) -> None:
    (tmp_path / "secret_key").write_text("x" * 20 + "-a-long-random-production-secret-from-a-file-" + "y" * 20)
    (tmp_path / "metrics_token").write_text("a-scrape-token-from-a-file")
    result = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        **PRODUCTION,
        SECRET_KEY_FILE=str(tmp_path / "secret_key"),
        METRICS_TOKEN_FILE=str(tmp_path / "metrics_token"),
        CELERY_BROKER_URL="amqp://broker.example.internal:5672//",
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_no_secret_has_a_default_outside_debug() -> None:
    """With DEBUG=false and no secret given, nothing falls back to a value written in the code."""
    seen = _settings_seen(**PRODUCTION, SECRET_KEY="from-the-environment-" + "z" * 40)
    assert seen["SECRET_KEY"].startswith("from-the-environment-")
    assert seen["METRICS_TOKEN"] is None and seen["CELERY_BROKER_URL"] is None
    # The example file documents the variables without shipping a secret.
    example = (ROOT / ".env.example").read_text()
    assert re.search(r"^SECRET_KEY=$", example, flags=re.MULTILINE)
    assert not re.search(r"://[^/@\s]*:[^/@\s]+@", example), "a password in a URL of .env.example"
