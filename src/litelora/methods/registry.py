"""The method registry: ``@register_method("name")`` on a ContinualMethod subclass, or an
entry point in group ``litelora.methods`` naming one (see docs/plugins.md)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litelora._registry import Registry
from litelora.errors import ConfigError
from litelora.methods.base import ContinualMethod



def _stamp_name(name: str, factory: Callable[..., ContinualMethod]) -> None:
    if not (isinstance(factory, type) and issubclass(factory, ContinualMethod)):
        raise TypeError(f"method {name!r} must be a ContinualMethod subclass, got {factory!r}")
    factory.name = name


METHODS: Registry[ContinualMethod] = Registry("method", group="litelora.methods", on_register=_stamp_name)


def register_method(name: str) -> Callable[[type[ContinualMethod]], type[ContinualMethod]]:
    def deco(cls: type[ContinualMethod]) -> type[ContinualMethod]:
        METHODS.register(name)(cls)
        return cls

    return deco


def create_method(name: str, params: dict[str, Any] | None = None) -> ContinualMethod:
    try:
        factory = METHODS.get(name)
    except ConfigError as err:
        raise ConfigError(f"method.name: {err}") from None
    return factory(**(params or {}))


def list_methods(pattern: str = "*") -> list[str]:
    return METHODS.list(pattern)
