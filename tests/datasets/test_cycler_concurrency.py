"""Two derivations of the same stored cycler file at once (two runs of derive_cycler_metrics)
record one set of values: the second waits for the first and finds its values."""

import io
import threading
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.db import connection

from datasets.cycler_services import Derived, cycler_files_derive
from measurements.models import Measurement, Parameter
from tests.datasets.test_cycler_metrics import FORMATION, FORMATION_VALUES, cycler_csv
from tests.factories import T0, build_line
from tests.support import (
    reseed_after_the_last_truncate,  # noqa: F401  (module-scoped autouse fixture)
    seed_kinds_and_steps,
)

pytestmark = [pytest.mark.postgresql_only, pytest.mark.django_db(transaction=True)]


def test_parallel_derivations_of_one_file_record_one_set(
    settings: Any, tmp_path: Path, engineer: User, stations: Any
) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    seed_kinds_and_steps()
    call_command("load_catalog", stdout=io.StringIO())
    cell = build_line(engineer).cells[0]
    stored = Measurement(
        parameter=Parameter.objects.get(code="formation_discharge_capacity"),
        item=cell,
        measured_at=T0,
        source="offline",
    )
    stored.file.save("formation.csv", ContentFile(cycler_csv(FORMATION)), save=False)
    stored.save()

    start = threading.Barrier(2)
    results: list[Derived] = []
    errors: list[BaseException] = []

    def derive() -> None:
        try:
            start.wait(timeout=30)
            results.append(cycler_files_derive(actor=None))
        except BaseException as error:  # reported by the test below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=derive) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert sorted(r.recorded for r in results) == [0, len(FORMATION_VALUES)]
    derived = Measurement.objects.filter(derived_from=stored)
    assert derived.count() == len(FORMATION_VALUES)
    assert sorted(derived.values_list("parameter__code", flat=True)) == sorted(FORMATION_VALUES)
