"""The same report twice is the same file: the xlsx and docx packages (zip files) rewritten with fixed entry times,
in the order the library wrote them, and with core properties (creator, created = modified) of our own, so that
two exports differ only where their creation time is written (docProps/core.xml)."""

from __future__ import annotations

import shutil
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, BinaryIO
from xml.sax.saxutils import escape

CORE_PROPERTIES = "docProps/core.xml"
CREATOR = "Oma Hämeen lausuntopalvelu"
COPY_CHUNK = 1024 * 1024
WriteEntry = Callable[[IO[bytes]], None]
# Fast deflate: a report is made while someone waits for it; the file is a little larger than at the default level.
COMPRESS_LEVEL = 1


def entry(zip_file: zipfile.ZipFile, name: str) -> IO[bytes]:
    """An entry to write: by name, so it takes the zip file's compression and level and the time zip entries
    have when nobody gives them one (1980-01-01), whoever writes it and whenever."""
    return zip_file.open(name, "w")


def core_properties(title: str, created: datetime) -> bytes:
    """docProps/core.xml: who made the file and when (created and modified are the same moment), in Finnish."""
    when = created.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" '
        'xmlns:dcmitype="http://purl.org/dc/dcmitype/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        f"<dc:title>{escape(title)}</dc:title><dc:creator>{escape(CREATOR)}</dc:creator>"
        f"<cp:lastModifiedBy>{escape(CREATOR)}</cp:lastModifiedBy><dc:language>fi-FI</dc:language>"
        "<cp:revision>1</cp:revision>"
        f'<dcterms:created xsi:type="dcterms:W3CDTF">{when}</dcterms:created>'
        f'<dcterms:modified xsi:type="dcterms:W3CDTF">{when}</dcterms:modified>'
        "</cp:coreProperties>"
    ).encode()


class PackageWriter:
    """A package (zip) being written: the entries of a library's file copied with fixed times and our core
    properties, and an entry of our own streamed in (the document's body, which never has to fit in memory)."""

    def __init__(self, target: BinaryIO, *, title: str, created: datetime) -> None:
        self.title = title
        self.created = created
        self.zip = zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=COMPRESS_LEVEL)

    def copy(self, source: Path, *, leave_out: frozenset[str] = frozenset()) -> None:
        """Every entry of `source` but those left out, in its order; its core properties replaced by ours."""
        with zipfile.ZipFile(source) as package:
            names = package.namelist()
            if CORE_PROPERTIES not in names:
                raise ValueError(f"{source.name} has no {CORE_PROPERTIES}")
            for name in names:
                if name in leave_out:
                    continue
                with entry(self.zip, name) as out:
                    if name == CORE_PROPERTIES:
                        out.write(core_properties(self.title, self.created))
                        continue
                    with package.open(name) as original:
                        shutil.copyfileobj(original, out, COPY_CHUNK)

    def open(self, name: str) -> IO[bytes]:
        """An entry to write into (one at a time)."""
        return entry(self.zip, name)

    def close(self) -> None:
        self.zip.close()


def repack(source: Path, target: BinaryIO, *, title: str, created: datetime) -> None:
    """`source` as the same package with fixed entry times and our core properties."""
    package = PackageWriter(target, title=title, created=created)
    try:
        package.copy(source)
    finally:
        package.close()


class FixedTimeZipFile(zipfile.ZipFile):
    """A zip file whose entries carry no time of their own, for a library that writes its package itself
    (openpyxl): whatever it writes, from memory or from a temporary file, is written as `entry` makes it. An entry
    named in `replace` is written by that function instead of from the library's content (a part made by us)."""

    def __init__(self, *args: Any, replace: dict[str, WriteEntry] | None = None, **options: Any) -> None:
        super().__init__(*args, **options)
        self.replace = dict(replace or {})
        self.replaced: set[str] = set()

    def write(self, filename, arcname=None, compress_type=None, compresslevel=None) -> None:  # noqa: ANN001
        name = str(arcname or filename)
        if self._replaced(name):
            return
        with open(filename, "rb") as source, entry(self, name) as out:
            shutil.copyfileobj(source, out, COPY_CHUNK)

    def writestr(self, zinfo_or_arcname, data, compress_type=None, compresslevel=None) -> None:  # noqa: ANN001
        name = zinfo_or_arcname.filename if isinstance(zinfo_or_arcname, zipfile.ZipInfo) else zinfo_or_arcname
        if self._replaced(name):
            return
        with entry(self, name) as out:
            out.write(data.encode() if isinstance(data, str) else data)

    def _replaced(self, name: str) -> bool:
        if name not in self.replace:
            return False
        with entry(self, name) as out:
            self.replace[name](out)
        self.replaced.add(name)
        return True

    def close(self) -> None:
        missing = set(self.replace) - self.replaced if self.fp is not None else set()
        super().close()
        if missing:
            raise RuntimeError(
                f"the package has no {', '.join(sorted(missing))} to replace: its parts are named otherwise"
            )
