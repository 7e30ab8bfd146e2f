from typing import Any

import pytest
from django.contrib.auth.models import User

from lots.models import Item
from tests.factories import Line, build_line, register


@pytest.fixture
def line(engineer: User, stations: dict[str, Any]) -> Line:
    """The factory line: 2 lanes x 8 sheets, 4 cells of 4 sheets."""
    return build_line(engineer)


@pytest.fixture
def cal_roll(engineer: User, stations: dict[str, Any]) -> Item:
    """CAL-0007 of the API.md example: a 520 m calendered cathode roll."""
    return register(engineer, "calendered_roll", 520, "m", code="CAL-0007", polarity="cathode")
