"""The export disk fills up while an export is written: the export fails saying so
(export_no_space), and nothing of it is left on that disk, neither a half file nor a whole one.

The disk is a small tmpfs mounted for the test (root only), almost filled beforehand, so that
the export, measured first on a roomy disk, does not fit in the room left."""

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User

from datasets.models import Export, ExportStatus
from datasets.runs import EXPORT_NO_SPACE, export_run
from tests.factories import build_line

pytestmark = [pytest.mark.faults, pytest.mark.django_db]

SIZE = 1024 * 1024


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(  # noqa: S603
        ["mount", "-t", "tmpfs", "-o", f"size={SIZE}", "tmpfs", str(disk)],  # noqa: S607
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", str(disk)], check=True)  # noqa: S603,S607


def _fill(disk: Path, room: int) -> None:
    """Leave `room` bytes free on the disk."""
    stat = os.statvfs(disk)
    free = stat.f_bavail * stat.f_frsize
    assert free > room, (free, room)
    (disk / "filler").write_bytes(b"\0" * (free - room))


def _export(engineer: User) -> Export:
    # JSON lines: every row names its columns, the widest of the formats.
    return Export.objects.create(created_by=engineer, granularity="cell", format="jsonl", request_sha256="x")


def _files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file() and p.name != "filler")


@pytest.mark.parametrize("full", ["work", "storage"])
def test_a_full_export_disk_fails_the_export_saying_so_and_leaves_no_file(
    full: str, engineer: User, stations: Any, settings: Any, tmp_path: Path, small_disk: Path
) -> None:
    build_line(engineer, sheets_per_lane=48, sheets_per_cell=1)  # 96 cells
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.CELLTRACE_EXPORT_WORK_DIR = tmp_path / "work"
    measured = export_run(_export(engineer).pk)
    assert measured is not None and measured.status == ExportStatus.DONE, measured and measured.error
    size = measured.file.size
    assert size > 16 * 1024, size  # several pages of the tmpfs: half of it cannot fit

    # Either the work directory (where the file is written) or the storage (where it is kept)
    # is on the small disk; the other stays roomy.
    if full == "work":
        settings.CELLTRACE_EXPORT_WORK_DIR = small_disk / "work"
    else:
        settings.MEDIA_ROOT = small_disk / "media"
    _fill(small_disk, size // 2)
    failed = export_run(_export(engineer).pk)
    assert failed is not None and failed.status == ExportStatus.FAILED
    assert EXPORT_NO_SPACE in failed.error and "no space left" in failed.error, failed.error
    assert "/" not in failed.error  # no server path
    assert not failed.file and failed.tables == {} and failed.rows is None
    assert _files(small_disk) == []  # no half file on the full disk
    assert not list((tmp_path / "work").glob(f"export-{failed.pk}*"))
