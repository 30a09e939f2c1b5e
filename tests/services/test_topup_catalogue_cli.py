"""`tambuli topups catalogue`: import, list, export and reset on a real database.

The commands run in-process through click's test runner: a `tambuli` subprocess spends seconds
importing, and the parsing, database and error paths are the same.
"""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result

from tambuli.cli.main import cli
from tambuli.topups.builtin_catalogue import BUILTIN_CATALOGUE
from tambuli.topups.catalogue import Catalogue, Country, Operator, Product, ProductKind
from tambuli.topups.catalogue_files import (
    read_catalogue_csv,
    read_catalogue_json,
    write_catalogue_json,
)

SMALL = Catalogue(
    countries=(Country(code="PH", name="Philippines", local_currency="PHP"),),
    operators=(
        Operator(
            code="ph-coop",
            country="PH",
            name="Co-op Mobile",
            currency="PHP",
            minor_digits=2,
            carrier_names=("Globe",),
            prefixes=("639171",),
            provider_ref="77",
            products=(
                Product(ProductKind.FIXED, 2500, None, None, 470_000, 2500),
                Product(ProductKind.RANGE, 5000, 100_000, 5000, 18_800, 100),
            ),
        ),
    ),
)


def _run(database_url: str, *args: str) -> Result:
    # A wide terminal keeps rich from wrapping the table's cells.
    env = {"TAMBULI_DATABASE_URL": database_url, "COLUMNS": "200"}
    return CliRunner().invoke(cli, ["topups", "catalogue", *args], env=env)


def _cli(database_url: str, *args: str) -> str:
    result = _run(database_url, *args)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_import_list_export_and_reimport_a_catalogue(
    fresh_database_url: str, tmp_path: Path
) -> None:
    url = fresh_database_url
    listed = _cli(url, "list")
    assert "built-in" in listed and "ph-globe" in listed and "ke-safaricom" in listed

    source = tmp_path / "catalogue.json"
    source.write_text(write_catalogue_json(SMALL), encoding="utf-8")
    _cli(url, "import", str(source))
    listed = _cli(url, "list", "--country", "ph")
    assert "imported" in listed
    assert "ph-coop" in listed and "Co-op Mobile" in listed and "ph-globe" not in listed
    assert "25.00 or from 50.00 to 1000.00 in steps of 50.00" in listed
    assert "0.47 to 18.80" in listed
    assert "ph-coop" not in _cli(url, "list", "--country", "KE")

    exported = tmp_path / "exported.csv"
    _cli(url, "export", "--output", str(exported))
    assert read_catalogue_csv(exported.read_text(encoding="utf-8")) == SMALL
    assert read_catalogue_json(_cli(url, "export")) == SMALL

    _cli(url, "reset")
    assert "built-in" in _cli(url, "list")
    assert read_catalogue_json(_cli(url, "export", "--format", "json")) == BUILTIN_CATALOGUE

    renamed = tmp_path / "catalogue.txt"
    renamed.write_bytes(exported.read_bytes())
    _cli(url, "import", str(renamed), "--format", "csv")
    assert read_catalogue_csv(_cli(url, "export", "--format", "csv")) == SMALL


def test_a_bad_file_is_refused_in_one_line_and_changes_nothing(
    fresh_database_url: str, tmp_path: Path
) -> None:
    url = fresh_database_url
    bad = tmp_path / "bad.csv"
    bad.write_text("country,operator\nPH,ph-globe\n", encoding="utf-8")
    not_utf8 = tmp_path / "latin1.json"
    not_utf8.write_bytes('{"countries": "Pilipinas\xf1"}'.encode("latin-1"))
    unknown = tmp_path / "catalogue.xlsx"
    unknown.write_bytes(b"PK\x03\x04")
    for path, expected in (
        (bad, 'Line 1: the column "country_name" is missing'),
        (not_utf8, "not UTF-8"),
        (unknown, "use --format csv or json"),
    ):
        result = _run(url, "import", str(path))
        assert result.exit_code == 1, result.output
        assert result.stdout == ""
        [line] = result.stderr.strip().splitlines()
        assert line.startswith("Error: ") and expected in line
    assert read_catalogue_json(_cli(url, "export")) == BUILTIN_CATALOGUE
