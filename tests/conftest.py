"""Shared test helpers: real files in tmp folders, the repository's mappings and samples."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from etl.config import Mapping, load_mapping, parse_mapping
from etl.pipeline import CheckResult, check_export

ROOT = Path(__file__).resolve().parents[1]
MAPPINGS = ROOT / "mappings"
SAMPLES = ROOT / "sample_exports"


def mapping(name: str) -> Mapping:
    return load_mapping(name, MAPPINGS)


# A small made-up dialect for inline CSV cases: one flat file, ';', UTF-8 or cp1252.
MINI_YAML = r"""
name: mini
title: Inline test dialect
dialect: {encoding: cp1252, delimiter: ";", decimal: ",", date_formats: ["%d.%m.%Y"]}
value_maps:
  usage: {values: {Wohnung: living, Stellplatz: parking}}
  role: {values: {HM: main_tenant, MM: co_tenant}}
files:
  rows:
    columns:
      we: {header: WE, width: 4}
      haus: {header: Haus}
      strasse: {header: Straße}
      plz: {header: PLZ}
      ort: {header: Ort}
      me: {header: ME}
      art: {header: Art, map: usage}
      lage: {header: Lage, optional: true}
      flaeche: {header: Fläche, optional: true}
      vertrag: {header: Vertrag}
      beginn: {header: Beginn}
      ende: {header: Ende, optional: true}
      person: {header: Person}
      rolle: {header: Rolle, map: role}
      vorname: {header: Vorname, optional: true}
      nachname: {header: Nachname}
      email: {header: E-Mail, optional: true, list: '\s*[;,]\s*'}
entities:
  property: {from: rows, fields: {property_id: we}}
  building:
    from: rows
    fields: {building_id: {join: [we, haus]}, property_id: we, street: strasse,
             house_number: haus, postal_code: plz, city: ort}
  unit:
    from: rows
    fields: {unit_id: {join: [we, haus, me]}, building_id: {join: [we, haus]}, property_id: we,
             unit_number: me, usage_type: art, position: lage, living_area: flaeche}
  tenancy:
    from: rows
    where: vertrag
    fields: {tenancy_id: vertrag, unit_id: {join: [we, haus, me]}, start_date: beginn,
             end_date: ende}
  person:
    from: rows
    where: person
    fields: {person_id: person, first_name: vorname, last_name: nachname, email: email,
             email_secondary: email_more}
  membership:
    from: rows
    where: person
    fields: {tenancy_id: vertrag, person_id: person, role: rolle}
"""

MINI_HEADER = "WE;Haus;Straße;PLZ;Ort;ME;Art;Lage;Fläche;Vertrag;Beginn;Ende;Person;Rolle;Vorname;Nachname;E-Mail"
MINI_ROW = "0001;1;Hauptstraße;01067;Dresden;01;Wohnung;EG links;60,5;V1;01.01.2020;;P1;HM;Anna;Groß;anna@example.de"


def mini_mapping(**dialect: object) -> Mapping:
    data = yaml.safe_load(MINI_YAML)
    data["dialect"].update(dialect)
    return parse_mapping(data, "mini")


@pytest.fixture
def check(tmp_path: Path):
    """Write CSV text or bytes to a real file and run read + map + validate on it."""

    def run(content: str | bytes, spec: Mapping | None = None, name: str = "export.csv",
            encoding: str = "utf-8") -> CheckResult:
        path = tmp_path / name
        path.write_bytes(content.encode(encoding) if isinstance(content, str) else content)
        return check_export([path], spec or mini_mapping())

    return run


def rules_at(result: CheckResult) -> set[tuple[str, int | None, str | None]]:
    """(rule, line, column) of every finding."""
    f = result.findings
    return {
        (rule, None if pd.isna(line) else int(line), None if pd.isna(column) else column)
        for rule, line, column in zip(f["rule"], f["line"], f["column"], strict=True)
    }
