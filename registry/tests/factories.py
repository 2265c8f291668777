from __future__ import annotations

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission

from registry.choices import VersionStatus
from registry.constants import APPROVERS_GROUP
from registry.models import ModelVersion, RegisteredModel
from tenants.tests.factories import TenantFactory


class RegisteredModelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RegisteredModel

    tenant = factory.SubFactory(TenantFactory)
    name = "eta"


class ModelVersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ModelVersion

    registered_model = factory.SubFactory(RegisteredModelFactory)
    tenant = factory.SelfAttribute("registered_model.tenant")
    version = factory.Sequence(lambda n: n + 1)
    status = VersionStatus.READY
    artifact_sha256 = factory.Sequence(lambda n: f"{n:064x}")
    created_by = "factory"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()

    username = factory.Sequence(lambda n: f"user{n}")
    is_staff = True


def approver(**fields: object):  # type: ignore[no-untyped-def]
    """A user who holds the approve permission through the approvers group (never directly)."""
    group, _ = Group.objects.get_or_create(name=APPROVERS_GROUP)
    group.permissions.add(Permission.objects.get(codename="approve_promotionrequest"))
    user = UserFactory(**fields)
    user.groups.add(group)
    return user
