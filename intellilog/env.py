"""Typed readers for environment variables that fail loudly, naming the variable, on a malformed value.

Every variable read here is listed in `.env.example`. A secret may also come from a file: when
``NAME_FILE`` is set, its content is used for ``NAME`` (the Docker/Kubernetes secrets convention).
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from pathlib import Path
from typing import overload

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


# With a text default the value is always text, so settings read with one are typed `str`.
@overload
def env_str(name: str, default: str) -> str: ...
@overload
def env_str(name: str, default: None = None) -> str | None: ...
def env_str(name: str, default: str | None = None) -> str | None:
    file_path = os.environ.get(f"{name}_FILE")
    if file_path:
        try:
            return Path(file_path).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE: cannot read {file_path!r} ({exc.strerror})") from exc
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip()


def env_bool(name: str, default: bool) -> bool:
    value = env_str(name)
    if value is None:
        return default
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}: expected a boolean (true/false/1/0/yes/no), got {value!r}")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    value = env_str(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}: expected an integer, got {value!r}") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}: must be at least {minimum}, got {number}")
    return number


def env_float(name: str, default: float, *, minimum: float | None = None, maximum: float | None = None) -> float:
    value = env_str(name)
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}: expected a number, got {value!r}") from None
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        raise ImproperlyConfigured(f"{name}: must be between {minimum} and {maximum}, got {number}")
    return number


def env_list(name: str, default: list[str]) -> list[str]:
    value = env_str(name)
    if value is None:
        return default
    items = [item.strip() for item in value.split(",") if item.strip()]
    if not items:
        raise ImproperlyConfigured(f"{name}: expected a comma-separated list, got {value!r}")
    return items


@overload
def env_url(name: str, default: str, *, schemes: tuple[str, ...]) -> str: ...
@overload
def env_url(name: str, default: None, *, schemes: tuple[str, ...]) -> str | None: ...
def env_url(name: str, default: str | None, *, schemes: tuple[str, ...]) -> str | None:
    value = env_str(name, default)
    if value is None:
        return None
    scheme, separator, rest = value.partition("://")
    if not separator or scheme not in schemes or not rest:
        raise ImproperlyConfigured(f"{name}: expected a URL with scheme {' or '.join(schemes)}, got {value!r}")
    return value


def local_env_file_load(path: Path, *, environ: MutableMapping[str, str] = os.environ) -> bool:
    """Fill the variables the environment leaves unset from the local file that `make run` writes.

    The file (``KEY=VALUE`` lines, ``#`` comments) carries a generated SECRET_KEY and DEBUG=true, so a
    ``manage.py`` command typed in a new shell runs like the quickstart's. It is never read where the
    environment says DEBUG is false: every production manifest and the image say so, and production must
    fail closed on a missing secret rather than pick up a developer's file. Returns whether it was read.
    """
    if environ.get("DEBUG", "").strip().lower() in _FALSE or not path.is_file():
        return False
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, separator, value = line.partition("=")
        if not separator or not name.strip():
            raise ImproperlyConfigured(f"{path}:{number}: expected NAME=value")
        environ.setdefault(name.strip(), value.strip())
    return True
