from typing import Any

import pytest

from measurements.catalog import catalog_load


@pytest.fixture
def catalog(db: Any) -> None:
    catalog_load()  # the catalog file: the passport's parameter codes must exist in it
