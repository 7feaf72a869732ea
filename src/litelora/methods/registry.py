"""The method registry: ``@register_method("name")`` on a ContinualMethod subclass."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litelora._registry import Registry
from litelora.methods.base import ContinualMethod

METHODS: Registry[ContinualMethod] = Registry("method")


def register_method(name: str) -> Callable[[type[ContinualMethod]], type[ContinualMethod]]:
    def deco(cls: type[ContinualMethod]) -> type[ContinualMethod]:
        cls.name = name
        METHODS.register(name)(cls)
        return cls

    return deco


def create_method(name: str, params: dict[str, Any] | None = None) -> ContinualMethod:
    return METHODS.create(name, **(params or {}))


def list_methods(pattern: str = "*") -> list[str]:
    return METHODS.list(pattern)
