"""File helpers shared by the readers and writers: plain, gzip or bzip2 text in; whole files out.

Compression is recognised by the file's first bytes (gzip ``1f 8b``, bzip2 ``BZh``), so a relax state
saved without an extension still reads. Writers compress by extension (``.gz``, ``.bz2``) and write to a
temporary file in the same folder that replaces the target only when complete, so a failed or interrupted
write never leaves a half-written file.
"""
from __future__ import annotations

import bz2
import contextlib
import gzip
import io
import os
import re
import tempfile


def read_text(path) -> str:
    """The whole text of ``path`` (plain, .gz or .bz2); ValueError naming the file if it cannot be read."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ValueError(f"{path}: no such file")
    if os.path.isdir(path):
        raise ValueError(f"{path}: is a folder, not a file")
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        elif raw[:3] == b"BZh":
            raw = bz2.decompress(raw)
        return raw.decode("utf-8")
    except (OSError, EOFError, ValueError) as err:      # UnicodeDecodeError is a ValueError
        raise ValueError(f"{path}: cannot be read as text ({err})") from None


def read_lines(path) -> list[str]:
    """Lines of ``path`` without their line ends (line k of the file is element k - 1)."""
    return read_text(path).splitlines()


@contextlib.contextmanager
def atomic_writer(path):
    """``with atomic_writer(path) as out: out.write(...)``: the file appears complete or not at all."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ValueError(f"{path}: the folder {folder} does not exist")
    buffer = io.StringIO()
    yield buffer
    data = buffer.getvalue().encode("utf-8")
    if path.endswith(".gz"):
        data = gzip.compress(data)
    elif path.endswith(".bz2"):
        data = bz2.compress(data)
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".mfjax-", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.chmod(temporary, 0o666 & ~umask())          # mkstemp makes it private; a results file is not
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(temporary)
        raise


def parse_label(label: str) -> tuple[int | None, str]:
    """"2 ALA" -> (2, "ALA"); "7" -> (7, ""); "A12" -> (None, "A12") (lenient: results tables)."""
    head, _, tail = str(label).partition(" ")
    if re.fullmatch(r"-?[1-9][0-9]*|0", head):
        return int(head), tail
    return None, str(label)


def join_label(number, name) -> str:
    """The inverse of :func:`parse_label`."""
    return " ".join(str(p) for p in (number, name) if p not in (None, ""))


def umask() -> int:
    """The process's file-creation mask (read without changing it)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def split_label(label: str) -> tuple[int, str]:
    """(number, name) of a residue label "12 ALA" as the readers form them; ValueError otherwise."""
    number, name = parse_label(label)
    if number is None or not name or " " in name:
        raise ValueError(f"residue label {label!r} is not 'number name' (e.g. '12 ALA'), "
                         "which this file format needs")
    return number, name
