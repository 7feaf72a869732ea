"""A small name -> factory registry (timm's ``register_model`` / ``list_models`` idea).

A registry with an entry-point ``group`` also holds what installed packages declare there
(``[project.entry-points."litelora.methods"] my-method = "my_pkg.module:MyMethod"``): the
entry point's name is the registered name and the object it loads is the factory. Plugins are
read once, the first time the registry is listed or asked for a name it does not hold, so a
plain ``get`` of a built-in never scans the installed packages.
"""

from __future__ import annotations

import difflib
import fnmatch
import warnings
from collections.abc import Callable
from importlib import metadata
from typing import Generic, TypeVar

from litelora.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to factories. ``kind`` names the registry in error messages; ``group`` is the
    entry-point group plugins register under; ``on_register(name, factory)`` runs for every
    registration, built-in or plugin (the method registry stamps the name on the class)."""

    def __init__(self, kind: str, group: str | None = None,
                 on_register: Callable[[str, Callable[..., T]], None] | None = None) -> None:
        self.kind = kind
        self.group = group
        self._on_register = on_register
        self._items: dict[str, Callable[..., T]] = {}
        self._broken: dict[str, str] = {}
        self._plugins_loaded = group is None

    def register(self, name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator: ``@METHODS.register("inclora")``. Raises on a duplicate name."""

        def deco(factory: Callable[..., T]) -> Callable[..., T]:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            if self._on_register is not None:
                self._on_register(name, factory)
            self._items[name] = factory
            return factory

        return deco

    def load_plugins(self) -> None:
        """Register every entry point of ``group`` (once). A plugin that fails to import (whatever
        it raises, ``SystemExit`` included), loads no factory, is refused by ``on_register`` or takes
        a name already registered is skipped with a warning naming its entry point; asking for a
        broken one by name raises why."""
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        for ep in metadata.entry_points(group=self.group):
            where = f"entry point {ep.name!r} = {ep.value!r} in group {self.group!r}"
            if ep.name in self._items:
                warnings.warn(f"{where} ignored: {self.kind} {ep.name!r} is already registered", stacklevel=2)
                continue
            try:
                factory = ep.load()
            except KeyboardInterrupt:
                raise
            except BaseException as err:  # noqa: BLE001 - third-party import code may even sys.exit()
                self._skip(ep.name, f"{where} failed to load: {type(err).__name__}: {err}")
                continue
            if not callable(factory):
                self._skip(ep.name, f"{where} loads a {type(factory).__name__}, not a factory (a class or function)")
                continue
            try:
                self.register(ep.name)(factory)
            except (TypeError, ValueError) as err:  # on_register refused it (not a ContinualMethod, ...)
                self._skip(ep.name, f"{where} skipped: {err}")

    def _skip(self, name: str, why: str) -> None:
        """Record a plugin that cannot be used (asking for it by name raises ``why``) and warn."""
        self._broken[name] = why
        warnings.warn(why, stacklevel=3)

    def get(self, name: str) -> Callable[..., T]:
        """The factory registered as ``name``; the error lists known names and close matches."""
        if name not in self._items:
            self.load_plugins()
        if name in self._broken:
            raise ConfigError(f"{self.kind} {name!r}: {self._broken[name]}")
        if name not in self._items:
            close = difflib.get_close_matches(name, list(self._items), n=3)
            hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            raise ConfigError(
                f"unknown {self.kind} {name!r}.{hint} Known {self.kind}s: {', '.join(self.list())}"
            )
        return self._items[name]

    def create(self, name: str, *args: object, **kwargs: object) -> T:
        return self.get(name)(*args, **kwargs)

    def list(self, pattern: str = "*") -> list[str]:
        """Sorted registered names (plugins included) matching a shell-style ``pattern``."""
        self.load_plugins()
        return sorted(n for n in self._items if fnmatch.fnmatch(n, pattern))

    def __contains__(self, name: object) -> bool:
        if name not in self._items and isinstance(name, str):
            self.load_plugins()
        return name in self._items
