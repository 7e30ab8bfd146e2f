"""What the interop tests share: a line with every kind of history the EPCIS export writes, the
GS1 schema to check it by, and the reference EPCIS documents (../shared/fixtures/epcis) with
helpers for the capture tests."""

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from jsonschema import Draft7Validator
from rest_framework.test import APIClient

from interop.epcis_capture import document_events, identity_of
from interop.models import GtinKind
from lots.models import ItemKind
from measurements.catalog import catalog_load
from measurements.models import Measurement, Parameter
from measurements.services import MeasurementInput, measurement_correct, measurement_record
from tests.factories import T0, Line, build_line
from traceability.holds import hold_place, hold_release
from traceability.models import Hold

REPO = Path(__file__).resolve().parents[2]
GS1_SCHEMA = REPO.parent / "shared" / "fixtures" / "epcis" / "gs1" / "EPCIS-JSON-Schema.json"
URL = "/api/epcis/events/"


@pytest.fixture(scope="session")
def epcis_validator() -> Draft7Validator:
    """The GS1 EPCIS 2.0 JSON Schema with formats checked (date-time, uri); its $refs are all
    inside the file, so nothing is fetched."""
    if not GS1_SCHEMA.exists():
        pytest.skip(f"GS1 EPCIS schema not found at {GS1_SCHEMA} (the shared fixtures beside the repository)")
    schema = json.loads(GS1_SCHEMA.read_text())
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema, format_checker=Draft7Validator.FORMAT_CHECKER)


def schema_errors(validator: Draft7Validator, document: Any) -> list[str]:
    return sorted(f"{list(error.absolute_path)}: {error.message}" for error in validator.iter_errors(document))


@pytest.fixture
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = str(tmp_path)
    return tmp_path


@pytest.fixture
def epcis_parameters(db: Any) -> dict[str, Parameter]:
    common = {"scope": "step", "category": "SP", "criticality_ml": "high"}
    return {
        code: Parameter.objects.create(code=code, name=code, **common, **fields)
        for code, fields in {
            "coat_thickness_x": {"step_id": "coating", "unit": "um"},
            "loading_map_x": {"step_id": "coating", "unit": "mg/cm**2", "file_types": ["png"]},
            "ocv_x": {"step_id": "eol_test", "unit": "V"},
        }.items()
    }


@pytest.fixture
def line(engineer: User, stations: Any) -> Line:
    return build_line(engineer, sheets_per_lane=4, lanes=1)


@pytest.fixture
def history(engineer: User, line: Line, epcis_parameters: Any, media: Path) -> dict[str, Any]:
    """Holds (one downstream and released, one on a cell), values, a series, a file, a correction."""
    recall = hold_place(actor=engineer, reason="NMC lot off spec", item=line.lots["nmc"], downstream=True).hold
    hold_release(actor=engineer, hold_id=recall.pk, reason="re-tested fine")
    cell_hold = hold_place(actor=engineer, reason="swollen", item=line.cells[0]).hold
    roll = line.coated_roll
    assert roll is not None
    at = T0 + timedelta(hours=2, minutes=30)
    thickness = measurement_record(
        actor=engineer,
        data=MeasurementInput(parameter="coat_thickness_x", value=120, unit="um", item=roll.code, measured_at=at),
    ).measurement
    corrected = measurement_correct(
        actor=engineer,
        measurement_id=thickness.pk,
        reason="wrong gauge",
        data=MeasurementInput(parameter="", value=118, unit="um"),
    ).measurement
    series = measurement_record(
        actor=engineer,
        data=MeasurementInput(
            parameter="coat_thickness_x",
            unit="um",
            item=roll.code,
            measured_at=at,
            series={"x": [0, 50, 100], "y": [119, 121, 120], "x_kind": "position"},
        ),
    ).measurement
    picture = measurement_record(
        actor=engineer,
        data=MeasurementInput(parameter="loading_map_x", item=roll.code, measured_at=at),
        file=SimpleUploadedFile("map.png", b"\x89PNG\r\n\x1a\n" + bytes(64)),
    ).measurement
    ocv = measurement_record(
        actor=engineer,
        data=MeasurementInput(parameter="ocv_x", value=3.65, unit="V", item=line.cells[0].code, station="FORM-01"),
    ).measurement
    return {
        "recall": recall,
        "cell_hold": Hold.objects.get(pk=cell_hold.pk),
        "thickness": thickness,
        "corrected": corrected,
        "series": series,
        "file": picture,
        "ocv": Measurement.objects.get(pk=ocv.pk),
    }


NMC = "04012345000016"  # supplier A's NMC811 powder
NMC_B = "05012345000015"  # supplier B's NMC811 powder
PRECURSOR = "04012345000023"
CELL = "04012345000030"

FIXTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures" / "epcis"
CAPTURE = "/api/epcis/capture/"

need_fixtures = pytest.mark.skipif(
    not FIXTURES.is_dir(), reason="../shared/fixtures/epcis is absent (the reference EPCIS documents)"
)


def fixture_files(*folders: str) -> list[Path]:
    if not FIXTURES.is_dir():
        return []
    found: list[Path] = []
    for folder in folders:
        found += sorted(p for p in (FIXTURES / folder).rglob("*") if p.suffix in (".json", ".jsonld"))
    return found


def post_document(client: APIClient, document: Any, content_type: str = "application/ld+json") -> Any:
    body = document if isinstance(document, bytes | str) else json.dumps(document)
    return client.post(CAPTURE, data=body, content_type=content_type)


def gtins_of(document: dict[str, Any]) -> dict[str, str]:
    """Every GTIN the registering events of a document name -> 'serial' or 'class'."""
    found: dict[str, str] = {}
    for event in document_events(document):
        for key in ("epcList", "inputEPCList", "outputEPCList"):
            for epc in event.get(key, []):
                identity = identity_of(str(epc))
                if identity is not None:
                    found.setdefault(identity.gtin, "serial")
        for key in ("quantityList", "inputQuantityList", "outputQuantityList"):
            for element in event.get(key, []):
                identity = identity_of(str(element.get("epcClass", "")))
                if identity is not None:
                    found[identity.gtin] = "class"
    return found


@pytest.fixture
def table(db: Any) -> None:
    """The GTIN-to-kind rows of two powder suppliers, a precursor and a cell."""
    for gtin, kind in [(NMC, "cathode_active_material"), (NMC_B, "cathode_active_material"),
                       (PRECURSOR, "cathode_active_material"), (CELL, "cell")]:  # fmt: skip
        GtinKind.objects.create(gtin=gtin, kind=ItemKind.objects.get(code=kind))


@pytest.fixture
def catalog(db: Any) -> None:
    catalog_load()  # the catalog file: the passport's parameter codes must exist in it
