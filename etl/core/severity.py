"""Core: how severe each rule is for an export — the catalogue's default (`etl.core.rules`), then
the mapping's word, then the source's (``rules:`` in each), and what is wrong with such a word."""

from __future__ import annotations

from collections.abc import Mapping

from etl.core.rules import RULES


def override_problems(overrides: Mapping[str, str], where: str = "rules") -> list[str]:
    """What is wrong with a mapping's or source's ``rules:``: an unknown rule or severity, or
    a warning where the value cannot be imported as it is."""
    problems = []
    for rule, severity in overrides.items():
        if rule not in RULES:
            problems.append(f"{where}.{rule}: unknown rule (see `etl rules`)")
        elif severity not in ("error", "warning"):
            problems.append(f"{where}.{rule}: {severity!r} is neither error nor warning")
        elif severity == "warning" and not RULES[rule].may_warn:
            problems.append(f"{where}.{rule}: cannot be a warning — a value it finds cannot be "
                            "imported as it is")
    return problems


def severities(*overrides: Mapping[str, str]) -> dict[str, str]:
    """Every rule's severity: the catalogue's, then each of ``overrides`` in turn (a mapping's,
    then its source's)."""
    out = {name: rule.severity for name, rule in RULES.items()}
    for given in overrides:
        out.update(given)
    return out
