"""Lazy, loop-safe folder walk that turns a directory into a stream of candidate files.

Evidence dumps are large and messy (symlink farms, unreadable sub-folders, ``.DS_Store``,
sidecar text files), so the walk never materialises the folder: it yields one entry at a
time in a deterministic (name-sorted per folder) order, so a re-run after a crash sees the
same files in the same order. Anything it cannot or will not analyse is yielded as a
:class:`Skipped` entry with a reason, so the index accounts for every name it met.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..guard import MARKER_NAME, results_marker_kind
from ..io import EXTENSION_FORMATS

#: Extensions tried by default (case-insensitive): those whose format the decoder knows. ``--pattern`` replaces this filter.
IMAGE_EXTENSIONS: frozenset[str] = frozenset(EXTENSION_FORMATS)


@dataclass(frozen=True)
class Candidate:
    """A regular file (possibly reached through a symlink) that should be analysed."""

    path: Path  # absolute path as walked (symlinks not resolved: that is the name the analyst knows)
    rel: str  # path relative to the scanned root, '/'-separated
    size: int


@dataclass(frozen=True)
class Skipped:
    """A name that was seen but not analysed.

    ``failed`` is True when the analyst asked for this entry and we could not read it
    (permission denied, broken symlink); False for deliberate skips (hidden files,
    non-image extensions, symlink loops, the results folder itself and any other forgetalk
    results folder (one with a results marker), devices, FIFOs, sockets and pseudo-files).
    """

    path: Path
    rel: str
    reason: str
    failed: bool = False


#: The reason of a pseudo-file's ``skipped`` row. Why it is never hashed: its content is made by
#: the kernel each time it is read (``/proc/self/status`` differs from one read to the next), so a
#: hash in the manifest made ``verify`` report it changed, and every re-run report it departed.
PSEUDO_FILE_REASON = "pseudo-file (content made by the kernel when read, as /proc and /sys files are): not a stored file, never hashed"


#: The reason of the current RESULTS folder's ``skipped`` row (when it lies inside the scanned folder).
CURRENT_RESULTS_REASON = "results folder of this scan (--out): its files are outputs, not evidence; not scanned"

#: How every ``skipped`` row of a forgetalk results folder starts (the progress lines show these).
RESULTS_FOLDER_PREFIX = "forgetalk results folder"


def results_folder_reason(kind: str) -> str:
    """The ``skipped`` reason of a sub-folder that carries a forgetalk results marker (an older
    RESULTS copied into the evidence, or one scanned into earlier). Why skipped: its overlays and
    thumbnails are forgetalk's own renderings, which the engines flag as manipulated, so they took
    the top of the triage index. Why said so: a marker planted in an evidence folder would
    otherwise hide it; the row (and a progress line) names the folder and the marker file."""
    return (f"{RESULTS_FOLDER_PREFIX} ({kind} results: it holds {MARKER_NAME}): outputs of an earlier forgetalk run, "
            f"not evidence; not scanned. If it is evidence, delete its {MARKER_NAME} or scan it as DIR")


def pseudo_fs_devices() -> frozenset[int]:
    """``st_dev`` of the ``/proc`` and ``/sys`` mounts (none where they are not mounted: a bare
    folder of that name is an ordinary folder of the root filesystem)."""
    return frozenset(os.stat(p).st_dev for p in ("/proc", "/sys") if os.path.ismount(p))


def is_pseudo_file(path: Path, st: os.stat_result, pseudo_devs: frozenset[int] = frozenset()) -> bool:
    """A "regular" file that is not stored content: on ``/proc`` or ``/sys``, or (any other kernel
    filesystem) one that reports 0 bytes yet reads data, as ``forgetalk.io.read_input_bytes`` refuses.

    One byte is read from a 0-byte file, non-blocking (``/proc/kmsg`` would wait for the next
    kernel message); a file that cannot be opened is left to the hashing, which reports it."""
    if st.st_dev in pseudo_devs:
        return True
    if st.st_size != 0:
        return False
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False  # swapped since the stat: the hashing refuses it
        return bool(os.read(fd, 1))
    except BlockingIOError:  # a stored file never asks to try again later
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


@dataclass(frozen=True)
class WalkOptions:
    recursive: bool = False
    pattern: str | None = None  # glob on the file name (or on the relative path if it contains '/')
    include_hidden: bool = False
    follow_symlinks: bool = True
    exclude: tuple[Path, ...] = ()  # folders never entered (this scan's results folder); any folder with a results marker is skipped too


def _is_hidden(name: str) -> bool:
    return name.startswith(".")


def _matches(name: str, rel: str, pattern: str | None) -> bool:
    if pattern is None:
        return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS
    target = rel if "/" in pattern else name
    return fnmatch.fnmatchcase(target.lower(), pattern.lower())


def _dir_key(st: os.stat_result) -> tuple[int, int]:
    return (st.st_dev, st.st_ino)


def walk(root: Path, options: WalkOptions | None = None) -> Iterator[Candidate | Skipped]:
    """Yield every entry under ``root`` as :class:`Candidate` or :class:`Skipped`.

    Symlinked folders are followed (when ``follow_symlinks``) but each real folder, keyed
    by ``(st_dev, st_ino)``, is entered at most once, which defeats loops and also avoids
    analysing the same tree twice through two links.
    """
    opts = options or WalkOptions()
    root = Path(os.path.abspath(root))
    excluded: set[tuple[int, int]] = set()
    for ex in opts.exclude:
        try:
            excluded.add(_dir_key(os.stat(ex)))
        except OSError:
            pass
    visited: set[tuple[int, int]] = {_dir_key(os.stat(root))}
    pseudo_devs = pseudo_fs_devices()
    # Depth-first with an explicit stack of (dir path, rel prefix); memory is O(depth x fan-out of pending dirs).
    stack: list[tuple[Path, str]] = [(root, "")]
    while stack:
        folder, prefix = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except PermissionError:
            yield Skipped(folder, prefix or ".", "permission denied (folder not readable)", failed=True)
            continue
        except OSError as exc:
            yield Skipped(folder, prefix or ".", f"cannot list folder ({exc.strerror or exc})", failed=True)
            continue
        subdirs: list[tuple[Path, str]] = []
        for entry in entries:
            rel = f"{prefix}/{entry.name}" if prefix else entry.name
            path = Path(entry.path)
            if _is_hidden(entry.name) and not opts.include_hidden:
                yield Skipped(path, rel, "hidden (use --include-hidden)")
                continue
            try:
                is_link = entry.is_symlink()
                if is_link and not opts.follow_symlinks:
                    yield Skipped(path, rel, "symbolic link (not followed)")
                    continue
                st = entry.stat(follow_symlinks=True)
            except FileNotFoundError:
                yield Skipped(path, rel, "broken symbolic link" if entry.is_symlink() else "vanished during scan", failed=True)
                continue
            except PermissionError:
                yield Skipped(path, rel, "permission denied", failed=True)
                continue
            except OSError as exc:
                if exc.errno == errno.ELOOP:  # a link to itself or a link cycle: documented as skipped
                    yield Skipped(path, rel, "symbolic link loop")
                    continue
                yield Skipped(path, rel, f"cannot stat ({exc.strerror or exc})", failed=True)
                continue
            if stat.S_ISDIR(st.st_mode):
                if not opts.recursive:
                    continue
                key = _dir_key(st)
                if key in excluded:
                    yield Skipped(path, rel, CURRENT_RESULTS_REASON)
                    continue
                kind = results_marker_kind(path)  # through a symlinked folder too: the marker is read inside it
                if kind is not None:
                    yield Skipped(path, rel, results_folder_reason(kind))
                    continue
                if key in visited:
                    yield Skipped(path, rel, "symbolic link loop or folder already scanned" if is_link else "folder already scanned")
                    continue
                visited.add(key)
                subdirs.append((path, rel))
                continue
            if not stat.S_ISREG(st.st_mode):
                if _matches(entry.name, rel, opts.pattern):
                    yield Skipped(path, rel, "not a regular file (device, FIFO or socket)")
                continue
            if not _matches(entry.name, rel, opts.pattern):
                yield Skipped(path, rel, "not an image file name (use --pattern to include)" if opts.pattern is None
                              else f"does not match --pattern {opts.pattern!r}")
                continue
            if is_pseudo_file(path, st, pseudo_devs):  # like a device: skipped, never hashed, not in the manifest
                yield Skipped(path, rel, PSEUDO_FILE_REASON)
                continue
            yield Candidate(path, rel, int(st.st_size))
        # Reverse so that popping visits sub-folders in name order.
        stack.extend(reversed(subdirs))
