"""/lab-files/ through Django's test client: engineers only; Check shows the counts and the
errors by row and column and stores nothing; Import stores the file or, with one bad row, nothing."""

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from labfiles.models import LabImport
from measurements.models import Measurement

from .conftest import csv_bytes

pytestmark = pytest.mark.django_db

PAGE = "/lab-files/"
HEADER = "Roll,Position [m],Time,Thickness [mm],Loading [g/m2]"
GOOD = csv_bytes([HEADER, "CR-0100,1,2026-03-02 09:00,0.1,200", "CR-0100,2,2026-03-02 09:01,0.1,201"])
BAD = csv_bytes([HEADER, "CR-0100,1,2026-03-02 09:00,0.1,200", "CR-0999,2,2026-03-02 09:01,0.1,201"])


def _browser(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _post(client: Client, data: bytes, action: str, **extra: Any) -> Any:
    body = {"mapping": "caliper-csv", "file": SimpleUploadedFile("caliper.csv", data), "action": action}
    return client.post(PAGE, body, **extra)


def _said(response: Any) -> str:
    return " | ".join(str(message) for message in response.context["messages"])


def test_only_engineers_open_the_page(operator, engineer, caliper):
    assert Client().get(PAGE).status_code == 302  # to the login page
    refused = _browser(operator).get(PAGE)
    assert refused.status_code == 403
    assert "engineer" in refused.content.decode()
    assert _post(_browser(operator), GOOD, "import").status_code == 403
    assert not Measurement.objects.exists()
    page = _browser(engineer).get(PAGE)
    assert page.status_code == 200
    assert '<option value="caliper-csv"' in page.content.decode()
    assert 'href="/lab-files/"' in page.content.decode()  # in the navigation, for engineers


def test_check_shows_the_counts_and_errors_by_row_and_column_and_stores_nothing(engineer, caliper, roll):
    response = _post(_browser(engineer), BAD, "check")
    assert response.status_code == 200
    check = response.context["check"]
    assert (check.rows, check.values, check.would_store) == (2, 4, 2)
    assert [(e.row, e.column) for e in check.errors] == [(3, "Roll")]
    html = response.content.decode()
    assert "<td>3</td><td>Roll</td><td>Unknown item &#x27;CR-0999&#x27;.</td>" in html
    assert not Measurement.objects.exists()


def test_import_stores_the_file_or_nothing(engineer, caliper, roll):
    browser = _browser(engineer)
    refused = _post(browser, BAD, "import")
    assert refused.status_code == 200
    assert "Nothing was stored" in _said(refused)
    assert refused.context["check"].errors[0].row == 3
    assert not Measurement.objects.exists()
    done = _post(browser, GOOD, "import", follow=True)
    assert "4 values of caliper.csv stored" in _said(done)
    assert Measurement.objects.count() == 4
    assert LabImport.objects.get().created_by == engineer
    again = _post(browser, GOOD, "import")
    assert "imported with mapping 'caliper-csv' already" in _said(again)
    assert Measurement.objects.count() == 4


def test_a_file_that_is_not_in_the_layout_is_said_in_plain_words(engineer, caliper):
    response = _post(_browser(engineer), b"Roll,Time\r\nCR-0100,2026-03-02 09:00\r\n", "check")
    assert "has no column 'Position [m]'" in _said(response)
    assert response.context["check"] is None


def test_a_file_past_the_upload_limit_is_refused_as_it_arrives(engineer, caliper, settings):
    settings.CELLTRACE_MAX_FILE_BYTES = 100
    response = _post(_browser(engineer), GOOD * 10, "check")
    assert response.status_code == 200
    assert "the limit is 100" in _said(response)


def test_the_form_is_guarded_by_its_csrf_token(engineer, caliper, roll):
    """The upload limit is set before the body is read, so the view checks the token itself."""
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(engineer)
    token = browser.get(PAGE).context["csrf_token"]
    assert _post(browser, GOOD, "import").status_code == 403
    assert not Measurement.objects.exists()
    body = {"mapping": "caliper-csv", "file": SimpleUploadedFile("c.csv", GOOD), "action": "import"}
    done = browser.post(PAGE, body | {"csrfmiddlewaretoken": str(token)}, follow=True)
    assert "4 values of c.csv stored" in _said(done)
