"""Core: a package's names imported when first used (PEP 562), not with the package — so that a
command that needs one light module of a package (`etl status`: `etl.store.glance`,
`etl.runner.status`) does not import pandas and SQLAlchemy with its siblings."""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module


def names(package: str, homes: dict[str, str]) -> Callable[[str], object]:
    """A module ``__getattr__`` for ``package``: each name of ``homes`` from its submodule."""

    def __getattr__(name: str) -> object:
        if name not in homes:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(import_module(f"{package}.{homes[name]}"), name)

    return __getattr__


class Module:
    """A module imported when one of its names is first used: ``writes = Module("etl.store.
    writes")`` lets a module call ``writes.apply(...)`` without importing it (and pandas) with
    itself."""

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr: str) -> object:
        return getattr(import_module(self._name), attr)
