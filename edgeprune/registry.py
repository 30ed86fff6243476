"""Named things (models, methods, datasets, corruptions, runtimes) live in one registry each."""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from edgeprune.errors import EdgepruneError

T = TypeVar("T")


def import_object(target: str) -> object:
    """``"package.module:attribute"`` -> that attribute, importing the module."""
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)


class Registry(Generic[T]):
    """A mapping from names to objects with an error that lists the known names on a typo.

    >>> methods = Registry("pruning method")
    >>> @methods.register("l1-filter")
    ... def l1(group): ...
    >>> methods.get("l1-filtr")
    Traceback (most recent call last):
    edgeprune.errors.EdgepruneError: unknown pruning method 'l1-filtr' (did you mean 'l1-filter'?); known: l1-filter
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._lazy: dict[str, str] = {}  # name -> "module:attribute", resolved on first use

    def register(self, name: str, obj: T | None = None) -> Callable[[T], T] | T:
        """Register ``obj`` under ``name``; without ``obj``, return a decorator."""

        def add(target: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = target
            return target

        return add if obj is None else add(obj)

    def register_lazy(self, name: str, target: str) -> None:
        """Register ``"package.module:attribute"``, imported on the first ``get``: a name is
        known (listed, validated, offered as a choice) without importing what it names, so
        a low module such as the configuration can list tasks and selectors."""
        if name in self._entries or name in self._lazy:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._lazy[name] = target

    def get(self, name: str) -> T:
        if name in self._lazy:
            value = import_object(self._lazy.pop(name))
            # A class is instantiated once (a task); anything else is the entry itself.
            self._entries[name] = value() if isinstance(value, type) else value
        try:
            return self._entries[name]
        except KeyError:
            raise EdgepruneError(self.unknown_message(name)) from None

    def unknown_message(self, name: str) -> str:
        close = difflib.get_close_matches(name, self.names(), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"unknown {self.kind} {name!r}{hint}; known: {', '.join(self.names())}"

    def names(self) -> list[str]:
        return sorted({*self._entries, *self._lazy})

    def __contains__(self, name: object) -> bool:
        return name in self._entries or name in self._lazy

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
