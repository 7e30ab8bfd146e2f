"""Which files a measurement may carry, how big, and how they are handed back.

A file is taken only in a type its parameter allows (`Parameter.file_types`, empty = DEFAULT_TYPES)
and only if its first bytes look like that type, so an HTML page renamed `.png` is refused. No
type that a browser would run (HTML, SVG, scripts, executables) is known here, so no parameter
can allow one. Zip-based types (xlsx, Neware .ndax) are also bounded in what they unzip to.
"""

import hashlib
import re
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler
from django.http import FileResponse

from core.errors import ErrorCode, InvalidInput

_HEAD_BYTES = 512


def _starts(*magics: bytes) -> Callable[[bytes], bool]:
    return lambda head: head.startswith(magics)


_MARKUP = (b"<!doctype", b"<html", b"<script", b"<svg", b"<?xml", b"<body", b"<iframe")


def _plain_text(head: bytes) -> bool:
    """Text without NUL bytes that does not open like markup (a page renamed .csv)."""
    lowered = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return b"\x00" not in head and not lowered.startswith(b"<") and not any(m in lowered for m in _MARKUP)


@dataclass(frozen=True)
class FileType:
    extension: str
    media_type: str
    looks_like: Callable[[bytes], bool]


_ZIP = _starts(b"PK\x03\x04")
_TYPES = [
    FileType("png", "image/png", _starts(b"\x89PNG\r\n\x1a\n")),
    FileType("jpg", "image/jpeg", _starts(b"\xff\xd8\xff")),
    FileType("jpeg", "image/jpeg", _starts(b"\xff\xd8\xff")),
    FileType("tif", "image/tiff", _starts(b"II*\x00", b"MM\x00*")),
    FileType("tiff", "image/tiff", _starts(b"II*\x00", b"MM\x00*")),
    FileType("bmp", "image/bmp", _starts(b"BM")),
    FileType("pdf", "application/pdf", _starts(b"%PDF-")),
    FileType("csv", "text/csv", _plain_text),
    FileType("txt", "text/plain", _plain_text),  # Maccor text exports among others
    FileType("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", _ZIP),
    FileType("nda", "application/octet-stream", _starts(b"NEWARE")),
    FileType("ndax", "application/zip", _ZIP),
    FileType("mpr", "application/octet-stream", _starts(b"BIO-LOGIC MODULAR FILE")),
    FileType("res", "application/x-msaccess", _starts(b"\x00\x01\x00\x00Standard Jet DB")),  # Arbin
    # Maccor names its text exports by channel number (`.001` to `.999`): one type for them all.
    FileType("maccor", "text/plain", _plain_text),
]
TYPES = {t.extension: t for t in _TYPES}
DEFAULT_TYPES = tuple(TYPES)
_ZIP_TYPES = {"xlsx", "ndax"}


def _normalise(entry: str) -> list[str]:
    """`.PNG`, `png` and `image/png` alike: the extensions an entry of file_types names."""
    entry = entry.strip().lower().lstrip(".")
    if "/" in entry:
        return [t.extension for t in _TYPES if t.media_type == entry]
    return [entry] if entry in TYPES else []


def file_types_unknown(entries: Iterable[str]) -> list[str]:
    """The entries of a parameter's file_types that name no type known here."""
    return [entry for entry in entries if not _normalise(entry)]


def allowed_types(entries: Iterable[str]) -> list[str]:
    """The extensions a parameter takes (its file_types, or DEFAULT_TYPES when empty)."""
    allowed = [extension for entry in entries for extension in _normalise(entry)]
    return list(dict.fromkeys(allowed)) if allowed else list(DEFAULT_TYPES)


def _refuse(message: str) -> InvalidInput:
    return InvalidInput(message, field="file", code=ErrorCode.BAD_FILE)


def size_limit_check(size: int | None) -> None:
    limit = settings.CELLTRACE_MAX_FILE_BYTES
    if size is not None and size > limit:
        raise _refuse(f"The file is {size} bytes or more; the limit is {limit}.")


def upload_check(*, parameter: str, file_types: Iterable[str], upload: UploadedFile) -> tuple[str, int]:
    """(sha256, size) of an upload the parameter takes; else InvalidInput naming `file`."""
    upload_type_check(parameter=parameter, file_types=file_types, upload=upload)
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    return digest.hexdigest(), int(upload.size or 0)


def upload_type_check(*, parameter: str, file_types: Iterable[str], upload: UploadedFile) -> None:
    """InvalidInput naming `file` unless the upload is a file the parameter takes (size, type by
    name and content, a sound archive); reads only its head (and an archive's directory)."""
    size_limit_check(upload.size)
    name = upload.name or ""
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if re.fullmatch(r"\d{3}", extension):
        extension = "maccor"
    allowed = allowed_types(file_types)
    if extension not in allowed:
        raise _refuse(f"{parameter} takes {', '.join(allowed)} files, not {extension or 'a file without extension'}.")
    upload.seek(0)
    head = upload.read(_HEAD_BYTES)
    if not TYPES[extension].looks_like(head):
        raise _refuse(f"The content of {name} is not a {extension} file; {parameter} takes {', '.join(allowed)}.")
    upload.seek(0)
    if extension in _ZIP_TYPES:
        try:
            zip_check(upload, stream=False)
        except ValueError as error:
            raise _refuse(f"{name} is refused: {error}.") from None
        upload.seek(0)


# --- Zip archives --------------------------------------------------------------------------------


def zip_check(source: str | Path | IO[bytes], *, stream: bool = True) -> None:
    """Refuse (ValueError) an archive that would unzip to more than CELLTRACE_MAX_UNZIPPED_BYTES
    or at a ratio above CELLTRACE_MAX_UNZIP_RATIO. The sizes in the archive's directory are
    checked first; with `stream`, every member is then decompressed (and thrown away) under a
    byte cap, so that an archive lying about its sizes is caught too."""
    limit = settings.CELLTRACE_MAX_UNZIPPED_BYTES
    ratio = settings.CELLTRACE_MAX_UNZIP_RATIO
    try:
        with zipfile.ZipFile(source) as archive:
            members = archive.infolist()
            declared = sum(m.file_size for m in members)
            compressed = sum(m.compress_size for m in members)
            _zip_bounds(declared, compressed, limit, ratio)
            if stream:
                total = 0
                for member in members:
                    with archive.open(member) as handle:
                        while chunk := handle.read(1 << 20):
                            total += len(chunk)
                            _zip_bounds(total, compressed, limit, ratio)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError) as error:
        raise ValueError(f"not a readable zip archive ({error})") from None


def _zip_bounds(unzipped: int, compressed: int, limit: int, ratio: float) -> None:
    if unzipped > limit:
        raise ValueError(f"it unzips to more than {limit} bytes")
    if unzipped > ratio * max(compressed, 1) and unzipped > 1 << 20:
        raise ValueError(f"it unzips to more than {ratio:g} times its size")


# --- Upload size, as the body arrives ------------------------------------------------------------


class FileSizeLimitHandler(FileUploadHandler):
    """First of a request's upload handlers: refuses a file part past CELLTRACE_MAX_FILE_BYTES as
    its bytes arrive (or at once when the part declares a larger length), before the handlers
    after it have stored the whole of it in memory or on disk."""

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        size_limit_check(self.content_length)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        size_limit_check(start + len(raw_data))
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None


def multipart_limit_check(content_length: object) -> None:
    """A multipart body longer than a file and the form fields can be is refused unread."""
    try:
        length = int(str(content_length or 0))
    except ValueError:
        return
    limit = settings.CELLTRACE_MAX_FILE_BYTES + settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if length > limit:
        raise _refuse(f"The request body is {length} bytes; a file may be {settings.CELLTRACE_MAX_FILE_BYTES}.")


# --- Messages ------------------------------------------------------------------------------------

# An absolute path (POSIX or Windows) inside a message: the server's folders are nobody's business.
_PATH = re.compile(r"(?<![\w.])(?:[A-Za-z]:)?(?:[\\/][^\s'\"\\/]+)+")


def without_paths(text: str) -> str:
    """`text` with every absolute path cut to its last part (`/tmp/x/data.nda` -> `data.nda`)."""
    return _PATH.sub(lambda match: re.split(r"[\\/]", match.group(0))[-1], text)


def public_message(error: BaseException) -> str:
    """What an error may tell a client: its text without server paths, else its type's name."""
    return without_paths(str(error)).strip() or type(error).__name__


# --- Download ------------------------------------------------------------------------------------


def attachment_response(file: Any, *, sha256: str) -> FileResponse:
    """A stored file as a download, never rendered: attachment, octet-stream, no sniffing."""
    name = Path(file.name).name
    response = FileResponse(file.open("rb"), as_attachment=True, filename=name, content_type="application/octet-stream")
    response["X-Content-Type-Options"] = "nosniff"
    response["X-Content-SHA256"] = sha256
    return response
