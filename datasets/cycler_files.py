"""Cycling data of cells in the conventions of the Battery Data Format (BDF), as battdat writes it.

`cycler_read` turns one cycler file into the raw table: `test_time_second` (float64, seconds from
the file's own zero), `voltage_volt`, `current_ampere` (float64, positive when charging),
`cycle_count` (int64, as the cycler counts: Arbin and Neware from 1, Maccor and BioLogic from 0)
and `step_index` (int64: the cycler's step number; where the file has none, numbered from 1 by
`derived_steps`, a new step at each change of cycle or of mode: charge, rest, discharge).
Formats, detected from the name and the first lines:

- Arbin CSV export (`Test_Time`, `Current`, `Voltage`, `Cycle_Index`, `Step_Index`, with or without
  units in brackets): current already positive on charge.
- Maccor text export (tab separated, header line starting `Rec#`): `Amps` is a magnitude, the sign
  comes from `State` (`C` charge, `D` discharge); `TestTime` as `Nd HH:MM:SS.ffff` or seconds.
- Neware `.nda`/`.ndax`, read with NewareNDA: current in mA, negative on discharge; where the time
  column restarts at each step (not in .nda version 130), the test time is rebuilt by adding the
  steps up.
- BioLogic EC-Lab `.mpr`, read with galvani: `I/mA` positive on charge (oxidation at the working
  electrode, the positive electrode of a cell); cycle from `cycle number`, else `half cycle` // 2.
"""

import csv
import io
import re
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import IO, Any

import numpy as np
import pyarrow as pa

RAW_SCHEMA = pa.schema(
    [
        ("test_time_second", pa.float64()),
        ("voltage_volt", pa.float64()),
        ("current_ampere", pa.float64()),
        ("cycle_count", pa.int64()),
        ("step_index", pa.int64()),
    ]
)
FORMATS = ("arbin", "maccor", "neware", "biologic")
_BINARY = {".nda": "neware", ".ndax": "neware", ".mpr": "biologic"}
_SUPPORTED = "Arbin CSV, Maccor text, Neware .nda/.ndax, BioLogic .mpr"
HEAD_BYTES = 8192

CyclerFile = str | Path | IO[bytes]


# --- Detection -----------------------------------------------------------------------------------


def _base(column: str) -> str:
    """`Test_Time(s)` and `Test_Time` alike: the name without a bracketed unit, lower case."""
    return re.sub(r"\s*[\(\[].*$", "", column).strip().lower()


def _arbin_header(line: str) -> bool:
    names = {_base(c) for c in line.split(",")}
    return {"test_time", "current", "voltage"} <= names


def _maccor_header(line: str) -> bool:
    names = [c.strip() for c in line.split("\t")]
    return bool(names) and names[0] == "Rec#" and {"Amps", "Volts", "TestTime"} <= set(names)


def detect_format(name: str, head: bytes = b"") -> str | None:
    """The cycler format of a file from its name and first bytes, or None."""
    suffix = Path(name).suffix.lower()
    if suffix in _BINARY:
        return _BINARY[suffix]
    text = head.decode("utf-8", errors="replace")
    lines = text.splitlines()[:5]
    if lines and _arbin_header(lines[0].lstrip("\ufeff")):
        return "arbin"
    if any(_maccor_header(line) for line in lines):
        return "maccor"
    return None


# --- Readers -------------------------------------------------------------------------------------


def _float(text: str) -> float | None:
    text = text.strip()
    if not text or text.upper() == "N/A":
        return None
    return float(text)


def _int(text: str) -> int | None:
    value = _float(text)
    return None if value is None else int(value)


# A current below this share of the file's largest is a rest (the noise of a resting channel).
_REST_SHARE = 1e-3


def derived_steps(current: Any, cycle: Any) -> np.ndarray:
    """Step numbers from 1 for a file without them: a new step where the cycle or the mode
    changes (charge above, discharge below, rest within `_REST_SHARE` of the largest current)."""
    amps = np.nan_to_num(np.asarray(current, dtype=np.float64))
    if amps.size == 0:
        return np.zeros(0, dtype=np.int64)
    threshold = float(np.abs(amps).max()) * _REST_SHARE
    mode = np.where(amps > threshold, 1, np.where(amps < -threshold, -1, 0))
    cycles = np.asarray(cycle, dtype=np.int64)
    changes = (mode[1:] != mode[:-1]) | (cycles[1:] != cycles[:-1])
    return np.concatenate(([1], 1 + np.cumsum(changes))).astype(np.int64)


def _steps(step: Any, current: Any, cycle: list[int]) -> list[int]:
    """The file's step numbers, a gap filled with the step before it (the first with the next);
    derived from the data (`derived_steps`) when the file has none."""
    steps = step.tolist() if isinstance(step, np.ndarray) else list(step)
    known = [value for value in steps if value is not None]
    if not known:
        return derived_steps(current, cycle).tolist()
    filled: list[int] = []
    last = int(known[0])
    for value in steps:
        last = last if value is None else int(value)
        filled.append(last)
    return filled


def _table(time: Any, voltage: Any, current: Any, cycle: Any, step: Any) -> pa.Table:
    """The BDF table from columns (lists or numpy arrays); a missing cycle number repeats the
    last, a missing step number as in `_steps`."""
    filled: list[int] = []
    last = 0  # A file without a cycle counter is one cycle, numbered 0.
    for value in cycle.tolist() if isinstance(cycle, np.ndarray) else cycle:
        last = last if value is None else int(value)
        filled.append(last)
    steps = _steps(step, current, filled)
    columns = [
        pa.array(time, pa.float64()),
        pa.array(voltage, pa.float64()),
        pa.array(current, pa.float64()),
        pa.array(filled, pa.int64()),
        pa.array(steps, pa.int64()),
    ]
    return pa.Table.from_arrays(columns, schema=RAW_SCHEMA)


def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _read_arbin(data: bytes) -> pa.Table:
    reader = csv.reader(io.StringIO(_text(data)))
    header = [_base(c) for c in next(reader)]
    col = {name: i for i, name in enumerate(header)}
    time, voltage, current, cycle, step = [], [], [], [], []
    for row in reader:
        if not row or len(row) < len(header):
            continue
        time.append(_float(row[col["test_time"]]))
        voltage.append(_float(row[col["voltage"]]))
        current.append(_float(row[col["current"]]))  # Arbin: positive on charge already.
        cycle.append(_int(row[col["cycle_index"]]) if "cycle_index" in col else None)
        step.append(_int(row[col["step_index"]]) if "step_index" in col else None)
    return _table(time, voltage, current, cycle, step)


_MACCOR_TIME = re.compile(r"^\s*(\d+)d\s+(\d+):(\d+):(\d+(?:\.\d*)?)\s*$")


def _maccor_seconds(text: str) -> float | None:
    match = _MACCOR_TIME.match(text)
    if match:
        days, hours, minutes, seconds = match.groups()
        return int(days) * 86400 + int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    return _float(text)


def _read_maccor(data: bytes) -> pa.Table:
    lines = _text(data).splitlines()
    start = next(i for i, line in enumerate(lines) if _maccor_header(line))
    header = [c.strip() for c in lines[start].split("\t")]
    col = {name: i for i, name in enumerate(header)}
    time, voltage, current, cycle, step = [], [], [], [], []
    for line in lines[start + 1 :]:
        row = line.split("\t")
        if len(row) < len(header) - 1 or not row[0].strip():
            continue
        amps = _float(row[col["Amps"]]) or 0.0
        state = row[col["State"]].strip().upper() if "State" in col else ""
        # Maccor writes the magnitude; the state says charge or discharge.
        if state == "D":
            amps = -abs(amps)
        elif state == "C":
            amps = abs(amps)
        time.append(_maccor_seconds(row[col["TestTime"]]))
        voltage.append(_float(row[col["Volts"]]))
        current.append(amps)
        cycle.append(_int(row[col["Cyc#"]]) if "Cyc#" in col else None)
        step.append(_int(row[col["Step"]]) if "Step" in col else None)
    return _table(time, voltage, current, cycle, step)


def _read_neware(path: Path) -> pa.Table:
    import NewareNDA

    from measurements.files import zip_check

    if path.suffix.lower() == ".ndax":
        zip_check(path)  # NewareNDA unzips it into a temporary folder: bound what that may write

    with warnings.catch_warnings():
        # NewareNDA still passes `inplace=` to pandas 3, which warns about it.
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        frame = NewareNDA.read(str(path))
    step_time = frame["Time"].to_numpy(dtype=np.float64)
    steps = frame["Step"].to_numpy(dtype=np.int64)
    # `Time` restarts at every step in .nda version 29 and .ndax (each step then starts where the
    # previous one ended) but runs on through the test in version 130: a step adds the previous
    # one's end only where its clock went back.
    previous = np.concatenate(([0.0], step_time[:-1]))
    starts = np.concatenate(([False], steps[1:] != steps[:-1])) & (step_time < previous)
    ends_before = np.where(starts, previous, 0.0)
    time = step_time + np.cumsum(ends_before)
    return _table(
        time,
        frame["Voltage"].to_numpy(dtype=np.float64),
        frame["Current(mA)"].to_numpy(dtype=np.float64) / 1000.0,
        frame["Cycle"].to_numpy(dtype=np.int64),
        steps,
    )


def _read_biologic(path: Path) -> pa.Table:
    from galvani import BioLogic

    data = BioLogic.MPRfile(str(path)).data
    names = data.dtype.names or ()
    n = len(data)

    def first(*candidates: str) -> str | None:
        return next((c for c in candidates if c in names), None)

    time_col, voltage_col, current_col = first("time/s"), first("Ewe/V", "<Ewe>/V"), first("I/mA", "<I>/mA")
    if time_col is None or voltage_col is None:
        raise ValueError(f"BioLogic file without time/s or Ewe/V columns: {', '.join(names)}.")
    # Without a current column (OCV) no current flows.
    current = data[current_col].astype(np.float64) / 1000.0 if current_col else np.zeros(n)
    if "cycle number" in names:
        cycle = data["cycle number"].astype(np.int64)
    elif "half cycle" in names:
        cycle = data["half cycle"].astype(np.int64) // 2
    else:
        cycle = np.zeros(n, dtype=np.int64)
    step = data["Ns"].astype(np.int64) if "Ns" in names else [None] * n
    return _table(data[time_col].astype(np.float64), data[voltage_col].astype(np.float64), current, cycle, step)


def cycler_read(file: CyclerFile, *, name: str | None = None) -> pa.Table:
    """The cycling data of one cycler file (a path or a binary file object) as a BDF table.

    `name` (the file's name, for its extension) defaults to the path's. Raises ValueError for a
    file that is none of the supported formats.
    """
    if name is None:
        if not isinstance(file, str | Path):
            raise ValueError("name is required to read a file object.")
        name = Path(file).name
    if isinstance(file, str | Path):
        with open(file, "rb") as handle:
            return _read(handle, name, Path(file))
    return _read(file, name, None)


def _read(handle: IO[bytes], name: str, path: Path | None) -> pa.Table:
    head = handle.read(HEAD_BYTES)
    kind = detect_format(name, head)
    if kind is None:
        raise ValueError(f"Unknown cycler file format for {name!r}: supported are {_SUPPORTED}.")
    if kind in ("arbin", "maccor"):
        data = head + handle.read()
        return _read_arbin(data) if kind == "arbin" else _read_maccor(data)
    reader = _read_neware if kind == "neware" else _read_biologic
    if path is not None:
        return reader(path)
    # The binary readers take a path: copy a stored file to a temporary one.
    suffix = Path(name).suffix.lower()
    with tempfile.NamedTemporaryFile(suffix=suffix) as tmp:
        tmp.write(head)
        shutil.copyfileobj(handle, tmp)
        tmp.flush()
        return reader(Path(tmp.name))
