"""Stage guard: plausibility of an export against the last accepted one, before anything is
written. Refusals name the numbers; an operator may override with a reason (recorded)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple

from etl.core.rules import message

if TYPE_CHECKING:
    from etl.core.changes import ChangeSet


@dataclass(frozen=True)
class GuardLimits:
    max_ended_share: float = 0.10  # of the active tenancies
    max_shrink: float = 0.20  # drop of resident rows (memberships) against the last export


class Refusal(NamedTuple):
    """One reason to refuse an export: its rule and the text for ERP staff and operators."""

    rule: str
    german: str
    english: str


@dataclass(frozen=True)
class Verdict:
    """``ok``: write; otherwise nothing is written unless ``override_reason`` is given."""

    problems: list[Refusal] = field(default_factory=list)
    override_reason: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems or self.override_reason is not None

    @property
    def label(self) -> str:
        if not self.problems:
            return "passed"
        return "overridden" if self.override_reason else "refused"


def check(
    changes: ChangeSet,
    active_before: dict[str, int],
    export_time: datetime | None,
    last_export_time: datetime | None,
    limits: GuardLimits,
    override_reason: str | None = None,
) -> Verdict:
    """Judge the change set; ``active_before`` counts active rows per entity (empty on the first
    import). Raises nothing: the caller decides what a refusal means."""
    refusals: list[Refusal] = []

    def refuse(rule: str, **params: object) -> None:
        refusals.append(Refusal(rule, *message(rule, **params)))

    if changes.counts.get("tenancy", 0) == 0 or changes.counts.get("unit", 0) == 0:
        refuse("guard.empty", **{k: changes.counts.get(k, 0) for k in ("unit", "tenancy")})
    if export_time and last_export_time and export_time < last_export_time:
        refuse("guard.stale", export=f"{export_time:%Y-%m-%d %H:%M}",
               last=f"{last_export_time:%Y-%m-%d %H:%M}")
    tenancies = active_before.get("tenancy", 0)
    ended = len(changes.ended.get("tenancy", ()))
    if tenancies and ended / tenancies > limits.max_ended_share:
        refuse("guard.too_many_ended", ended=ended, active=tenancies,
               share=f"{ended / tenancies:.1%}", limit=f"{limits.max_ended_share:.0%}")
    residents = active_before.get("membership", 0)
    now = changes.counts.get("membership", 0)
    if residents and now < residents * (1 - limits.max_shrink):
        refuse("guard.shrink", before=residents, now=now, drop=f"{1 - now / residents:.1%}",
               limit=f"{limits.max_shrink:.0%}")
    return Verdict(refusals, override_reason if refusals else None)


def dialect_drift(before: dict[str, dict] | None, now: dict[str, dict]) -> list[Refusal]:
    """How the export's files differ in form from the last accepted export's: per file role,
    a header column renamed, added or missing, another delimiter (``dialect.columns``) or
    another encoding (``dialect.encoding``). None before: nothing to compare (the first
    import, or one made before this was remembered)."""
    found: list[Refusal] = []
    for role, was in sorted((before or {}).items()):
        if role not in now:
            continue
        new = now[role]
        old_cols, new_cols = Counter(was.get("header", [])), Counter(new.get("header", []))
        missing, added = list((old_cols - new_cols).elements()), list((new_cols - old_cols)
                                                                        .elements())
        if missing or added or was.get("delimiter") != new.get("delimiter"):
            found.append(Refusal("dialect.columns", *message(
                "dialect.columns", role=role, missing=", ".join(missing) or "–",
                added=", ".join(added) or "–")))
        if was.get("encoding") != new.get("encoding"):
            found.append(Refusal("dialect.encoding", *message(
                "dialect.encoding", role=role, before=was.get("encoding"),
                now=new.get("encoding"))))
    return found
