"""The catalog file against the paper it comes from, and loading it into the database."""

import csv
from io import StringIO
from pathlib import Path
from urllib.parse import urlparse

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from audit.models import AuditEvent
from core.errors import Conflict, ErrorCode, InvalidInput
from core.units import parse_unit
from lots.seed import STEPS
from lots.services import item_register
from measurements.catalog import DEFAULT_PATH, catalog_load, catalog_read
from measurements.catalog_paper import PAPER_STEPS, REQUIRED_CODES, REQUIRED_RANGES
from measurements.models import Category, Measurement, Parameter, Scope
from measurements.services_catalog import parameter_create

# Read with the csv module, not the loader: these tests check the file, not our parser.
_LINES = DEFAULT_PATH.read_text(encoding="utf-8").splitlines()
ROWS = list(csv.DictReader(line for line in _LINES if line.strip() and not line.startswith("#")))
BY_CODE = {row["code"]: row for row in ROWS}
HEADER = next(line for line in _LINES if not line.startswith("#"))


def _number(text: str) -> float | None:
    return float(text) if text else None


# --- The file against the paper ---------------------------------------------------------------


def test_the_file_declares_its_version():
    assert any(line.replace(" ", "") == "#catalog_version:1" for line in _LINES)


def test_every_step_of_the_paper_has_parameters():
    steps = {row["step"] for row in ROWS if row["step"]}
    assert PAPER_STEPS - steps == set()
    assert steps <= {code for code, _ in STEPS}


def test_every_category_and_scope_is_present():
    assert {row["category"] for row in ROWS} == set(Category.values)
    assert {row["scope"] for row in ROWS} == set(Scope.values)


def test_step_scoped_rows_name_their_step():
    assert [row["code"] for row in ROWS if row["scope"] == "step" and not row["step"]] == []


def test_every_unit_is_a_pint_unit():
    bad = []
    for row in ROWS:
        try:
            parse_unit(row["unit"], field="unit")
        except InvalidInput:
            bad.append((row["code"], row["unit"]))
    assert bad == []


def test_codes_are_unique():
    assert len(BY_CODE) == len(ROWS)


def test_the_parameters_the_paper_names_are_present():
    assert [code for code in REQUIRED_CODES if code not in BY_CODE] == []


@pytest.mark.parametrize(("code", "bounds"), sorted(REQUIRED_RANGES.items()))
def test_the_ranges_the_paper_states_are_the_typical_ranges(code, bounds):
    row = BY_CODE[code]
    assert (_number(row["typical_min"]), _number(row["typical_max"])) == bounds


def test_ranges_are_ordered():
    for row in ROWS:
        low, high = _number(row["typical_min"]), _number(row["typical_max"])
        if low is not None and high is not None:
            assert low <= high, row["code"]


def test_every_value_fits_its_column():
    too_long = [
        (row["code"], column, len(row[column]), Parameter._meta.get_field(column).max_length)
        for row in ROWS
        for column in ("code", "name", "unit", "measurability", "accuracy", "ontology_iri", "source")
        if len(row[column]) > (Parameter._meta.get_field(column).max_length or 0)
    ]
    assert too_long == []


def test_ontology_iris_are_http_urls():
    iris = [row["ontology_iri"] for row in ROWS if row["ontology_iri"]]
    assert iris, "some parameters map to EMMO / BattINFO classes"
    for iri in iris:
        url = urlparse(iri)
        assert url.scheme in ("http", "https") and url.netloc, iri


# --- Loading ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_load_creates_every_row_and_audits_it():
    result = catalog_load()
    assert (result.version, result.created, result.updated, result.unchanged) == ("1", len(ROWS), 0, 0)
    assert Parameter.objects.count() == len(ROWS)
    assert AuditEvent.objects.filter(action="parameter.create", entity="parameter").count() == len(ROWS)
    speed = Parameter.objects.get(code="mixing_speed")
    assert (speed.step_id, speed.category, speed.unit, speed.online) == ("mixing", "MP", "rpm", True)
    assert (speed.typical_min, speed.typical_max) == (1000, 4000)
    assert (speed.criticality_continuum, speed.criticality_discrete, speed.criticality_ml) == ("high", "low", "")
    assert Parameter.objects.get(code="dry_room_o2").step_id is None
    assert Parameter.objects.get(code="slurry_homogeneity").techniques == ["zeta potential", "inverted microscopy"]


@pytest.mark.django_db
def test_load_is_idempotent(django_assert_num_queries):
    catalog_load()
    audits = AuditEvent.objects.count()
    # 1 the step codes, 2 savepoint, 3 the file's parameters (locked), 4 count of those not in the
    # file, 5 release savepoint: nothing written, however many rows.
    with django_assert_num_queries(5):
        again = catalog_load()
    assert (again.created, again.updated, again.unchanged) == (0, 0, len(ROWS))
    assert Parameter.objects.count() == len(ROWS)
    assert AuditEvent.objects.count() == audits


@pytest.mark.django_db
def test_reload_restores_an_edited_row_and_audits_the_change():
    catalog_load()
    Parameter.objects.filter(code="mixing_speed").update(typical_max=9999, techniques=["stopwatch"])
    result = catalog_load()
    assert (result.created, result.updated, result.updated_codes) == (0, 1, ["mixing_speed"])
    speed = Parameter.objects.get(code="mixing_speed")
    assert (speed.typical_max, speed.techniques) == (4000, ["control parameter (machine set point)"])
    event = AuditEvent.objects.get(action="parameter.update", entity_id="mixing_speed")
    assert event.before == {"techniques": ["stopwatch"], "typical_max": 9999}
    assert event.after == {"techniques": ["control parameter (machine set point)"], "typical_max": 4000}
    assert event.actor is None


@pytest.mark.django_db
def test_load_keeps_parameters_the_file_does_not_list(engineer):
    parameter_create(actor=engineer, code="ambient_noise", name="Noise", category="PP", unit="dB", scope="environment")
    result = catalog_load()
    assert result.not_in_file == 1
    assert Parameter.objects.filter(code="ambient_noise").exists()


@pytest.mark.django_db
def test_load_refuses_to_change_the_unit_of_a_parameter_with_measurements(engineer):
    catalog_load()
    speed = Parameter.objects.get(code="mixing_speed")
    Parameter.objects.filter(pk=speed.pk).update(unit="1/s")
    item = item_register(actor=engineer, kind="cathode_active_material", quantity=25, unit="kg")
    Measurement.objects.create(parameter=speed, item=item, measured_at=timezone.now(), source="offline", value=1.0)
    with pytest.raises(Conflict) as caught:
        catalog_load()
    assert caught.value.code == ErrorCode.UNIT_IN_USE
    assert "mixing_speed.unit" in caught.value.errors
    assert Parameter.objects.get(pk=speed.pk).unit == "1/s"


def _write(tmp_path: Path, *rows: str, version: str = "# catalog_version: 7") -> Path:
    path = tmp_path / "catalog.csv"
    path.write_text("\n".join([version, HEADER, *rows]) + "\n", encoding="utf-8")
    return path


GOOD = "mixing_speed,Mixing speed,step,mixing,MP,rpm,,high,low,,,true,set point;tachometer,1000,4000,,,4.1.1"


@pytest.mark.django_db
def test_load_from_another_file_reports_its_version(tmp_path):
    result = catalog_load(path=_write(tmp_path, GOOD))
    assert (result.version, result.created) == ("7", 1)
    assert Parameter.objects.get(code="mixing_speed").techniques == ["set point", "tachometer"]


@pytest.mark.django_db
def test_a_bad_file_names_every_bad_row_and_writes_nothing(tmp_path):
    path = _write(
        tmp_path,
        GOOD,
        "bad_unit,Bad unit,step,mixing,MP,bananas,,,,,,,,,,,,",
        "bad_step,Bad step,step,baking,MP,s,,,,,,,,,,,,",
        "bad_range,Bad range,step,mixing,XX,s,,,,huge,,maybe,,5,1,,ftp://example.org/x,",
        GOOD,
    )
    with pytest.raises(InvalidInput) as caught:
        catalog_read(path)
    errors = caught.value.errors
    assert set(errors) == {
        "line 4 (bad_unit).unit",
        "line 5 (bad_step).step",
        "line 6 (bad_range).category",
        "line 6 (bad_range).criticality_ml",
        "line 6 (bad_range).online",
        "line 6 (bad_range).typical_max",
        "line 6 (bad_range).ontology_iri",
        "line 7 (mixing_speed).code",
    }
    with pytest.raises(InvalidInput):
        catalog_load(path=path)
    assert not Parameter.objects.exists()
    assert not AuditEvent.objects.exists()


@pytest.mark.django_db
def test_a_file_without_a_version_or_with_other_columns_is_refused(tmp_path):
    with pytest.raises(InvalidInput) as caught:
        catalog_read(_write(tmp_path, GOOD, version="# no version here"))
    assert "catalog_version" in caught.value.errors
    path = tmp_path / "other.csv"
    path.write_text("# catalog_version: 1\ncode,name\nx,y\n", encoding="utf-8")
    with pytest.raises(InvalidInput) as caught:
        catalog_read(path)
    assert "header" in caught.value.errors


@pytest.mark.django_db
def test_the_command_prints_counts_and_version():
    out = StringIO()
    call_command("load_catalog", stdout=out)
    assert f"version 1: {len(ROWS)} created, 0 updated, 0 unchanged" in out.getvalue()
    out = StringIO()
    call_command("load_catalog", stdout=out)
    assert f"version 1: 0 created, 0 updated, {len(ROWS)} unchanged" in out.getvalue()


@pytest.mark.django_db
def test_the_command_fails_with_the_problems_of_a_bad_file(tmp_path):
    path = _write(tmp_path, "bad_step,Bad step,step,baking,MP,s,,,,,,,,,,,,")
    with pytest.raises(CommandError, match=r"line 3 \(bad_step\)\.step"):
        call_command("load_catalog", "--path", str(path), stdout=StringIO())
