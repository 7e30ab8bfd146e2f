"""The station page starts a streaming run (coating, calendering, ...) as an open operation, whose
outputs get their codes and labels at once, and finishes it with a button (issue 13, point 2)."""

import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from audit.models import AuditEvent
from lots.models import Item
from lots.services import item_register
from measurements.models import Parameter
from measurements.services import MeasurementInput, measurement_record
from traceability.models import Operation

pytestmark = pytest.mark.django_db


def _browser(user: User, **options: Any) -> Client:
    client = Client(**options)
    client.force_login(user)
    return client


def _said(response: Any) -> str:
    return " | ".join(str(message) for message in response.context["messages"])


@pytest.fixture
def slurry(engineer: User, stations: Any) -> Item:
    return item_register(actor=engineer, kind="slurry", quantity=10, unit="kg", polarity="cathode")


def _prepare(browser: Client, slurry: Item, step: str = "coating", station: str = "COAT-01") -> dict[str, str]:
    """Start the step on the page, scan the slurry: the form's fields for a 100 m coated roll."""
    browser.post(f"/station/{station}/start/", {"step": step})
    browser.post(f"/station/{station}/scan/", {"code": slurry.code})
    return {
        "submission": browser.session[f"draft:{station}"]["token"],
        f"input-{slurry.code}-quantity": "8",
        f"input-{slurry.code}-unit": "kg",
        "output-kind": "coated_roll",
        "output-count": "1",
        "output-quantity": "100",
        "output-unit": "m",
    }


def test_a_coating_run_is_started_open_with_its_roll_labelled_then_finished(operator: User, slurry: Item) -> None:
    browser = _browser(operator)
    form = _prepare(browser, slurry)
    assert b'id="start-run"' in browser.get("/station/COAT-01/").content

    started = browser.post("/station/COAT-01/run/", form, follow=True)

    run = Operation.objects.get(step_id="coating")
    assert run.ended_at is None
    roll = run.outputs.get()
    assert started.redirect_chain[-1][0] == f"/station/COAT-01/operations/{run.pk}/"
    assert b'id="run-open"' in started.content
    assert f"?items={roll.code}".encode() in started.content  # its label prints now
    page = browser.get("/station/COAT-01/").content.decode()
    assert 'id="open-runs"' in page and f"Finish run {run.pk}" in page and roll.code in page
    assert "draft:COAT-01" not in browser.session

    # The machine's values find the roll while the run is open.
    Parameter.objects.create(code="web_thickness", name="Thickness", step_id="coating", category="SP", unit="um")
    value = measurement_record(
        actor=operator,
        data=MeasurementInput(
            parameter="web_thickness", value=101, unit="um", station="COAT-01", measured_at=timezone.now()
        ),
    ).measurement
    assert (value.item_id, value.operation_id) == (roll.pk, run.pk)

    finished = browser.post(f"/station/COAT-01/runs/{run.pk}/finish/", follow=True)

    run.refresh_from_db()
    assert run.ended_at is not None and run.ended_at >= value.measured_at
    assert f"run {run.pk} finished" in _said(finished)
    assert b'id="run-open"' not in finished.content
    assert AuditEvent.objects.filter(action="operation.finish", entity_id=str(run.pk), station="COAT-01").count() == 1
    assert b'id="open-runs"' not in browser.get("/station/COAT-01/").content


def test_a_second_run_of_the_step_is_refused_while_one_is_open(operator: User, engineer: User, slurry: Item) -> None:
    browser = _browser(operator)
    browser.post("/station/COAT-01/run/", _prepare(browser, slurry))
    other = item_register(actor=engineer, kind="slurry", quantity=10, unit="kg", polarity="cathode")

    refused = browser.post("/station/COAT-01/run/", _prepare(browser, other), follow=True)

    assert "finish it first" in _said(refused)
    assert Operation.objects.filter(step_id="coating").count() == 1
    assert "draft:COAT-01" in browser.session  # the form comes back filled in


def test_steps_whose_machine_streams_nothing_offer_no_run(operator: User, engineer: User, stations: Any) -> None:
    roll = item_register(actor=engineer, kind="calendered_roll", quantity=104, unit="m", polarity="cathode")
    browser = _browser(operator)
    browser.post("/station/SLT-01/start/", {"step": "slitting"})
    browser.post("/station/SLT-01/scan/", {"code": roll.code})
    assert b'id="start-run"' not in browser.get("/station/SLT-01/").content


def test_a_second_tap_on_finish_or_a_run_of_another_station_changes_nothing(operator: User, slurry: Item) -> None:
    browser = _browser(operator)
    browser.post("/station/COAT-01/run/", _prepare(browser, slurry))
    run = Operation.objects.get(step_id="coating")

    elsewhere = browser.post(f"/station/CAL-01/runs/{run.pk}/finish/", follow=True)
    assert f"Run {run.pk} is not open at CAL-01" in _said(elsewhere)
    assert Operation.objects.get(pk=run.pk).ended_at is None

    browser.post(f"/station/COAT-01/runs/{run.pk}/finish/")
    ended = Operation.objects.get(pk=run.pk).ended_at
    again = browser.post(f"/station/COAT-01/runs/{run.pk}/finish/", follow=True)
    assert "may have been finished already" in _said(again)
    assert Operation.objects.get(pk=run.pk).ended_at == ended
    assert AuditEvent.objects.filter(action="operation.finish").count() == 1


def test_finishing_is_a_post_with_its_csrf_token_by_an_operator(operator: User, slurry: Item) -> None:
    browser = _browser(operator)
    browser.post("/station/COAT-01/run/", _prepare(browser, slurry))
    run = Operation.objects.get(step_id="coating")
    url = f"/station/COAT-01/runs/{run.pk}/finish/"

    assert browser.get(url).status_code == 405
    assert _browser(operator, enforce_csrf_checks=True).post(url).status_code == 403
    visitor = User.objects.create_user(username="visitor-without-role")
    assert _browser(visitor).post(url).status_code == 403
    anonymous = Client().post(url)
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]
    assert Operation.objects.get(pk=run.pk).ended_at is None

    page = browser.get("/station/COAT-01/").content.decode()
    form = re.search(rf'<form method="post" action="{url}"[^>]*>(.*?)</form>', page, re.S)
    assert form is not None and 'name="csrfmiddlewaretoken"' in form.group(1)
