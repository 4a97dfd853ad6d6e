"""Deterministic generator of realistic wodis-style flat exports (one row per resident).

    python -m bench.generate --rows 160000 --out bench/data/wodis_160k.csv

The same arguments always give the same bytes. Properties of ~400 units in up to ten houses,
flats with 0-4 residents (vacant units as rows without contract), commercial units, parking
spaces and cellars, German names with umlauts and double names, co-tenants and household members,
several emails in one cell, announced contract ends, and columns the portal must never store
(birth date, rent, IBAN, notes with line breaks) — Windows-1252, ';', CRLF, title and count lines.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

SIZES = {"16k": 16_000, "160k": 160_000, "800k": 800_000}

FIRST = np.array(
    "Jürgen Käthe Özlem Hans-Peter Marie-Luise Stefan Lena Thomas Friedrich Sabine Kim Günther "
    "Hannelore Ingrid Jörg Anneliese Franziska Ömer Maximilian Charlotte Süheyla Lukas Jana Björn "
    "Agnieszka Dragan Malgorzata Renée Zoë Ute Bärbel Hüseyin Sören Dörte Jens Mia Noah Emilia "
    "Ben Sophie Paul Hannah Leon Anna Elias Lea Finn Marie Jonas".split()
)
LAST = np.array([
    name.replace("_", " ")
    for name in (
        "Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Schäfer Koch "
        "Bauer Richter Klein Wolf Schröder Neumann Schwarz Zimmermann Braun Krüger Hofmann "
        "Hartmann Lange Schmitt Werner Schmitz Krause Meier Lehmann Schmid Schulze Maier Köhler "
        "Herrmann König Walter Mayer Huber Kaiser Fuchs Peters Lang Scholz Möller Weiß Jung Hahn "
        "Schubert Vogel Friedrich Keller Günther Frank Berger Winkler Roth Beck Lorenz Baumann "
        "Franke Albrecht Schuster Simon Ludwig Böhm Winter Kraus Martin Schumacher Krämer Vogt "
        "Stein Jäger Otto Sommer Groß Seidel Heinrich Brandt Haas Schreiber Graf Schulte "
        "Dietrich Ziegler Kuhn Kühn Pohl Engel Horn Busch Bergmann Thomas Voigt Sauer Arnold "
        "Wolff Pfeiffer Yilmaz Kaya Demir Sahin Çelik Nowak Kowalski Müller-Lüdenscheidt "
        "Schulze-Böhm von_Bülow Weiß-Großmann"
    ).split()
])
STREETS = np.array(
    ["Lindenstraße", "Straße des 17. Juni", "Am Mühlgraben", "Hauptstraße", "Bahnhofstraße",
     "Schloßallee", "Goethestraße", "Schillerplatz", "Karl-Marx-Allee", "Gartenweg",
     "Rosenhöhe", "Am Gänseanger", "Wasserturmstraße", "Friedrich-Ebert-Ring", "Ölmühlenweg"]
)
CITIES = np.array(
    ["01099 Dresden", "10623 Berlin", "04109 Leipzig", "28195 Bremen", "30169 Hannover",
     "70188 Stuttgart", "80331 München", "09111 Chemnitz", "50667 Köln", "20095 Hamburg"]
)
POSITIONS = np.array(["EG links", "EG rechts", "1. OG links", "1. OG rechts", "2. OG links",
                      "2. OG rechts", "3. OG Mitte", "DG", "Hochparterre", "Souterrain"])
HEADER = ("WE;WE-Bezeichnung;Haus;Straße Hausnr;PLZ Ort;ME;Nutzungsart;Lage;Zimmer;Wohnfläche;"
          "Vertrag;Vertragsbeginn;Vertragsende;Personennr;Rolle;Anrede;Titel;Vorname;Nachname;"
          "Geburtsdatum;Telefon;Mobil;E-Mail;Sollmiete;IBAN;Bemerkung")
UNITS_PER_PROPERTY = 400


def _ascii(names: pd.Series) -> pd.Series:
    table = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss",
                           "ç": "c", "é": "e", "ë": "e", " ": ""})
    return names.str.lower().map(lambda s: s.translate(table))


def generate(rows: int, seed: int = 20261101) -> pd.DataFrame:
    """About ``rows`` resident rows of a wodis-style export, as strings, in export order."""
    rng = np.random.default_rng(seed)
    n_units = int(rows / 1.5)
    unit = np.arange(n_units)
    occupants = rng.choice(5, size=n_units, p=[0.06, 0.52, 0.28, 0.10, 0.04])
    kind = rng.choice(4, size=n_units, p=[0.85, 0.04, 0.08, 0.03])  # flat, shop, parking, cellar
    occupants = np.where(kind == 0, occupants, np.minimum(occupants, 1))
    rows_per_unit = np.maximum(occupants, 1)
    row_unit = np.repeat(unit, rows_per_unit)
    slot = np.arange(len(row_unit)) - np.repeat(np.cumsum(rows_per_unit) - rows_per_unit,
                                                rows_per_unit)
    vacant = occupants[row_unit] == 0

    we = row_unit // UNITS_PER_PROPERTY + 1
    haus = (row_unit // 40) % 10 + 1
    me = row_unit % 40 + 1
    k = kind[row_unit]
    place = rng.integers(0, len(STREETS), size=we.max() + 1)[we]
    city = rng.integers(0, len(CITIES), size=we.max() + 1)[we]
    df = pd.DataFrame({
        "WE": pd.Series(we).map("{:04d}".format),
        "WE-Bezeichnung": "Wohnanlage " + pd.Series(STREETS[place]) + " " + pd.Series(we).astype(
            "str"),
        "Haus": pd.Series(haus).map("{:02d}".format),
        "Straße Hausnr": pd.Series(STREETS[place]) + " " + pd.Series(haus * 2).astype("str")
        + np.where(haus % 3 == 0, "a", ""),
        "PLZ Ort": CITIES[city],
        "ME": pd.Series(me).map("{:03d}".format),
        "Nutzungsart": np.array(["Wohnung", "Gewerbe", "Tiefgarage", "Keller"])[k],
    })
    unit_rooms = rng.choice([1, 1.5, 2, 2.5, 3, 3.5, 4, 5], size=n_units)
    unit_area = np.round(rng.normal(68, 18, size=n_units).clip(22, 180), 2)
    df["Lage"] = np.where(k == 2, "TG-Stellplatz " + pd.Series(me).astype("str"),
                          POSITIONS[row_unit % len(POSITIONS)])
    df["Zimmer"] = np.where(k == 0, pd.Series(unit_rooms[row_unit]).map("{:g}".format).str.replace(
        ".", ",", regex=False), "")
    df["Wohnfläche"] = np.where(np.isin(k, [0, 1]), pd.Series(unit_area[row_unit]).map(
        "{:.2f}".format).str.replace(".", ",", regex=False), "")
    df["Vertrag"] = df["WE"] + df["Haus"] + df["ME"] + "01"
    start = pd.Timestamp("1990-01-01") + pd.to_timedelta(
        rng.integers(0, 13_000, size=n_units)[row_unit], unit="D")
    df["Vertragsbeginn"] = start.strftime("%d.%m.%Y")
    announced = rng.random(n_units)[row_unit] < 0.03
    df["Vertragsende"] = np.where(announced, "31.12.2026", "")
    person = np.cumsum(~vacant)
    df["Personennr"] = pd.Series(person).map("{:06d}".format)
    df["Rolle"] = np.where(slot == 0, "HM", np.where(slot == 3, "HA", "MM"))
    first = FIRST[rng.integers(0, len(FIRST), size=len(df))]
    last_of_unit = LAST[rng.integers(0, len(LAST), size=n_units)][row_unit]
    company = k == 1
    df["Anrede"] = np.where(company, "Firma", rng.choice(["Herr", "Frau", "Divers"],
                                                         p=[0.49, 0.49, 0.02], size=len(df)))
    df["Titel"] = np.where(rng.random(len(df)) < 0.03, "Dr.", "")
    df["Vorname"] = np.where(company, "", first)
    df["Nachname"] = np.where(company, pd.Series(last_of_unit) + " GmbH & Co. KG", last_of_unit)
    df["Geburtsdatum"] = (pd.Timestamp("1940-01-01") + pd.to_timedelta(
        rng.integers(0, 25_000, size=len(df)), unit="D")).strftime("%d.%m.%Y")
    df["Telefon"] = np.where(rng.random(len(df)) < 0.5, "0351 " + pd.Series(
        rng.integers(100_000, 9_999_999, size=len(df))).astype("str"), "")
    df["Mobil"] = np.where(rng.random(len(df)) < 0.4, "0171 " + pd.Series(
        rng.integers(1_000_000, 99_999_999, size=len(df))).astype("str"), "")
    local = np.where(company, "info", _ascii(pd.Series(df["Vorname"]))) + "." + _ascii(
        pd.Series(last_of_unit))
    mail = local + pd.Series(person).astype("str") + "@example.de"
    two = rng.random(len(df)) < 0.05
    mail = np.where(two, mail + "; " + local + "@example.org", mail)
    df["E-Mail"] = np.where(rng.random(len(df)) < 0.6, mail, "")
    df["Sollmiete"] = pd.Series(rng.integers(30_000, 150_000, size=len(df)) / 100).map(
        "{:.2f}".format).str.replace(".", ",", regex=False)
    df["IBAN"] = "DE" + pd.Series(rng.integers(10**17, 10**18, size=len(df))).astype("str") + "00"
    df["Bemerkung"] = np.where(rng.random(len(df)) < 0.05, "Schlüssel beim Hausmeister;\nTür 2",
                               "")
    blank = ["Vertrag", "Vertragsbeginn", "Vertragsende", "Personennr", "Rolle", "Anrede", "Titel",
             "Vorname", "Nachname", "Geburtsdatum", "Telefon", "Mobil", "E-Mail", "Sollmiete",
             "IBAN"]
    df.loc[vacant, blank] = ""
    return df[HEADER.split(";")]


def evolve(frame: pd.DataFrame, seed: int = 20261201) -> pd.DataFrame:
    """The next month's export: about 1 % of the resident rows change — new phone numbers and
    emails, married names, announced contract ends, and tenant changes (the old contract leaves
    the export, a new one with new residents starts)."""
    rng = np.random.default_rng(seed)
    out = frame.copy()
    occupied = (out["Personennr"] != "").to_numpy()
    n = len(out)
    pick = rng.random(n)
    phone = occupied & (pick < 0.004)
    out.loc[phone, "Telefon"] = "0351 " + pd.Series(
        rng.integers(100_000, 9_999_999, size=int(phone.sum()))).astype("str").to_numpy()
    mail = occupied & (pick >= 0.004) & (pick < 0.006)
    out.loc[mail, "E-Mail"] = "neu." + out.loc[mail, "Personennr"] + "@example.org"
    name = occupied & (pick >= 0.006) & (pick < 0.007)
    out.loc[name, "Nachname"] = out.loc[name, "Nachname"] + "-Neumann"
    units = out["WE"] + out["Haus"] + out["ME"]
    unit_pick = pd.Series(rng.random(n)).groupby(units.to_numpy()).transform("first").to_numpy()
    ending = occupied & (unit_pick < 0.002)
    out.loc[ending, "Vertragsende"] = "31.01.2027"
    change = occupied & (unit_pick >= 0.002) & (unit_pick < 0.005)
    out.loc[change, "Vertrag"] = out.loc[change, "Vertrag"].str[:-2] + "02"
    out.loc[change, "Vertragsbeginn"] = "01.12.2026"
    fresh = pd.Series(np.arange(int(change.sum())) + 900_000).map("{:06d}".format)
    out.loc[change, "Personennr"] = fresh.to_numpy()
    return out


def write(frame: pd.DataFrame, path: Path, stamp: str = "01.11.2026") -> None:
    """Write as the ERP would: title lines, cp1252, ';', CRLF, a count line at the end."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = frame.to_csv(sep=";", index=False, lineterminator="\r\n")
    text = (f"Mieterliste Bestand;;;\r\nStichtag: {stamp}\r\n\r\n{body}"
            f"Anzahl Datensätze: {len(frame)}\r\n")
    path.write_bytes(text.encode("cp1252"))


# The files of a multi-file export in the style of SAP RE-FX (mappings/sap-style.yaml), in
# the order an ERP job writes them.
SAP_FILES = ("WE", "GEB", "MO", "MV", "GP", "VP")
_SAP_CODES = {"Nutzungsart": {"Wohnung": "0001", "Gewerbe": "0002", "Tiefgarage": "0003",
                              "Keller": "0005"},
              "Anrede": {"Frau": "0001", "Herr": "0002", "Firma": "0003", "Divers": "0004"},
              "Rolle": {"HM": "TR0600", "MM": "TR0601", "HA": "TR0602"}}


def _ymd(dates: pd.Series) -> pd.Series:
    """dd.mm.yyyy as SAP writes it (yyyymmdd)."""
    return dates.str[6:10] + dates.str[3:5] + dates.str[0:2]


def sap_tables(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The residents of a flat export as SAP RE-FX would export them: one table per object
    type, technical keys with leading zeros and company code 1000, codes for usage types,
    salutations and roles, YYYYMMDD dates (00000000: no end), decimal points."""
    f = frame.replace({column: codes for column, codes in _SAP_CODES.items()})
    street = f["Straße Hausnr"].str.rsplit(" ", n=1, expand=True)
    place = f["PLZ Ort"].str.split(" ", n=1, expand=True)
    t = pd.DataFrame({
        "Buchungskreis": "1000", "Wirtschaftseinheit": f["WE"].str.zfill(8),
        "Bezeichnung": f["WE-Bezeichnung"], "Gebäude": f["Haus"].str.zfill(8),
        "Straße": street[0], "Hausnummer": street[1], "Postleitzahl": place[0], "Ort": place[1],
        "Mietobjekt": (f["Haus"] + f["ME"]).str.zfill(8), "Mietobjektart": f["Nutzungsart"],
        "Lage": f["Lage"], "Geschoss": "", "Zimmer": f["Zimmer"].str.replace(",", "."),
        "Wohnfläche": f["Wohnfläche"].str.replace(",", "."),
        "Nettokaltmiete": f["Sollmiete"].str.replace(",", "."),
        "Vertragsnummer": f["Vertrag"].str.zfill(13), "Vertragsbeginn": _ymd(f["Vertragsbeginn"]),
        "Vertragsende": _ymd(f["Vertragsende"]).replace("", "00000000"), "Kaution": "",
        "Geschäftspartner": f["Personennr"].str.zfill(10), "Anrede": f["Anrede"],
        "Titel": f["Titel"], "Vorname": f["Vorname"], "Nachname": f["Nachname"],
        "Geburtsdatum": _ymd(f["Geburtsdatum"]), "Telefon": f["Telefon"],
        "Mobiltelefon": f["Mobil"], "E-Mail": f["E-Mail"], "IBAN": f["IBAN"], "Rolle": f["Rolle"],
    })
    lived = t[f["Personennr"].to_numpy() != ""]
    unit = ["Buchungskreis", "Wirtschaftseinheit", "Gebäude", "Mietobjekt"]
    return {
        "WE": t.drop_duplicates("Wirtschaftseinheit")[
            ["Buchungskreis", "Wirtschaftseinheit", "Bezeichnung"]],
        "GEB": t.drop_duplicates(["Wirtschaftseinheit", "Gebäude"])[
            ["Buchungskreis", "Wirtschaftseinheit", "Gebäude", "Straße", "Hausnummer",
             "Postleitzahl", "Ort"]],
        "MO": t.drop_duplicates(unit)[
            [*unit, "Mietobjektart", "Lage", "Geschoss", "Zimmer", "Wohnfläche",
             "Nettokaltmiete"]],
        "MV": lived.drop_duplicates("Vertragsnummer")[
            ["Buchungskreis", "Vertragsnummer", *unit[1:], "Vertragsbeginn", "Vertragsende",
             "Kaution"]],
        "GP": lived[["Geschäftspartner", "Anrede", "Titel", "Vorname", "Nachname",
                     "Geburtsdatum", "Telefon", "Mobiltelefon", "E-Mail", "IBAN"]],
        "VP": lived[["Buchungskreis", "Vertragsnummer", "Geschäftspartner", "Rolle"]],
    }


def write_sap(frame: pd.DataFrame, folder: Path, stamp: str) -> list[Path]:
    """Write the export as SAP RE-FX's files ``RE_<type>_<stamp>.csv`` (UTF-8 with a byte
    order mark, ';', LF, no title lines); returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for kind, table in sap_tables(frame).items():
        paths.append(folder / f"RE_{kind}_{stamp}.csv")
        table.to_csv(paths[-1], sep=";", index=False, encoding="utf-8-sig")
    return paths


def ensure(size: str, folder: Path = Path("bench/data")) -> Path:
    """The export of a named size, generated once and cached."""
    path = folder / f"wodis_{size}.csv"
    if not path.exists():
        write(generate(SIZES[size]), path)
    return path


def ensure_series(size: str, folder: Path = Path("bench/data")) -> tuple[Path, Path, Path]:
    """Three exports of one client for the load benchmark: the first, the next month's (~1 %
    changed), and that one exported again (same content, another title line, other bytes)."""
    first = folder / f"{size}/mieterliste_2026-11-01.csv"
    nxt = folder / f"{size}/mieterliste_2026-12-01.csv"
    again = folder / f"{size}/mieterliste_2026-12-02.csv"
    if not again.exists():
        frame = generate(SIZES[size])
        write(frame, first)
        changed = evolve(frame)
        write(changed, nxt, "01.12.2026")
        write(changed, again, "02.12.2026")
    return first, nxt, again


def ensure_sap_series(size: str, folder: Path = Path("bench/data")
                      ) -> tuple[list[Path], list[Path], list[Path]]:
    """The residents of `ensure_series` as three multi-file exports: the first, the next
    month's, and that one exported again — with no title line to differ, again the same bytes
    under the next day's names."""
    where = folder / f"{size}-sap"
    steps = ("20261101", "20261201", "20261202")
    series = tuple([where / f"RE_{kind}_{stamp}.csv" for kind in SAP_FILES] for stamp in steps)
    if not all(path.exists() for paths in series for path in paths):
        frame = generate(SIZES[size])
        write_sap(frame, where, steps[0])
        changed = evolve(frame)
        write_sap(changed, where, steps[1])
        write_sap(changed, where, steps[2])
    return series


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--seed", type=int, default=20261101)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    write(generate(args.rows, args.seed), args.out)


if __name__ == "__main__":
    main()
