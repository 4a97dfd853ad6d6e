"""Pipeline, plans: review before apply. `etl plan --out plan.json` saves what an export would
change — counts, the guard's verdict, every change event with its keys — together with what it
was computed against: the files (SHA-256), the client's stored state (a token of the runs that
wrote it) and the change set's fingerprint. `etl apply plan.json` imports exactly that, or
refuses: a file that changed, a database that changed since, or an export that now computes to
other changes (a mapping or rule changed). The plan holds keys and counts, never residents'
names or contact data: the rows come from the files again."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from etl.core.errors import ConfigError, PlanOutdated
from etl.core.exports import ExportFile

if TYPE_CHECKING:
    from etl.pipeline.result import ImportResult

FORMAT = "etl-plan/1"


@dataclass(frozen=True)
class Expected:
    """What an apply must find: the stored state's token and the change set's fingerprint."""

    state: str
    changes: str


@dataclass(frozen=True)
class Plan:
    source: str
    client: str
    mapping: str
    files: list[dict[str, Any]]  # path, name, sha256, size
    expected: Expected
    created_at: str
    review: dict[str, Any]  # status, guard, counts, events (keys only): for people

    @classmethod
    def of(cls, result: ImportResult, client: str, mapping: str, files: list[ExportFile],
           now: datetime) -> Plan:
        """The plan of a dry run's result (``result.expected`` set)."""
        changes, verdict, expected = result.changes, result.verdict, result.expected
        assert changes is not None and verdict is not None and expected is not None
        events = changes.events[["entity", "entity_key", "event", "fields", "from_unit",
                                 "to_unit"]].astype(object)
        return cls(result.source, client, mapping,
                   [{"path": str(f.path.resolve()), "name": f.name, "sha256": f.sha256,
                     "size": f.size} for f in files],
                   expected, now.isoformat(timespec="seconds"),
                   {"status": result.status, "guard": verdict.label,
                    "guard_problems": [p.english for p in verdict.problems],
                    "written": changes.written(), "ended": changes.ended_counts(),
                    "events": changes.summary(),
                    "changes": events.where(events.notna(), None).to_dict("records")})

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT, **asdict(self)}, ensure_ascii=False, indent=1)

    @classmethod
    def load(cls, path: Path) -> Plan:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.pop("format", None) != FORMAT:
                raise ValueError(f"not a plan of format {FORMAT}")
            return cls(**{**data, "expected": Expected(**data["expected"])})
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise ConfigError(f"plan {path} cannot be read: {exc}") from exc

    def export_files(self) -> list[ExportFile]:
        """The plan's files, checked: each must still have the content the plan was made of."""
        out = []
        for entry in self.files:
            path = Path(entry["path"])
            try:
                found = ExportFile.of(path, entry["name"])
            except OSError as exc:
                raise PlanOutdated(f"{path} cannot be read: {exc.strerror}") from exc
            if found.sha256 != entry["sha256"]:
                raise PlanOutdated(f"{path} changed since the plan was made")
            out.append(found)
        return out
