"""Reference EPCIS documents (../shared/fixtures/epcis) and helpers for capture tests."""

from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from interop.epcis_capture import document_events, identity_of
from interop.models import GtinKind
from lots.models import ItemKind

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
    import json

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
