"""The import contracts of pyproject.toml cover every module: a new one in a split package needs its layer."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Packages whose modules sit in two layers, so the contract names them module by module.
SPLIT_PACKAGES = ["intellilog", "monitoring"]
NOT_CODE = {"__init__", "tests", "migrations", "static", "templates", "__pycache__", "gunicorn.conf"}


def _layered_modules() -> set[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    layers = next(contract for contract in config["contracts"] if contract["type"] == "layers")["layers"]
    return {name.strip() for layer in layers for name in layer.replace("|", ":").split(":")}


@pytest.mark.parametrize("package", SPLIT_PACKAGES)
def test_every_module_of_a_split_package_is_in_a_layer(package: str) -> None:
    children = {
        f"{package}.{path.name.removesuffix('.py')}"
        for path in (ROOT / package).iterdir()
        if path.name.removesuffix(".py") not in NOT_CODE and (path.suffix == ".py" or (path / "__init__.py").exists())
    }
    assert children - _layered_modules() == set()


def test_every_other_app_is_one_layer() -> None:
    apps = ["core", "tenants", "deliveries", "features", "registry", "predictions", "routing"]
    assert set(apps) <= _layered_modules()
