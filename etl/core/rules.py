"""Core: the catalogue of rules — every problem the import can report, in German for ERP staff
and in English for operators (`etl rules`), and how severe it is.

An ``error`` blocks the export: nothing of it is imported. A ``warning`` is imported as it is
and reported to ERP staff all the same (the ``.fehler.csv`` beside the archived export, the run
page, the run's record). A mapping or a source may change a rule's severity (``rules:
{encoding.lossy: error}``, `etl.core.severity`) — to a warning only where the value can be
imported as it is (``may_warn``): a bad key, date or reference can never be.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Rule:
    """A rule's text for ERP staff (German) and operators (English); may hold ``{placeholders}``.
    ``severity``: its default; ``may_warn``: whether a mapping or source may make it a
    warning."""

    de: str
    en: str
    severity: Severity = "error"
    may_warn: bool = False


RULES: dict[str, Rule] = {
    # the file as a whole
    "file.empty": Rule("Die Datei ist leer.", "The file is empty."),
    "file.binary": Rule(
        "Die Datei ist keine CSV-Textdatei (Binärdaten, z. B. eine Excel-Datei). "
        "Bitte als CSV exportieren.",
        "The file is not a CSV text file (binary content, e.g. an Excel workbook).",
    ),
    "file.no_data": Rule(
        "Die Datei enthält eine Kopfzeile, aber keine Datenzeilen.",
        "The file has a header but no data rows.",
    ),
    "file.unreadable": Rule(
        "Die Datei ließ sich aus dem Ablageordner nicht lesen ({detail}); sie wurde nicht "
        "übernommen. Bitte die Berechtigungen prüfen und erneut hochladen.",
        "The file could not be read from the drop ({detail}); it was not imported.",
    ),
    "file.name_encoding": Rule(
        "Der Dateiname ist nicht UTF-8-kodiert; die Datei wurde nicht gelesen. Bitte unter "
        "einem Namen ohne Sonderzeichen erneut hochladen.",
        "The file name is not UTF-8; the file was not read. Upload it again under a plain "
        "name.",
    ),
    "file.unassigned": Rule(
        "Die Datei passt zu keinem Dateityp des Formats {mapping} (erwartet: {expected}).",
        "The file matches no file of mapping {mapping} (expected: {expected}).",
    ),
    "file.missing": Rule(
        "Zum Export gehört eine Datei {role} ({expected}), sie fehlt.",
        "The export lacks its {role} file ({expected}).",
    ),
    # the drop: a multi-file export's manifest and what it promises
    "manifest.invalid": Rule(
        "Die Manifest-Zeile ist nicht lesbar (erwartet: „Datei“, „Datei;Größe“, "
        "„Datei;Größe;SHA-256“ oder „SHA-256  Datei“).",
        "Unreadable manifest line (expected 'file', 'file;size', 'file;size;sha256' or "
        "'sha256  file').",
    ),
    "manifest.empty": Rule(
        "Das Manifest nennt keine Dateien.", "The manifest lists no files.",
    ),
    "manifest.member_missing": Rule(
        "Das Manifest nennt die Datei {member}, sie liegt aber nicht im Eingangsordner. "
        "Der Export wurde als Ganzes nicht übernommen.",
        "The manifest lists {member}, which is not in the inbox; the export was refused "
        "as a whole.",
    ),
    "file.truncated": Rule(
        "Die Datei ist unvollständig: {actual} Bytes statt {expected} laut Manifest. "
        "Der Export wurde als Ganzes nicht übernommen. Bitte erneut hochladen.",
        "The file is truncated: {actual} bytes, the manifest says {expected}; the export was "
        "refused as a whole.",
    ),
    "file.checksum": Rule(
        "Die Prüfsumme (SHA-256) der Datei stimmt nicht mit dem Manifest überein: die Datei "
        "wurde beschädigt oder verändert. Bitte erneut hochladen.",
        "The file's SHA-256 differs from the manifest: damaged or changed in transit.",
    ),
    "load.refused": Rule(
        "Die Datenbank hat den Export abgelehnt ({detail}); nichts wurde übernommen. Bitte die "
        "Betreuung des Portals informieren.",
        "The database refused the export ({detail}); nothing was imported.",
    ),
    # encoding
    "encoding.undecodable": Rule(
        "Zeichen nicht lesbar (Byte 0x{byte}): die Datei ist nicht in {encoding} gespeichert.",
        "Undecodable byte 0x{byte}: the file is not encoded in {encoding}.",
    ),
    "encoding.mixed": Rule(
        "Die Datei mischt Zeichenkodierungen: Zeilen in UTF-8 und Zeilen in {legacy} (die erste "
        "hier). Bitte die Datei in einer einzigen Kodierung aus dem ERP exportieren.",
        "The file mixes encodings: lines in UTF-8 and lines in {legacy} (the first here).",
    ),
    "encoding.mojibake": Rule(
        "Umlaute sind verstümmelt (z. B. „Ã¼“ statt „ü“): die Datei wurde mit falscher "
        "Zeichenkodierung gespeichert. Bitte neu exportieren.",
        "Garbled characters (mojibake such as 'Ã¼' for 'ü'): the file was saved with the "
        "wrong encoding.",
        may_warn=True,
    ),
    "encoding.lossy": Rule(
        "Zeichen wurden durch „?“ oder „\ufffd“ ersetzt: die Kodierung des Exports kann sie "
        "nicht darstellen (z. B. ı, ş, ą, ł in Windows-1252).",
        "Characters were replaced by '?' or '\ufffd': the export's encoding cannot hold them "
        "(e.g. ı, ş, ą, ł in Windows-1252).",
        severity="warning", may_warn=True,
    ),
    "key.lossy": Rule(
        "Schlüssel enthält ein durch „?“ oder „\ufffd“ ersetztes Zeichen: er ließe sich nicht "
        "mehr zuordnen. Bitte im ERP korrigieren oder in UTF-8 exportieren.",
        "Key holds a character replaced by '?' or '\ufffd': it could no longer be matched.",
    ),
    "value.control_character": Rule(
        "Wert enthält ein Steuerzeichen (siehe Wert, z. B. \\x00 = Nullbyte), das kein Text "
        "ist. Bitte im ERP korrigieren.",
        "Value holds a control character (see value, e.g. \\x00 = NUL) that is not text.",
    ),
    # structure
    "header.not_found": Rule(
        "Kopfzeile nicht gefunden: keine Zeile enthält die erwarteten Spalten ({expected}).",
        "Header not found: no line holds the expected columns ({expected}).",
    ),
    "header.missing_column": Rule("Pflichtspalte „{column}“ fehlt in der Kopfzeile.",
                                  "Required column '{column}' is missing from the header."),
    "header.duplicate_column": Rule("Spalte „{column}“ steht mehrfach in der Kopfzeile.",
                                    "Column '{column}' appears more than once in the header."),
    "row.field_count": Rule(
        "Zeile hat {mehr_weniger} Felder als die Kopfzeile ({expected}; Anzahl siehe Wert): "
        "{hinweis}",
        "Row has {more_fewer} fields than the header's {expected} (count in value): {hint}",
    ),
    "export_time.unreadable": Rule(
        "Das Exportdatum ließ sich nicht aus {wo} lesen; es gilt das Datum im Dateinamen.",
        "The export's date could not be read from {where}; the date in the file name counts.",
        severity="warning", may_warn=True,
    ),
    "row.unreadable": Rule(
        "Die Zeile lässt sich nicht als CSV lesen ({detail}).",
        "The line cannot be read as CSV ({detail}).",
    ),
    "row.unclosed_quote": Rule(
        "Anführungszeichen wird bis zum Dateiende nicht geschlossen.",
        "A quoted field is never closed before the end of the file.",
    ),
    # values
    "key.excel_scientific": Rule(
        "Schlüssel in wissenschaftlicher Schreibweise (z. B. 1,23E+11): von Excel beschädigt. "
        "Bitte aus dem ERP neu exportieren, nicht in Excel speichern.",
        "Key in scientific notation (e.g. 1,23E+11): damaged by Excel.",
    ),
    "key.invisible": Rule(
        "Schlüssel enthält ein unsichtbares Zeichen (siehe Wert, z. B. \\u200b = Leerzeichen "
        "ohne Breite): derselbe Bewohner würde zu zwei verschiedenen. Bitte im ERP korrigieren.",
        "Key holds an invisible character (see value, e.g. \\u200b = zero-width space): one "
        "resident would silently become two.",
    ),
    "key.leading_zeros": Rule(
        "Schlüssel hat weniger als {width} Stellen: führende Nullen fehlen (von Excel entfernt?).",
        "Key shorter than {width} characters: leading zeros lost (removed by Excel?).",
    ),
    "date.format": Rule("Datum nicht lesbar; erwartet wird {formats}.",
                        "Unreadable date; expected {formats}."),
    "number.format": Rule("Zahl nicht lesbar (Dezimaltrennzeichen „{decimal}“).",
                          "Unreadable number (decimal separator '{decimal}')."),
    "value.unknown": Rule("Wert nicht bekannt; erlaubt sind: {allowed}.",
                          "Unknown value; allowed: {allowed}."),
    "split.format": Rule("Feld lässt sich nicht in {parts} zerlegen.",
                         "Value cannot be split into {parts}."),
    "client.foreign": Rule(
        "Zeile gehört zu einem Mandanten, den diese Quelle nicht übernimmt (erlaubt: {allowed}); "
        "sie wird nie übernommen. Bitte den Export im ERP auf den Mandanten einschränken.",
        "Row of a client this source does not import (allowed: {allowed}); never imported.",
    ),
    "rows.too_many_damaged": Rule(
        "Zeilen mit Fehlern: {lines}; zurückgehalten werden höchstens {allowed} (Einstellung "
        "der Quelle). Der Export wurde als Ganzes nicht übernommen.",
        "{lines} damaged lines; the source holds back at most {allowed}: the export was "
        "rejected as a whole.",
    ),
    "value.too_long": Rule(
        "Wert ist länger, als das Portal speichern kann (Schlüssel höchstens 64, andere Texte "
        "höchstens 200 Zeichen).",
        "Value is longer than the portal stores (keys 64, other text 200 characters at most).",
    ),
    "required": Rule("Pflichtfeld ist leer.", "Required value is empty."),
    "key.unique": Rule(
        "Schlüssel kommt mehrfach mit abweichenden Angaben vor ({entity}).",
        "Key occurs more than once with differing values ({entity}).",
    ),
    "postal_code.format": Rule(
        "Postleitzahl hat nicht das Format des Landes des Gebäudes (DE fünf Ziffern; AT, BE, "
        "CH, DK, LI, LU vier Ziffern; NL „1234 AB“; …).",
        "Postal code does not have the format of the building's country (DE five digits; AT, "
        "BE, CH, DK, LI, LU four; NL '1234 AB'; ...).",
        may_warn=True,
    ),
    "country.unknown": Rule("Land unbekannt: erwartet wird ein Ländercode nach ISO 3166 (z. B. "
                            "DE, DEU oder 276).", "Unknown country: not an ISO 3166 code."),
    "name.missing": Rule(
        "Name fehlt: Nachname oder Firmenname muss angegeben sein.",
        "Name missing: a last name or a company name is required.",
    ),
    "email.format": Rule("E-Mail-Adresse ungültig.", "Invalid email address.", may_warn=True),
    "phone.format": Rule("Telefonnummer ungültig.", "Invalid phone number.", may_warn=True),
    "date.order": Rule(
        "Vertragsende liegt vor Vertragsbeginn.", "Contract end is before contract start."
    ),
    "date.range": Rule(
        "Datum außerhalb des plausiblen Bereichs (1900–2100).",
        "Date outside the plausible range (1900–2100).", may_warn=True,
    ),
    "living_area.range": Rule(
        "Wohnfläche unplausibel (erlaubt 0 bis 2000 m²).",
        "Implausible living area (0 to 2000 m² allowed).", may_warn=True,
    ),
    "rooms.range": Rule(
        "Zimmerzahl unplausibel (erlaubt 0 bis 20, halbe Zimmer möglich).",
        "Implausible number of rooms (0 to 20, halves allowed).", may_warn=True,
    ),
    "ref.property": Rule(
        "Verweist auf eine Wirtschaftseinheit, die im Export fehlt.",
        "Refers to a property missing from the export.",
    ),
    "ref.building": Rule(
        "Verweist auf ein Gebäude, das im Export fehlt.",
        "Refers to a building missing from the export.",
    ),
    "ref.unit": Rule(
        "Mietvertrag verweist auf eine Mieteinheit, die im Export fehlt.",
        "Tenancy refers to a unit missing from the export.",
    ),
    "ref.tenancy": Rule(
        "Vertragspartner verweist auf einen Mietvertrag, der im Export fehlt.",
        "Membership refers to a tenancy missing from the export.",
    ),
    "ref.person": Rule(
        "Vertragspartner verweist auf eine Person, die im Export fehlt.",
        "Membership refers to a person missing from the export.",
    ),
    # guard: plausibility against the last accepted export
    "guard.empty": Rule(
        "Export enthält keine Mietverträge oder Einheiten ({unit} Einheiten, {tenancy} Verträge).",
        "The export holds no tenancies or units ({unit} units, {tenancy} tenancies).",
    ),
    "guard.stale": Rule(
        "Export vom {export} ist älter als der zuletzt übernommene vom {last}.",
        "Export of {export} is older than the last applied one of {last}.",
    ),
    "guard.too_many_ended": Rule(
        "Export würde {ended} von {active} aktiven Mietverträgen beenden ({share}, erlaubt "
        "{limit}).",
        "Export would end {ended} of {active} active tenancies ({share}, limit {limit}).",
    ),
    "guard.shrink": Rule(
        "Export hat {now} statt {before} Bewohnerzeilen (−{drop}, erlaubt −{limit}).",
        "Export has {now} instead of {before} resident rows (−{drop}, limit −{limit}).",
    ),
    "dialect.columns": Rule(
        "Die Spalten der Datei „{role}“ haben sich gegenüber dem zuletzt übernommenen Export "
        "geändert: fehlt {missing}; neu {added}. Bitte den Export im ERP prüfen.",
        "The columns of file '{role}' changed against the last accepted export: missing "
        "{missing}; new {added}.",
    ),
    "dialect.encoding": Rule(
        "Die Datei „{role}“ ist jetzt in {now} statt {before} gespeichert.",
        "File '{role}' is now encoded in {now} instead of {before}.",
    ),
    "schema.dtype": Rule(
        "Interner Typfehler in Spalte (bitte melden).",
        "Internal type error in column (please report).",
    ),
}


def message(rule: str, **params: object) -> tuple[str, str]:
    """The (German, English) text of ``rule``; raises KeyError for an unknown rule."""
    r = RULES[rule]
    return r.de.format(**params), r.en.format(**params)


def catalogue_yaml() -> str:
    """The rule catalogue, German and English, with each rule's default severity and whether it
    may be a warning, as YAML (`etl rules`)."""
    import yaml  # only `etl rules` needs it: imported here, not when the catalogue is read

    return yaml.safe_dump({k: {"de": r.de, "en": r.en, "severity": r.severity,
                               "may_warn": r.may_warn} for k, r in RULES.items()},
                          allow_unicode=True, sort_keys=True, width=100)
