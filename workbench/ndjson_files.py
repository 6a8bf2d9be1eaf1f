"""Reading an export's NDJSON files line by line, whatever a hospital's tooling wrote: gzip (``.ndjson.gz``),
a UTF-8 byte-order mark, UTF-16 (with or without a byte-order mark), lines in Latin-1, and lines too
long to hold. Every line comes out as UTF-8 bytes; what had to be decoded or left out is recorded per
file in `FileReport`, so the report names the file.

A line longer than the cap is never held whole: it is read in cap-sized pieces until its end and
skipped.
"""

from __future__ import annotations

import codecs
import gzip
import io
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, cast

DEFAULT_MAX_LINE_BYTES = 64 * 1024 * 1024
NDJSON_SUFFIXES = (".ndjson", ".jsonl", ".ndjson.gz", ".jsonl.gz")
_SNIFF = 4


@dataclass
class FileReport:
    """What reading the files of an export found, by file name."""

    encodings: dict[str, str] = field(default_factory=dict)  # file -> encoding, when not plain UTF-8
    encoding_errors: Counter[str] = field(default_factory=Counter)  # file -> lines not in its encoding
    oversized_lines: Counter[str] = field(default_factory=Counter)  # file -> lines over the cap, skipped
    skipped_files: dict[str, str] = field(default_factory=dict)  # file -> why it was not read


def is_ndjson_name(name: str) -> bool:
    return name.endswith(NDJSON_SUFFIXES)


def _open(path: Path) -> io.BufferedReader:
    """A buffered binary stream that can peek at its first bytes (decompressed for .gz)."""
    if path.name.endswith(".gz"):
        return io.BufferedReader(cast(io.RawIOBase, gzip.GzipFile(path, "rb")))
    return path.open("rb")


def _utf16(head: bytes) -> str | None:
    """UTF-16 by its byte-order mark, or by the NUL byte beside each ASCII character of JSON."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if len(head) >= 2 and head[0] != 0 and head[1] == 0:
        return "utf-16-le"
    if len(head) >= 2 and head[0] == 0 and head[1] != 0:
        return "utf-16-be"
    return None


def _bounded_lines(stream: BinaryIO, cap: int, name: str, report: FileReport) -> Iterator[bytes]:
    while True:
        line = stream.readline(cap + 1)
        if not line:
            return
        if len(line) > cap and not line.endswith(b"\n"):
            report.oversized_lines[name] += 1
            while True:  # the rest of the line, piece by piece, never held whole
                rest = stream.readline(cap)
                if not rest or rest.endswith(b"\n"):
                    break
            continue
        yield line


def _text_lines(stream: BinaryIO, encoding: str, cap: int, name: str, report: FileReport) -> Iterator[bytes]:
    text = io.TextIOWrapper(stream, encoding=encoding, errors="replace", newline=None)
    cap_chars = max(1, cap // 2)
    while True:
        line = text.readline(cap_chars + 1)
        if not line:
            return
        if len(line) > cap_chars and not line.endswith("\n"):
            report.oversized_lines[name] += 1
            while True:
                rest = text.readline(cap_chars)
                if not rest or rest.endswith("\n"):
                    break
            continue
        if "\ufffd" in line:
            report.encoding_errors[name] += 1
        yield line.lstrip("\ufeff").encode("utf-8")


def _utf8_lines(lines: Iterator[bytes], name: str, report: FileReport) -> Iterator[bytes]:
    first = True
    for line in lines:
        if first and line.startswith(codecs.BOM_UTF8):
            report.encodings[name] = "utf-8 with byte-order mark"
            line = line[len(codecs.BOM_UTF8) :]
        first = False
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            # Not UTF-8: read as Latin-1 (every byte is a character) and counted against the file.
            report.encoding_errors[name] += 1
            report.encodings.setdefault(name, "utf-8, some lines latin-1")
            line = line.decode("latin-1").encode("utf-8")
        yield line


def file_lines(path: Path, report: FileReport, cap: int = DEFAULT_MAX_LINE_BYTES) -> Iterator[bytes]:
    """The lines of one NDJSON file as UTF-8 bytes. Raises OSError when the file cannot be opened."""
    name = path.name
    with _open(path) as buffered:
        try:
            head = buffered.peek(_SNIFF)[:_SNIFF]
        except (OSError, EOFError) as error:
            report.skipped_files[name] = f"cannot be read ({type(error).__name__})"
            return
        encoding = _utf16(head)
        if encoding is not None:
            report.encodings[name] = encoding
            yield from _text_lines(buffered, encoding, cap, name, report)
            return
        try:
            yield from _utf8_lines(_bounded_lines(buffered, cap, name, report), name, report)
        except (OSError, EOFError, gzip.BadGzipFile) as error:
            # A truncated or corrupt .gz: what was read is kept, the rest is reported.
            report.skipped_files[name] = f"stops early: {type(error).__name__}"
