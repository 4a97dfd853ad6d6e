"""The house keeps its shape: no module of the package grows past 300 lines (split it into a
package by job instead); the layers themselves are checked by `lint-imports`."""

from __future__ import annotations

from tests.conftest import ROOT


def test_no_module_is_longer_than_300_lines() -> None:
    modules = [p for p in (ROOT / "etl").rglob("*.py") if "migrations" not in p.parts]
    long = {str(p.relative_to(ROOT)): n for p in modules
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 300}
    assert modules and long == {}
