"""One configuration option: a dataclass field whose metadata says what it means for a run.

Each option is a CLI flag and a TOML key at once (``finetune_epochs`` -> ``--finetune-epochs``
and ``finetune-epochs = 5``); its default lives in the field and nowhere else. The metadata
decides what the rest of edgeprune derives from it:

- ``result``: a finished candidate depends on it, so a run directory made with another
  value cannot be resumed under this one;
- ``baseline``: it shapes the unpruned baseline or how every entry is measured, so runs that
  differ in it cannot be selected together (``edgeprune select`` over several runs);
- ``choices``: the allowed values, often a registry's names, given as a callable so that
  heavy registries (pruning methods need torch) are consulted only when values are checked
  or help is shown; ``describe`` adds such a derived text to the help, ``check`` validates
  a value that a list of choices cannot (``--corruptions generate:500``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from edgeprune.registry import import_object

Choices = Callable[[], Sequence[str]]


def option(
    default: Any,
    help: str,
    *,
    result: bool = False,
    baseline: bool = False,
    kind: str = "",
    choices: Choices | None = None,
    describe: Callable[[], str] | None = None,
    check: Callable[[Any], None] | None = None,
    repeatable: bool = False,
) -> Any:
    """A config field (``kind``: "" plain, "path", "list" comma-separated, "ratios")."""
    metadata = {
        "help": help,
        "result": result or baseline,  # what shapes the baseline shapes every candidate
        "baseline": baseline,
        "kind": kind,
        "choices": choices,
        "describe": describe,
        "check": check,
        "repeatable": repeatable,  # the flag may be given several times: values joined by ","
    }
    if isinstance(default, (list, tuple)):
        return dataclasses.field(default=tuple(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def owned_by(target: str, *first: str) -> Choices:
    """Choices another module keeps at ``"module:NAME"`` (a tuple, or a registry: its names),
    imported on first use; ``first``: choices of this option's own (``auto``) listed before."""

    def choices() -> tuple[str, ...]:
        value = import_object(target)
        return (*first, *(value.names() if hasattr(value, "names") else value))

    return choices


def deferred(target: str) -> Callable[..., Any]:
    """A function of another module (``"module:function"``), imported when it is called."""
    return lambda *args: import_object(target)(*args)


def key_of(field_name: str) -> str:
    return field_name.replace("_", "-")


def choices_of(f: dataclasses.Field) -> tuple[str, ...] | None:
    make = f.metadata.get("choices")
    return tuple(make()) if make is not None else None


def full_help(f: dataclasses.Field) -> str:
    """The help text with its derived part: the choices, or the ``describe`` text."""
    text = f.metadata["help"]
    choices = choices_of(f)
    if choices:
        text += f" ({' | '.join(c for c in choices if c)})"
    if f.metadata.get("describe"):
        text += f": {f.metadata['describe']()}"
    return text


def one_of(values: Sequence[str]) -> str:
    """``a, b or c`` (the empty choice, meaning "the default", is left out)."""
    shown = [v for v in values if v != ""]
    return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} or {shown[-1]}"
