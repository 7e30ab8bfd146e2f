"""The plan of "a month of a line" (bench/trace_line.py): sizes from the cell count, the stations,
the recipes per polarity, and when each operation happened."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime, timedelta
from typing import Any

SHEETS_PER_LANE = 1250
LANES_PER_ROLL = 4
SHEET_M = 0.8
COATED_M = 1000.0
CALENDERED_M = 1040.0
HEAD_M = 20.0  # metres of each lane left before the first sheet (head; the tail is the rest)
SLURRIES_PER_CAM_LOT = 6
SHEETS_PER_CELL_PER_POLARITY = 10
BASE_TIME = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)
MONTH = timedelta(days=30)

STATIONS = {
    "MIX-01": ("Planetary mixer 1", ["mixing"], "mixing-room"),
    "COAT-01": ("Coater-dryer 1", ["coating", "drying"], "coating-hall"),
    "CAL-01": ("Calender 1", ["calendering"], "coating-hall"),
    "SLT-01": ("Slitter 1", ["slitting"], "dry-room-1"),
    "CUT-01": ("Sheet cutter 1", ["cutting"], "dry-room-1"),
    "STK-01": ("Z-stacker 1", ["stacking"], "dry-room-1"),
    "STK-02": ("Z-stacker 2", ["stacking"], "dry-room-1"),
}


class Sizes:
    def __init__(self, cells: int) -> None:
        self.cells = cells
        self.sheets_per_polarity = SHEETS_PER_CELL_PER_POLARITY * cells
        self.lanes_per_polarity = math.ceil(self.sheets_per_polarity / SHEETS_PER_LANE)
        self.rolls_per_polarity = math.ceil(self.lanes_per_polarity / LANES_PER_ROLL)
        self.cam_lots = math.ceil(self.rolls_per_polarity / SLURRIES_PER_CAM_LOT)

    def as_dict(self) -> dict[str, int]:
        return {
            "cells": self.cells,
            "sheets": 2 * self.sheets_per_polarity,
            "lanes": 2 * self.lanes_per_polarity,
            "coated_rolls": 2 * self.rolls_per_polarity,
            "active_material_lots_per_polarity": self.cam_lots,
        }


# Per polarity: the active-material kind, the materials (supplier lot names), and the recipe of
# one 100 kg slurry (what each mixing takes from its lots) and what coating takes of it.
POLARITY: dict[str, dict[str, Any]] = {
    "cathode": {
        "am": "cathode_active_material",
        "am_name": "NMC811",
        "carbon": "Super C65",
        "binder": "PVDF 5130",
        "solvent": "NMP",
        "foil": "Al 15 um",
        "recipe": {"am": 62.0, "carbon": 2.0, "binder": 2.0, "solvent_l": 33.0},
        "slurry_kg": 100.0,
        "coat_kg": 92.0,
        "loading": 21.5,
    },
    "anode": {
        "am": "anode_active_material",
        "am_name": "Graphite SMG",
        "carbon": "Super C45",
        "binder": "CMC/SBR",
        "solvent": "DI water",
        "foil": "Cu 10 um",
        "recipe": {"am": 48.0, "carbon": 1.0, "binder": 1.5, "solvent_l": 50.0},
        "slurry_kg": 100.0,
        "coat_kg": 92.0,
        "loading": 11.8,
    },
}


class Schedule:
    """When each operation happened: the month is cut into one window per pair of coated rolls
    (one cathode, one anode); a window's electrode steps come first, its cells are stacked over
    the following window, so the line runs as a pipeline."""

    def __init__(self, sizes: Sizes) -> None:
        self.window = MONTH / sizes.rolls_per_polarity
        self.cells_per_window = LANES_PER_ROLL * SHEETS_PER_LANE // SHEETS_PER_CELL_PER_POLARITY

    def electrode(self, roll: int, polarity: str, step: int) -> tuple[datetime, datetime]:
        """step: 0 mixing, 1 coating, 2 calendering, 3 slitting, 4+k cutting lane k."""
        start = BASE_TIME + roll * self.window + timedelta(hours=3 * step + (1 if polarity == "anode" else 0))
        return start, start + timedelta(minutes=150)

    def cell(self, index: int) -> tuple[datetime, datetime]:
        roll, k = divmod(index, self.cells_per_window)
        start = BASE_TIME + roll * self.window + timedelta(hours=24) + self.window * (k / self.cells_per_window)
        return start, start + timedelta(seconds=150)


class StageClock:
    """Seconds of each generation stage, each from the end of the one before."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.last = time.perf_counter()

    def stage(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name] = round(now - self.last, 2)
        self.last = now
