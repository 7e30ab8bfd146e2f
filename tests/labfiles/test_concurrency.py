"""The same lab file imported twice at the same moment, each in its own thread and connection:
one import stores its values, the other is refused (409) and stores nothing. And an upload
whose body ends early, sent over a raw socket to the live server: 400, nothing stored."""

import threading
from datetime import datetime
from typing import Any

import pytest
import requests
from django.contrib.auth.models import User
from django.db import connection
from rest_framework.authtoken.models import Token

from core.errors import Conflict, ErrorCode
from labfiles.models import LabImport
from labfiles.services import lab_file_import, mapping_create
from measurements.models import Measurement, Parameter
from tests.api.test_truncated_bodies import assert_refused, raw_post
from tests.factories import register
from tests.support import (
    reseed_after_the_last_truncate,  # noqa: F401  (module-scoped autouse fixture)
    seed_kinds_and_steps,
)

from .conftest import balance_fields, xlsx

pytestmark = [pytest.mark.postgresql_only, pytest.mark.django_db(transaction=True)]


def _balance(engineer: User) -> tuple[Any, bytes]:
    """The balance mapping and a workbook of 50 loadings of one roll."""
    seed_kinds_and_steps()  # the previous transactional test's TRUNCATE emptied them
    Parameter.objects.create(
        code="lab_mass_loading", name="Mass loading", scope="step", step_id="coating", category="SP", unit="mg/cm**2"
    )
    register(engineer, "coated_roll", 500, "m", code="CR-0100", polarity="cathode")
    mapping = mapping_create(actor=engineer, data=balance_fields())
    rows = [["Sample", "Date", "Loading [mg/cm2]"]]
    rows += [["CR-0100", datetime(2026, 3, 2, 9, minute), 20 + minute / 100] for minute in range(50)]  # noqa: DTZ001
    return mapping, xlsx(rows)


def test_the_same_file_at_the_same_moment_is_stored_once(engineer: User, operator: User) -> None:
    mapping, data = _balance(engineer)
    barrier = threading.Barrier(2)
    outcomes: list[Any] = [None, None]

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            outcomes[index] = lab_file_import(actor=operator, mapping=mapping, name="r.xlsx", data=data)
        except Exception as exc:  # the test inspects it
            outcomes[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    stored = [o for o in outcomes if isinstance(o, LabImport)]
    refused = [o for o in outcomes if isinstance(o, Conflict)]
    assert len(stored) == 1 and len(refused) == 1, outcomes
    assert refused[0].code == ErrorCode.ALREADY_IMPORTED
    assert Measurement.objects.count() == 50
    assert LabImport.objects.get().stored == 50


def test_an_upload_cut_short_stores_nothing_and_the_retry_succeeds(live_server, engineer, operator) -> None:
    _mapping, data = _balance(engineer)
    prepared = requests.Request(
        "POST", live_server.url + "/api/imports/", data={"mapping": "balance-xlsx"}, files={"file": ("r.xlsx", data)}
    ).prepare()
    body = prepared.body
    assert isinstance(body, bytes)
    headers = {"Authorization": f"Token {Token.objects.create(user=operator).key}"}
    headers["Content-Type"] = prepared.headers["Content-Type"]

    answer = raw_post(
        live_server.url, "/api/imports/", headers | {"Content-Length": str(len(body))}, body[: len(body) // 2]
    )

    assert_refused(answer)
    assert not Measurement.objects.exists()
    assert not LabImport.objects.exists()
    retry = requests.post(live_server.url + "/api/imports/", data=body, headers=headers, timeout=60)
    assert retry.status_code == 201, retry.content[:600]
    assert Measurement.objects.count() == 50
