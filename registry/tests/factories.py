from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from registry.choices import VersionStatus
from registry.models import ModelVersion, RegisteredModel
from registry.services import approvers_group_ensure
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
    user = UserFactory(**fields)
    user.groups.add(approvers_group_ensure())
    return user
