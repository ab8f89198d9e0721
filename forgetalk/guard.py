"""The output-path guard: no output of a run may land on the evidence or on another output.

Every command that writes asks this module first. Paths are compared after resolving
symbolic links (``realpath``) and, where a file already exists, by ``(st_dev, st_ino)`` too,
so a symlink, a ``..`` detour or a hard link to the photo is caught as surely as the same
name. A scan's RESULTS folder must be new, empty, or a forgetalk scan results folder
(recognised by :data:`MARKER_NAME`), and never the evidence folder or one above it.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO

from .errors import OutputError, UsageError
from .io import NotARegularFile, atomic_write_json, open_regular, special_file_kind

#: File that marks a folder as forgetalk results, written when the folder is first claimed.
MARKER_NAME = ".forgetalk-results.json"
MARKER_SCHEMA = "forgetalk.results-folder/1"


class OutputCollisionError(UsageError):
    """An output would overwrite an input or another output of the same run (nothing is written)."""


@dataclass(frozen=True)
class _Where:
    """A path as the kernel will see it: symlinks resolved, plus the inode when it exists."""

    real: str
    inode: tuple[int, int] | None

    @classmethod
    def of(cls, path: str | os.PathLike[str]) -> _Where:
        real = os.path.realpath(os.path.abspath(os.fspath(path)))
        try:
            st = os.stat(real)
            inode: tuple[int, int] | None = (st.st_dev, st.st_ino)
        except OSError:
            inode = None
        return cls(real, inode)

    def same(self, other: _Where) -> bool:
        return self.real == other.real or (self.inode is not None and self.inode == other.inode)


def check_output_names(outputs: Mapping[str, str | os.PathLike[str] | None]) -> None:
    """Refuse an output path that names no file (``--report ""``, ``--overlay dir/``)."""
    for label, path in outputs.items():
        if path is not None and (not os.fspath(path) or not Path(path).name or os.fspath(path).endswith(os.sep)):
            raise OutputCollisionError(f"{label} {os.fspath(path)!r} names no file: give a file path")


def check_outputs(inputs: Mapping[str, str | os.PathLike[str]], outputs: Mapping[str, str | os.PathLike[str] | None]) -> None:
    """Refuse, before anything is written, outputs that resolve to an input or to each other,
    that name no file, that are symbolic links, or that exist and are not regular files
    (folders, devices, FIFOs).

    ``inputs`` and ``outputs`` map a label (``"IMAGE"``, ``"--report"``) to a path; ``None``
    outputs are not written and are ignored. Raises :class:`OutputCollisionError` naming both.
    """
    check_output_names(outputs)
    ins = [(label, path, _Where.of(path)) for label, path in inputs.items()]
    seen: list[tuple[str, str | os.PathLike[str], _Where]] = []
    for label, path in outputs.items():
        if path is None:
            continue
        if os.path.islink(path):  # the rename would replace the link itself (/dev/stdout is one)
            raise OutputCollisionError(f"{label} {path} is a symbolic link (to {os.readlink(path)}): outputs never replace a link; "
                                       "give the target's own path or another name")
        kind = special_file_kind(path)
        if kind is not None:
            raise OutputCollisionError(f"{label} {path} is a {kind}, not a file: outputs are written as new or regular files only "
                                       "(writing would replace it); choose a file path")
        where = _Where.of(path)
        for in_label, in_path, in_where in ins:
            if where.same(in_where):
                raise OutputCollisionError(
                    f"{label} {path} is the input {in_label} {in_path}: refusing to overwrite the evidence; choose another output path"
                )
        for out_label, out_path, out_where in seen:
            if where.same(out_where):
                raise OutputCollisionError(f"{label} {path} and {out_label} {out_path} are the same file: give each output its own path")
        seen.append((label, path, where))


#: The opening of every JSON file forgetalk writes to an analyst's path (``atomic_write_json``: schema
#: first, indent 2): ``analyze``'s sidecar and ``evaluate --json-out``.
_OWN_JSON_STARTS = (b'{\n  "schema": "forgetalk.report/', b'{\n  "schema": "forgetalk.evaluation/')
_PDF_TAIL = 2048
#: How much of a file's start is read to recognise it (the PNG's text chunk comes before its pixels).
_HEAD = 64 * 1024


def _own_json(head: bytes) -> bool:
    return head.startswith(_OWN_JSON_STARTS)


def _own_png(head: bytes) -> bool:
    """A ``Software`` text chunk naming forgetalk before the image data (encode_png(software=...))."""
    if not head.startswith(b"\x89PNG\r\n\x1a\n"):
        return False
    pos = 8
    while pos + 8 <= len(head):
        length, kind = int.from_bytes(head[pos:pos + 4], "big"), head[pos + 4:pos + 8]
        if kind == b"IDAT":
            return False
        if kind == b"tEXt" and head[pos + 8:pos + 8 + length].startswith(b"Software\x00forgetalk "):
            return True
        pos += 12 + length
    return False


def _own_pdf(fh: BinaryIO, size: int) -> bool:
    """The document information dictionary, found through the trailer and the cross-reference
    table as a reader finds it, names forgetalk as its Creator (build_pdf sets it)."""
    fh.seek(max(0, size - _PDF_TAIL))
    tail = fh.read()
    info, start = re.search(rb"/Info (\d+) 0 R", tail), re.search(rb"startxref\s+(\d+)\s+%%EOF\s*$", tail)
    if info is None or start is None:
        return False
    n = int(info[1])
    fh.seek(int(start[1]))
    table = fh.read(64 + 20 * (n + 1))
    head = re.match(rb"xref\r?\n0 \d+\r?\n", table)
    entry = table[head.end() + 20 * n:head.end() + 20 * n + 10] if head else b""
    if not entry.isdigit():
        return False
    fh.seek(int(entry))
    obj = fh.read(4096)
    body = obj[:obj.find(b"endobj")]
    return body.startswith(f"{n} 0 obj".encode()) and b"/Creator (forgetalk " in body


def is_foreign_file(path: str | os.PathLike[str]) -> bool:
    """True if ``path`` is a non-empty regular file that ``analyze`` (or ``evaluate --json-out``) did not write.

    Why: an output path is where the analyst typed it; a slip (``--overlay exhibit2.png``,
    ``--report notes.pdf``) silently replaced someone's file, evidence included. Re-running a
    command over its own earlier outputs must still work, so those are recognised where their
    format puts the mark, not anywhere in the file (a notes file quoting the mark, or a tar of
    an earlier case, was taken for an output): the sidecar's opening ``schema`` line, the PNG's
    ``Software`` chunk before the image data, the PDF's Creator in the information dictionary
    that its trailer names."""
    try:
        with os.fdopen(open_regular(path), "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            head = fh.read(_HEAD)
            own = _own_json(head) or _own_png(head) or (head.startswith(b"%PDF-") and _own_pdf(fh, size))
    except (FileNotFoundError, NotADirectoryError, NotARegularFile):  # a new file (or an unwritable place: the write
        return False                                                   # says so); not a regular file: check_outputs refuses
    except OSError:  # there, but unreadable: what it is cannot be told, so it is not ours to replace
        return True
    return bool(head) and not own


def inside_scan_results(path: str | os.PathLike[str]) -> Path | None:
    """The scan RESULTS folder (marked by :data:`MARKER_NAME`) that ``path`` lies in, if any."""
    for parent in Path(os.path.abspath(os.fspath(path))).parents:
        if (parent / MARKER_NAME).is_file():
            return parent
    return None


def check_not_foreign(outputs: Mapping[str, str | os.PathLike[str] | None]) -> None:
    """Refuse outputs that would replace a file ``analyze`` did not write (see :func:`is_foreign_file`),
    or land inside a scan's RESULTS folder (its manifest and ``verify`` own what is there)."""
    for label, path in outputs.items():
        results = inside_scan_results(path) if path is not None else None
        if results is not None:
            raise OutputCollisionError(f"{label} {path} is inside the scan results {results}: analyze never writes there "
                                       "(the scan's manifest lists what it holds); choose another folder")
        if path is not None and is_foreign_file(path):
            raise OutputCollisionError(f"{label} {path} exists and is not a forgetalk output: refusing to overwrite it; "
                                       "move it away or choose another path")


def results_marker_kind(folder: str | os.PathLike[str]) -> str | None:
    """The ``kind`` (``"scan"``...) named by ``folder``'s results marker, or None when the folder
    has no valid marker (none, not a regular file, unreadable, not the marker's schema).

    The scan's folder walk asks this of every sub-folder: a folder forgetalk wrote its results
    into (this run's RESULTS, an older one copied into the evidence) is outputs, not evidence."""
    try:
        with os.fdopen(open_regular(Path(folder) / MARKER_NAME), "rb") as fh:
            doc = json.loads(fh.read(64 * 1024))  # a marker is ~100 bytes; never read a huge file in full
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(doc, dict) or doc.get("schema") != MARKER_SCHEMA:
        return None
    kind = doc.get("kind")
    return kind if isinstance(kind, str) else "unknown"


def _is_within(child: str, parent: str) -> bool:
    return child == parent or child.startswith(parent.rstrip(os.sep) + os.sep)


def _is_results_folder(folder: Path, kind: str) -> bool:
    """A folder forgetalk made: its marker names ``kind`` (or, for folders from before the
    marker existed, its journal starts with a run record)."""
    if os.path.exists(folder / MARKER_NAME):  # (a dangling link counts as absent, as it always did)
        return results_marker_kind(folder) == kind
    if kind != "scan":
        return False
    try:
        with os.fdopen(open_regular(folder / "journal.jsonl"), "rb") as fh:
            first = json.loads(fh.readline() or b"null")
    except (OSError, ValueError):
        return False
    return isinstance(first, dict) and first.get("type") == "run" and isinstance(first.get("fingerprint"), str)


def _is_marker_temp(name: str) -> bool:
    """The temp file of a results marker being written (``atomic_write_json``'s ``.<name>.*.part``).

    Why it does not make a folder "not empty": it is all a new RESULTS holds while the first scan
    writes its marker, so a second scan started at the same moment was refused as "not a forgetalk
    results folder" instead of meeting the lock ("another scan is writing"), and one left by a
    scan killed at that moment refused every re-run. The scan deletes it with its other stale
    temp files."""
    return name.startswith(f".{MARKER_NAME}.") and name.endswith(".part")


def claim_results_dir(out_dir: Path, input_dir: Path, kind: str = "scan") -> Path:
    """Create or reuse a RESULTS folder, refusing anything that could touch the evidence.

    Allowed: a new folder, an empty one, or one this tool made for the same ``kind`` of run
    (resume). Refused (exit 2): the input folder itself, a folder that contains it, or any
    other non-empty folder. Returns the absolute path; the marker is written on first use.
    """
    out_abs, in_abs = Path(os.path.abspath(out_dir)), Path(os.path.abspath(input_dir))
    out_real, in_real = os.path.realpath(out_abs), os.path.realpath(in_abs)
    if _Where.of(out_abs).same(_Where.of(in_abs)):
        raise OutputCollisionError(f"--out {out_dir} is the evidence folder {input_dir}: results must go to a new or empty folder")
    if _is_within(in_real, out_real):
        raise OutputCollisionError(f"--out {out_dir} contains the evidence folder {input_dir}: results must go to a new or empty folder")
    if os.path.lexists(out_abs) and not out_abs.is_dir():
        raise OutputCollisionError(f"--out {out_dir} exists and is not a folder")
    if out_abs.is_dir():
        try:
            entries = os.listdir(out_abs)
        except OSError as exc:
            raise OutputError(f"{out_dir}: cannot read the results folder ({exc.strerror or exc})") from None
        entries = [e for e in entries if not _is_marker_temp(e)]
        if entries and not _is_results_folder(out_abs, kind):
            raise OutputCollisionError(
                f"--out {out_dir} is not empty and is not a forgetalk {kind} results folder: use a new or empty folder "
                "(nothing was written)"
            )
    try:
        out_abs.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{out_abs}: cannot create results folder ({exc.strerror or exc})") from None
    if not os.access(out_abs, os.W_OK):
        raise OutputError(f"{out_abs}: results folder is not writable")
    if not (out_abs / MARKER_NAME).exists():
        atomic_write_json(out_abs / MARKER_NAME, {"schema": MARKER_SCHEMA, "kind": kind,
                                                   "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds")})
    return out_abs
