"""The demo's data files and their readers."""

import pytest

from demo.line_data import ANODE, CATHODE, LOTS, STATIONS, step_parameters
from demo.measure_data import CODES, ELECTRODES, FIRST_CHARGE, GOOD_CELLS, INSTRUMENTS, OCV, PROFILES, REJECTED_CELLS
from demo.readers import DATA_DIR


def test_every_data_file_is_read() -> None:
    assert {p.name for p in DATA_DIR.iterdir()} == {
        "connectors.toml", "electrodes.toml", "first_charge.csv", "instruments.csv", "lab_mappings.toml",
        "line.toml", "lots.toml", "measurements.toml", "ocv.csv", "recipes.toml", "stations.csv", "steps.toml",
    }  # fmt: skip
    assert len(STATIONS) == 13 and len(LOTS) == 15 and len(CODES) == 35
    assert set(ELECTRODES) == {"cathode", "anode"}
    assert INSTRUMENTS["dew_point"].method == ""


def test_recipes_keep_their_types() -> None:
    assert CATHODE.lots["nmc811"] == (9.2, "kg")
    assert ANODE.burr_sheets == {1: (23, 64, 111), 2: (40, 97)}
    assert isinstance(CATHODE.sheets_per_lane, int)


def test_curves_rise_with_charge() -> None:
    for curve in (OCV, FIRST_CHARGE):
        xs = [x for x, _ in curve]
        assert xs == sorted(xs) and xs[0] == 0.0 and xs[-1] == 1.0


def test_step_parameters_in_file_order_with_polarity_and_computed_values() -> None:
    got = step_parameters("coating", "anode", coating_speed=25.0, slurry_flow_rate=12.3)
    assert list(got)[:4] == ["coating_method", "coating_mode", "coating_speed", "coating_gap"]
    assert got["coating_gap"] == {"value": 230, "unit": "µm"}
    assert got["coating_speed"] == {"value": 25.0, "unit": "m/min"}
    assert got["coating_method"] == {"value": "slot die"}


def test_step_parameters_refuse_a_missing_value() -> None:
    with pytest.raises(KeyError, match="coating_speed"):
        step_parameters("coating", "anode", slurry_flow_rate=1.0)
    with pytest.raises(KeyError, match="coating_gap"):
        step_parameters("coating", None, coating_speed=25.0, slurry_flow_rate=1.0)


def test_step_parameters_refuse_an_unknown_computed_code() -> None:
    with pytest.raises(KeyError, match="no_such_code"):
        step_parameters("slitting", no_such_code=1)


def test_the_rejects_are_drawn_from_worse_cells() -> None:
    assert REJECTED_CELLS.discharge_ah.mean < GOOD_CELLS.discharge_ah.mean
    assert REJECTED_CELLS.eol_dcir_mohm.mean > GOOD_CELLS.eol_dcir_mohm.mean
    assert PROFILES.wave_period_m == 157 and 0 < PROFILES.loading_noise < 0.01
