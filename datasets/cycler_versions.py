"""The format version of a cycler file, checked before it is read: a version the reader does not
know is refused, naming what was found and what is supported, rather than read by guess (the
most common complaint in the issue trackers of NewareNDA and galvani: a new firmware writes a
layout the reader takes for another and returns wrong numbers, or none).

- Neware `.nda`: the byte at offset 14; NewareNDA reads versions 29 and 130.
- Neware `.ndax`: a zip archive whose `data.ndc` gives its file type (byte 0) and version (byte
  2); supported are the pairs NewareNDA has a reader for.
- BioLogic `.mpr`: the version of the `VMP data` module (galvani reads 0, 2 and 3); the modules
  are walked to the end, so a truncated file is refused here too.
- Text: an Arbin (or generic) CSV header with `Test_Time`, `Current`, `Voltage`, units in
  brackets only as the reader converts them (s, A, V); a Maccor text export (`Rec#` header).
"""

import functools
import io
import re
import struct
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from .cycler_files import HEAD_BYTES, _base, detect_format

NDA_VERSIONS = (29, 130)  # NewareNDA.read_nda's branches
MPR_DATA_VERSIONS = (0, 2, 3)  # galvani.BioLogic.MPRfile's branches
# The units the CSV reader takes each column in (none given: these).
CSV_UNITS = {"test_time": ("", "s"), "current": ("", "a"), "voltage": ("", "v")}
READER_VERSION = "1"  # of the text readers in cycler_files; raise it when what they read changes
_NDA_HEADER = 1024  # NewareNDA finds the first record at or after this offset


class UnsupportedCyclerFile(ValueError):
    """A cycler file of a format version the readers do not know, or not readable at all."""


@dataclass(frozen=True)
class CyclerFileVersion:
    kind: str  # one of cycler_files.FORMATS
    format: str  # "neware-nda 130": format and format version, as stored on the measurement
    reader: str  # "NewareNDA v2026.06.11": the reader and its version


def _library(name: str) -> str:
    try:
        return f"{name} {metadata.version(name)}"
    except metadata.PackageNotFoundError:
        return name


def ndc_supported() -> list[tuple[int, int]]:
    """(version, file type) pairs of the `.ndc` files NewareNDA has a reader for."""
    from NewareNDA import NewareNDAx

    pairs = (re.fullmatch(r"_read_ndc_(\d+)_filetype_(\d+)", name) for name in dir(NewareNDAx))
    return sorted((int(m[1]), int(m[2])) for m in pairs if m)


def _neware_reader() -> str:
    import NewareNDA

    return f"NewareNDA {NewareNDA.__version__}"


def _nda_version(data: bytes) -> CyclerFileVersion:
    if not data.startswith(b"NEWARE") or len(data) < 15:
        raise UnsupportedCyclerFile("not a Neware .nda file (no NEWARE header)")
    version = data[14]
    if version not in NDA_VERSIONS:
        supported = ", ".join(str(v) for v in NDA_VERSIONS)
        raise UnsupportedCyclerFile(f"Neware .nda version {version} is not supported (supported: {supported})")
    if len(data) <= _NDA_HEADER:
        raise UnsupportedCyclerFile(f"Neware .nda version {version} ends within its header: truncated")
    return CyclerFileVersion("neware", f"neware-nda {version}", _neware_reader())


def _ndax_version(data: bytes) -> CyclerFileVersion:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if "data.ndc" not in archive.namelist():
                raise UnsupportedCyclerFile("Neware .ndax without data.ndc is not supported")
            with archive.open("data.ndc") as member:
                head = member.read(3)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError) as error:
        raise UnsupportedCyclerFile(f"not a readable Neware .ndax archive (truncated?): {error}") from None
    if len(head) < 3:
        raise UnsupportedCyclerFile("Neware .ndax whose data.ndc is empty: truncated")
    filetype, version = head[0], head[2]
    pairs = ndc_supported()
    if (version, filetype) not in pairs:
        known = ", ".join(sorted({str(v) for v, _ in pairs}, key=int))
        raise UnsupportedCyclerFile(
            f"Neware .ndax data.ndc version {version} (file type {filetype}) is not supported "
            f"(supported ndc versions: {known})"
        )
    return CyclerFileVersion("neware", f"neware-ndax ndc {version}", _neware_reader())


def _mpr_version(data: bytes) -> CyclerFileVersion:
    from galvani.BioLogic import MPR_MAGIC, read_VMP_modules

    if not data.startswith(MPR_MAGIC):
        raise UnsupportedCyclerFile("not a BioLogic .mpr file (no BIO-LOGIC MODULAR FILE header)")
    handle = io.BytesIO(data)
    handle.seek(len(MPR_MAGIC))
    try:
        modules = list(read_VMP_modules(handle))
    except (OSError, ValueError, struct.error) as error:
        raise UnsupportedCyclerFile(f"BioLogic .mpr not readable to its end (truncated?): {_one_line(error)}") from None
    versions = [int(m["version"]) for m in modules if m["shortname"].strip() == b"VMP data"]
    if len(versions) != 1:
        raise UnsupportedCyclerFile(f"BioLogic .mpr with {len(versions)} data modules (one expected)")
    if versions[0] not in MPR_DATA_VERSIONS:
        supported = ", ".join(str(v) for v in MPR_DATA_VERSIONS)
        raise UnsupportedCyclerFile(
            f"BioLogic .mpr data module version {versions[0]} is not supported (supported: {supported})"
        )
    return CyclerFileVersion("biologic", f"biologic-mpr data {versions[0]}", _library("galvani"))


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


def _csv_version(head: bytes) -> CyclerFileVersion:
    line = head.decode("utf-8", errors="replace").lstrip("\ufeff").splitlines()[0]
    for column in line.split(","):
        base = _base(column)
        match = re.search(r"[\(\[]\s*([^\)\]]*)\s*[\)\]]", column)
        unit = match.group(1).strip().lower() if match else ""
        if base in CSV_UNITS and unit not in CSV_UNITS[base]:
            raise UnsupportedCyclerFile(
                f"Arbin CSV column {column.strip()!r}: unit {unit!r} is not supported "
                "(Test_Time in s, Current in A, Voltage in V)"
            )
    units = "with units" if "(" in line or "[" in line else "without units"
    return CyclerFileVersion("arbin", f"arbin-csv {units}", f"celltrace-csv {READER_VERSION}")


@functools.cache
def supported() -> str:
    """What the readers take, for a refusal's message."""
    ndc = ", ".join(sorted({str(v) for v, _ in ndc_supported()}, key=int))
    return (
        f"Neware .nda versions {', '.join(str(v) for v in NDA_VERSIONS)}; Neware .ndax with data.ndc versions {ndc}; "
        f"BioLogic .mpr data module versions {', '.join(str(v) for v in MPR_DATA_VERSIONS)}; Arbin or generic CSV "
        "with Test_Time (s), Current (A), Voltage (V); Maccor text export (Rec# header)"
    )


def is_cycler_name(name: str) -> bool:
    """A name only cycler files have: `.nda`, `.ndax`, `.mpr`, or Maccor's `.001` to `.999`."""
    suffix = Path(name).suffix.lower()
    return suffix in (".nda", ".ndax", ".mpr") or bool(re.fullmatch(r"\.\d{3}", suffix))


def cycler_version(name: str, data: bytes) -> CyclerFileVersion:
    """The format version of a cycler file (its name and bytes); UnsupportedCyclerFile, whose
    message names what was found and what is supported, for one the readers do not know."""
    suffix = Path(name).suffix.lower()
    if suffix == ".nda":
        return _nda_version(data)
    if suffix == ".ndax":
        return _ndax_version(data)
    if suffix == ".mpr":
        return _mpr_version(data)
    head = data[:HEAD_BYTES]
    kind = detect_format(name, head)
    if kind == "arbin":
        return _csv_version(head)
    if kind == "maccor":
        return CyclerFileVersion("maccor", "maccor-text", f"celltrace-maccor {READER_VERSION}")
    text = head.decode("utf-8", errors="replace").splitlines()
    found = f"a header {text[0][:80]!r}" if text and text[0].isprintable() else "no text header"
    raise UnsupportedCyclerFile(f"{Path(name).name}: no cycler layout recognised ({found})")
