"""Every admin action and admin page checks a named permission; keys are revoked, never deleted (issue 11).

The class is checked, not only the examples: every registered admin's actions must declare permissions,
and a staff user holding none gets no action and a 403 from every admin page, custom pages included.
"""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.test import Client, RequestFactory
from django.urls import reverse

from registry.choices import Alias, RequestStatus, VersionStatus
from registry.models import ModelVersion, PromotionRequest
from registry.services import (
    alias_version,
    champion_rollback,
    model_version_archive,
    promotion_request_approve,
    promotion_request_create,
)
from registry.tests.factories import ModelVersionFactory, UserFactory, approver
from tenants.models import ApiKey, Tenant
from tenants.services import api_key_create
from tenants.tests.factories import TenantFactory

pytestmark = pytest.mark.django_db

# Django's own page kinds; anything else an admin's get_urls() adds is a custom page of ours.
_DEFAULT_PAGES = ("_changelist", "_add", "_history", "_delete", "_change", "_autocomplete")


def logged_in(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


def staff_with(*codenames: str):  # type: ignore[no-untyped-def]
    """A staff user holding exactly these permissions ("app.codename")."""
    user = UserFactory()
    for label in codenames:
        app_label, codename = label.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return type(user).objects.get(pk=user.pk)  # no cached permissions


def custom_page_names() -> list[str]:
    return [
        pattern.name
        for model_admin in admin.site._registry.values()
        for pattern in model_admin.get_urls()
        if pattern.name and not pattern.name.endswith(_DEFAULT_PAGES)
    ]


@pytest.mark.parametrize(
    "model_admin", list(admin.site._registry.values()), ids=lambda model_admin: model_admin.model._meta.label
)
def test_every_admin_action_declares_its_permissions(model_admin: admin.ModelAdmin) -> None:
    for name in model_admin.actions or ():
        function = getattr(model_admin, name) if isinstance(name, str) else name
        assert getattr(function, "allowed_permissions", None), f"{model_admin}.{name} has no permission"


def test_a_staff_user_without_permissions_gets_no_action_and_no_page() -> None:
    bare = UserFactory()
    request = RequestFactory().get("/admin/")
    request.user = bare
    for model_admin in admin.site._registry.values():
        assert model_admin.get_actions(request) == {}, model_admin
        assert not model_admin.has_view_permission(request), model_admin
    client = logged_in(bare)
    for name in custom_page_names():
        response = client.get(reverse(f"admin:{name}", args=[1]))
        assert response.status_code == 403, (name, response.status_code)


def test_archiving_needs_the_archive_permission() -> None:
    version = ModelVersionFactory()
    url = reverse("admin:registry_modelversion_changelist")
    action = {"action": "archive", ACTION_CHECKBOX_NAME: [version.pk]}

    viewer = logged_in(staff_with("registry.view_modelversion"))
    assert 'value="archive"' not in viewer.get(url).content.decode()
    viewer.post(url, action)
    assert ModelVersion.objects.get(pk=version.pk).status == VersionStatus.READY

    archivist = logged_in(staff_with("registry.view_modelversion", "registry.archive_modelversion"))
    archivist.post(url, action)
    assert ModelVersion.objects.get(pk=version.pk).status == VersionStatus.ARCHIVED


def test_requesting_a_promotion_needs_the_request_permission() -> None:
    version = ModelVersionFactory()
    url = reverse("admin:registry_modelversion_request_promotion", args=[version.pk])

    viewer = logged_in(staff_with("registry.view_modelversion"))
    assert viewer.post(url, {"text": "better"}).status_code == 403
    assert not PromotionRequest.objects.exists()

    maker = logged_in(staff_with("registry.view_modelversion", "registry.add_promotionrequest"))
    assert maker.get(url).status_code == 200


def test_deciding_and_rolling_back_need_the_approve_permission() -> None:
    version = ModelVersionFactory()
    request = promotion_request_create(version=version, user=UserFactory(), reason="better")
    everything_else = staff_with(
        *(
            f"registry.{codename}"
            for codename in Permission.objects.filter(content_type__app_label="registry")
            .exclude(codename="approve_promotionrequest")
            .values_list("codename", flat=True)
        )
    )
    client = logged_in(everything_else)
    for name in ("approve", "reject"):
        url = reverse(f"admin:registry_promotionrequest_{name}", args=[request.pk])
        assert client.get(url).status_code == 403
        assert client.post(url, {"text": "fine"}).status_code == 403
    rollback = reverse("admin:registry_registeredmodel_rollback", args=[version.registered_model_id])
    assert client.post(rollback, {"text": "bad"}).status_code == 403
    assert PromotionRequest.objects.get(pk=request.pk).status == RequestStatus.PENDING


def promoted_twice():  # type: ignore[no-untyped-def]
    first = ModelVersionFactory()
    second = ModelVersionFactory(registered_model=first.registered_model)
    for version in (first, second):
        request = promotion_request_create(version=version, user=UserFactory(), reason="better")
        promotion_request_approve(request=request, user=approver(), comment="ok", override_reason="test")
    return first, second


def test_rollback_refuses_an_archived_version_and_its_page_says_so() -> None:
    first, second = promoted_twice()
    model = first.registered_model
    page = reverse("admin:registry_registeredmodel_rollback", args=[model.pk])
    client = logged_in(approver())
    assert f"replaced at once by v{first.version}" in client.get(page).content.decode()

    model_version_archive(version=first, actor="ops", reason="retired")
    assert "archived: a rollback is refused" in client.get(page).content.decode()
    with pytest.raises(ValidationError, match="only a READY version can be champion"):
        champion_rollback(registered_model=model, actor="oncall", reason="regression")
    client.post(page, {"text": "regression"})
    assert alias_version(registered_model=model, alias=Alias.CHAMPION) == second


def test_api_keys_are_revoked_never_deleted_even_by_a_superuser() -> None:
    key = api_key_create(tenant=TenantFactory(), name="partner").api_key
    client = logged_in(UserFactory(is_superuser=True))
    assert client.post(reverse("admin:tenants_apikey_delete", args=[key.pk]), {"post": "yes"}).status_code == 403
    changelist = reverse("admin:tenants_apikey_changelist")
    client.post(changelist, {"action": "delete_selected", ACTION_CHECKBOX_NAME: [key.pk], "post": "yes"})
    assert client.post(reverse("admin:tenants_tenant_delete", args=[key.tenant_id]), {"post": "yes"}).status_code == 403
    assert ApiKey.objects.filter(pk=key.pk).exists()

    client.post(changelist, {"action": "revoke", ACTION_CHECKBOX_NAME: [key.pk]})
    assert ApiKey.objects.get(pk=key.pk).revoked_at is not None


def test_revoking_and_issuing_keys_need_their_permissions() -> None:
    key = api_key_create(tenant=TenantFactory(), name="partner").api_key
    viewer = logged_in(staff_with("tenants.view_apikey", "tenants.view_tenant"))
    viewer.post(reverse("admin:tenants_apikey_changelist"), {"action": "revoke", ACTION_CHECKBOX_NAME: [key.pk]})
    viewer.post(
        reverse("admin:tenants_tenant_changelist"), {"action": "issue_api_key", ACTION_CHECKBOX_NAME: [key.tenant_id]}
    )
    assert ApiKey.objects.get(pk=key.pk).revoked_at is None
    assert ApiKey.objects.filter(tenant_id=key.tenant_id).count() == 1


def test_a_new_key_is_shown_once_on_a_page_and_never_in_a_cookie() -> None:
    tenant = TenantFactory()
    client = logged_in(UserFactory(is_superuser=True))
    changelist = reverse("admin:tenants_tenant_changelist")
    response = client.post(changelist, {"action": "issue_api_key", ACTION_CHECKBOX_NAME: [tenant.pk]})

    assert response.status_code == 200
    page = response.content.decode()
    prefix = ApiKey.objects.get(tenant=tenant).prefix
    assert f"il_{prefix}." in page
    assert "no-store" in response["Cache-Control"]
    assert all(prefix not in morsel.value for morsel in response.cookies.values())
    assert prefix not in client.get(changelist).content.decode()  # not shown again


@pytest.mark.parametrize("time_zone", ["Mars/Olympus_Mons", "", "../../etc/passwd", "UTC+5"])
def test_the_tenant_admin_refuses_an_unknown_time_zone(time_zone: str) -> None:
    tenant = TenantFactory()
    client = logged_in(UserFactory(is_superuser=True))
    form = {
        "slug": tenant.slug,
        "name": tenant.name,
        "time_zone": time_zone,
        "is_active": "on",
        "api_keys-TOTAL_FORMS": "0",
        "api_keys-INITIAL_FORMS": "0",
    }
    response = client.post(reverse("admin:tenants_tenant_change", args=[tenant.pk]), form)
    assert response.status_code == 200  # the form again, with the error
    assert Tenant.objects.get(pk=tenant.pk).time_zone == tenant.time_zone
