"""Core: loading a mapping — its YAML, the models of `etl.core.mapping_format`, then the checks
across fields that a field's own validator cannot make (a source field that no column brings, a
value map that does not exist, a required field not mapped); every problem is collected and
raised together as one ConfigError.

A mapping's regular expressions run on RE2 (pyarrow) when exports are mapped, so a mapping
loaded to map is checked on RE2 too; one loaded only for its file names (`etl status`, the
config's check of its sources: ``maps=False``) is checked by Python's `re` alone and starts
without pyarrow. A file is parsed once per process while it stays as it is.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from etl.core.errors import ConfigError
from etl.core.mapping_format import Const, Mapping, PerGroup, expression_sources
from etl.core.model import ENTITIES, ROLES, USAGE_TYPES


def _check_semantics(m: Mapping) -> list[str]:
    """Every cross-reference problem of a structurally valid mapping."""
    problems: list[str] = []
    for role, spec in m.files.items():
        stamp = spec.export_time
        if stamp is not None and (stamp.title is None) == (stamp.column is None):
            problems.append(f"files.{role}.export_time: give either title or column")
        elif stamp is not None and stamp.column and stamp.column not in m.columns(role):
            problems.append(f"files.{role}.export_time.column: not a column of the file: "
                            f"{stamp.column!r}")
        for name, col in spec.columns.items():
            if col.repeat is not None and "{n}" not in name:
                problems.append(f"files.{role}.columns.{name}: a repeated column needs '{{n}}'")
            if col.map and col.map not in m.value_maps:
                problems.append(f"files.{role}.columns.{name}: unknown value map {col.map!r}")
    for ename, espec in m.entities.items():
        where = f"entities.{ename}"
        entity = ENTITIES.get(ename)
        if entity is None:
            problems.append(f"{where}: unknown entity (known: {', '.join(ENTITIES)})")
            continue
        if espec.from_ not in m.files:
            problems.append(f"{where}.from: unknown file {espec.from_!r}")
            continue
        available = m.produced_fields(espec.from_)
        groups = espec.repeat or (0,)
        for fname, expr in espec.fields.items():
            if fname not in entity.field_names:
                problems.append(f"{where}.fields.{fname}: not a field of {ename}")
            if isinstance(expr, PerGroup) and len(expr.per_group) != len(groups):
                problems.append(f"{where}.fields.{fname}: per_group needs one value per group")
            for src in expression_sources(expr):
                for n in groups:
                    if src.format(n=n) not in available:
                        problems.append(
                            f"{where}.fields.{fname}: unknown source field {src.format(n=n)!r}"
                        )
        for f in entity.fields:
            if f.required and f.name not in espec.fields and f.name != "country":  # see map
                problems.append(f"{where}.fields: required field {f.name!r} is not mapped")
        for condition in espec.where:
            if any(condition.field.format(n=n) not in available for n in groups):
                problems.append(f"{where}.where: unknown source field {condition.field!r}")
    for role in sorted({spec.from_ for spec in m.entities.values()} if m.client_column else ()):
        if role in m.files and m.client_column not in m.produced_fields(role):
            problems.append(f"client_column: file {role!r} has no source field "
                            f"{m.client_column!r}")
    for ename in ENTITIES:
        if ename not in m.entities:
            problems.append(f"entities: {ename!r} is not mapped")
    allowed = {"usage_type": USAGE_TYPES, "role": ROLES}
    for ename, espec in m.entities.items():
        for fname, expr in espec.fields.items():
            if fname not in allowed:
                continue
            consts: list[str] = []
            if isinstance(expr, Const):
                consts = [expr.const]
            elif isinstance(expr, PerGroup):
                consts = list(expr.per_group)
            cols = m.columns(espec.from_)
            for src in expression_sources(expr):
                for n in espec.repeat or (0,):
                    col = cols.get(src.format(n=n))
                    if col is not None and col.map in m.value_maps:
                        consts += m.value_maps[col.map].outcomes
            problems += [
                f"entities.{ename}.fields.{fname}: {v!r} is not one of {', '.join(allowed[fname])}"
                for v in sorted(set(consts) - set(allowed[fname]))
            ]
    return problems


def parse_mapping(data: Any, origin: str, *, maps: bool = True) -> Mapping:
    """A Mapping from parsed YAML; raises ConfigError naming every problem. ``maps=False``: for
    its file names only (see the module's doc)."""
    try:
        mapping = Mapping.model_validate(data, context={"maps": maps})
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        ]
        raise ConfigError(f"mapping {origin} is invalid", problems) from exc
    problems = _check_semantics(mapping)
    if problems:
        raise ConfigError(f"mapping {origin} is invalid", problems)
    return mapping


def load_mapping(name_or_path: str, mappings_dir: Path, *, maps: bool = True) -> Mapping:
    """Load a mapping by name (``mappings_dir/<name>.yaml``) or by path; raises ConfigError.
    ``maps=False``: for its file names only (see the module's doc)."""
    path = Path(name_or_path)
    if path.suffix not in {".yaml", ".yml"}:
        path = mappings_dir / f"{name_or_path}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in mappings_dir.glob("*.yaml"))) or "none"
        raise ConfigError(f"mapping {name_or_path!r} not found in {mappings_dir} (known: {known})")
    try:
        stat = path.stat()
    except OSError as exc:
        raise ConfigError(f"mapping {path} cannot be read: {exc}") from exc
    return _load(path, stat.st_mtime_ns, stat.st_size, maps)


def read_yaml(text: str) -> Any:
    """YAML by libyaml's parser where PyYAML has it (8× faster than the pure-Python one)."""
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


@functools.lru_cache(maxsize=64)
def _load(path: Path, _mtime_ns: int, _size: int, maps: bool) -> Mapping:
    """The mapping at ``path`` as it is now (cached by its modification time and size)."""
    try:
        data = read_yaml(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"mapping {path} cannot be read: {exc}") from exc
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"mapping {path} is not valid YAML: {exc}") from exc
    return parse_mapping(data, str(path), maps=maps)
