"""The keys of items_in_process go to PostgreSQL as array literals: a step of any text, quotes
and backslashes included, and a missing step, come back as they were sent."""

import pytest
from django.db import connection

from measurements.selectors_in_process import _array_text

pytestmark = [pytest.mark.postgresql_only, pytest.mark.django_db]


def test_a_text_array_literal_reads_back_every_step_as_sent() -> None:
    steps = ["coating", 'a "quoted" step', "back\\slash", "comma, {brace}", "", "NULL", " spaced ", None, "é"]
    literal = "{" + ",".join(_array_text(step) for step in steps) + "}"
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::text::text[]", [literal])
        assert cursor.fetchone()[0] == steps
