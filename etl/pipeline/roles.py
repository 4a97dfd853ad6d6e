"""Pipeline: which file of an export plays which role of its mapping (by the roles' file-name
patterns; a one-file mapping's one role takes the one file). Without pandas: the same export
again is recognised by this too."""

from __future__ import annotations

import fnmatch
from pathlib import Path

from etl.core.mapping_format import Mapping


def match_roles(paths: list[Path], mapping: Mapping) -> tuple[dict[str, Path], list[Path]]:
    """The file of each role found, and the files that match no role, or one taken already."""
    roles: dict[str, Path] = {}
    unassigned: list[Path] = []
    for path in paths:
        match = [role for role, spec in mapping.files.items() if not mapping.multi_file
                 or fnmatch.fnmatch(path.name.casefold(), spec.pattern.casefold())]
        if len(match) == 1 and match[0] not in roles:
            roles[match[0]] = path
        else:
            unassigned.append(path)
    return roles, unassigned
