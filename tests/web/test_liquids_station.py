"""The station page takes an input in any unit of its kind's dimensions, through the same rule
as the API: kg of a solvent counted in litres goes through its density (issue 11, point 6)."""

from decimal import Decimal
from typing import Any

from django.contrib.auth.models import User
from django.test import Client

from lots.models import Item
from lots.services import item_register
from traceability.models import Operation, OperationInput


def _mix(operator: User, solvent: Item, **form: str) -> tuple[Client, Any]:
    browser = Client()
    browser.force_login(operator)
    browser.post("/station/MIX-01/scan/", {"code": solvent.code})
    browser.post("/station/MIX-01/start/", {"step": "mixing"})
    page = browser.get("/station/MIX-01/")
    assert f'name="input-{solvent.code}-unit" value="L"'.encode() in page.content
    body = {
        "submission": str(browser.session["draft:MIX-01"]["token"]),
        "output-kind": "slurry",
        "output-count": "1",
        "output-quantity": "1",
        "output-unit": "kg",
    } | form
    return browser, browser.post("/station/MIX-01/finish/", body, follow=True)


def test_kg_of_nmp_taken_at_the_station_come_off_its_litres(operator: User, stations: Any) -> None:
    nmp = item_register(actor=operator, kind="solvent", quantity=20, unit="L", attributes={"density": "1.25 g/mL"})
    _browser, done = _mix(operator, nmp, **{f"input-{nmp.code}-quantity": "5", f"input-{nmp.code}-unit": "kg"})
    assert done.status_code == 200
    nmp.refresh_from_db()
    assert (nmp.quantity, nmp.unit) == (Decimal("16"), "L")
    assert OperationInput.objects.get(item=nmp).quantity == Decimal("4")


def test_kg_without_a_density_is_explained_and_nothing_recorded(operator: User, stations: Any) -> None:
    nmp = item_register(actor=operator, kind="solvent", quantity=20, unit="L", code="SOL-0042")
    browser, page = _mix(operator, nmp, **{f"input-{nmp.code}-quantity": "5", f"input-{nmp.code}-unit": "kg"})
    said = [str(m) for m in page.context["messages"]]
    assert "solvent SOL-0042 is measured in L; give its density to consume it in kg." in said
    assert not Operation.objects.exists()
    nmp.refresh_from_db()
    assert nmp.quantity == Decimal("20")
    # The refused form comes back with the unit the operator typed.
    assert f'name="input-{nmp.code}-unit" value="kg"'.encode() in browser.get("/station/MIX-01/").content


def test_a_unit_of_another_dimension_is_explained(operator: User, stations: Any) -> None:
    nmp = item_register(actor=operator, kind="solvent", quantity=20, unit="L", attributes={"density": 1.028})
    _browser, page = _mix(operator, nmp, **{f"input-{nmp.code}-quantity": "5", f"input-{nmp.code}-unit": "m"})
    said = [str(m) for m in page.context["messages"]]
    assert "solvent is measured by volume or mass; 'm' is a unit of length." in said
    assert not Operation.objects.exists()
