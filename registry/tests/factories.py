from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from registry.artifacts import artifact_write
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
    created_by = "factory"

    @classmethod
    def _adjust_kwargs(cls, **kwargs: object) -> dict[str, object]:
        # A trained version (ready, or archived after it) whose test names no artifact gets a real file with its
        # real checksum (not a model: nothing loads it), because the champion alias only moves to a version
        # whose artifact verifies. A pending or failed version has none, as in the registry.
        is_trained = kwargs.get("status") in (VersionStatus.READY, VersionStatus.ARCHIVED)
        if is_trained and not kwargs.get("artifact_path") and not kwargs.get("artifact_sha256"):
            registered_model = kwargs["registered_model"]
            data = f"factory artifact of model {registered_model.pk} v{kwargs['version']}".encode()  # type: ignore[attr-defined]
            kwargs["artifact_path"], kwargs["artifact_sha256"] = artifact_write(relative_dir="factory", data=data)
        return kwargs


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


class ShadowEvaluationFactory(factory.django.DjangoModelFactory):
    """Look 1 of a challenger against a champion (pass both; same registered model) with no verdict yet."""

    class Meta:
        model = "registry.ShadowEvaluation"

    tenant = factory.SelfAttribute("champion.tenant")
    registered_model = factory.SelfAttribute("champion.registered_model")
    look = factory.Sequence(lambda n: n + 1)
    pairs = 40
    outcome = "keep_collecting"
    boundary = 0.001
    decision = factory.LazyFunction(lambda: {"reasons": ["fewer pairs than the minimum"]})
