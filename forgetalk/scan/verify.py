"""Re-hash a scan's inputs and outputs against ``manifest.json`` (chain of custody)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import EXIT_INTEGRITY, EXIT_OK
from ..guard import MARKER_NAME
from ..io import NotARegularFile, sha256_file
from .journal import JOURNAL_NAME, prefix_problem
from .manifest import MANIFEST_NAME, ManifestError, load_manifest, manifest_bytes, manifest_entries, parse_manifest
from .runner import LOCK_NAME, linked_part, results_read_lock
from .worker import ITEMS_DIR, item_dir_name

__all__ = ["ManifestError", "VerifyReport", "load_manifest", "results_files", "verify_results"]


#: Run-level outputs every finished scan writes and lists; their absence means an edited manifest.
REQUIRED_OUTPUT_KINDS = frozenset({"index_csv", "index_json"})
#: The only files RESULTS may hold without a manifest entry: the journal (appended by every run),
#: the manifest itself, the scan lock and the results-folder marker. Anything else unlisted was put
#: there after the scan.
UNLISTED_ALLOWED = frozenset({JOURNAL_NAME, MANIFEST_NAME, LOCK_NAME, MARKER_NAME})


@dataclass
class VerifyReport:
    manifest_sha256: str
    inputs_total: int = 0
    inputs_ok: int = 0
    inputs_missing: int = 0
    outputs_total: int = 0
    outputs_ok: int = 0
    problems: list[dict[str, Any]] = field(default_factory=list)
    exit_code: int = EXIT_OK

    def to_dict(self) -> dict[str, Any]:
        return {"status": "ok" if self.exit_code == EXIT_OK else "changed", **self.__dict__}


def _check(path: Path, expected: str) -> tuple[str, str | None]:
    """Hash a regular file; anything else (FIFO, device, folder) is reported, never opened."""
    try:
        got = sha256_file(path)
    except FileNotFoundError:
        return "missing", None
    except NotARegularFile as exc:
        return "notafile", f"({exc.strerror})"
    except OSError as exc:
        return "unreadable", f"({exc.strerror or exc})"
    return ("ok", got) if got == expected else ("changed", got)


def _inside(results: Path, rel: str) -> Path | None:
    """``results / rel`` if it stays inside RESULTS (an edited manifest must not point at /etc)."""
    if Path(rel).is_absolute() or ".." in Path(rel).parts:
        return None
    return results / rel


def results_files(results: Path) -> list[str]:
    """Every non-folder entry under RESULTS (symlinks included, never followed), as '/'-separated
    paths relative to RESULTS, sorted; and every empty folder, with a trailing '/'.

    Why the empty folders: a folder holding a planted file is found through that file, an empty
    one would be found by nothing, and a re-run or a reader could still be steered by its name."""
    found = []
    for root, dirs, files in os.walk(results, followlinks=False):
        base = Path(root).relative_to(results)
        found += [(base / n).as_posix() for n in files]
        found += [(base / d).as_posix() for d in dirs if os.path.islink(os.path.join(root, d))]
        if not dirs and not files and base != Path("."):
            found.append(base.as_posix() + "/")
    return sorted(found)


def expected_folders(inputs: list[dict[str, Any]]) -> frozenset[str]:
    """The folders a scan makes, which may stay empty: ``items/`` and one folder per input, made
    before its outputs are written (a write that failed, on a full disk, leaves it empty)."""
    return frozenset({f"{ITEMS_DIR}/", *(f"{ITEMS_DIR}/{item_dir_name(str(i['sha256']))}/" for i in inputs)})


def verify_results(results: Path, require_inputs: bool = False, progress: Callable[[int], Callable[[], None]] | None = None,
                   manifest_sha256: str | None = None) -> VerifyReport:
    """Compare every listed file's SHA-256 now with the one recorded when it was written/read.

    ``manifest_sha256``: the manifest's own hash as the scan printed it (``manifest sha256: ...``),
    recorded by the examiner elsewhere. Why: the manifest vouches for everything else, but nothing
    vouches for the manifest; whoever changes an output and re-hashes the manifest passes every
    other check. A different hash is a change (exit 7).

    ``progress(total)`` (optional) returns the callback advanced after each listed file: hashing
    a large scan's evidence and outputs takes minutes. RESULTS is held still meanwhile
    (:func:`.runner.results_read_lock`): a scan writing to it is refused rather than read mid-write."""
    with results_read_lock(results):
        return _verify(results, require_inputs, progress, manifest_sha256)


def _verify(results: Path, require_inputs: bool, progress: Callable[[int], Callable[[], None]] | None, expected: str | None) -> VerifyReport:
    mpath, raw = manifest_bytes(results)
    rep = VerifyReport(manifest_sha256=hashlib.sha256(raw).hexdigest())  # the bytes parsed below, not a second read
    if expected is not None and expected.lower() != rep.manifest_sha256:
        rep.problems.append({"status": "changed", "what": "manifest", "path": MANIFEST_NAME, "expected": expected.lower(), "found": rep.manifest_sha256})
        rep.exit_code = EXIT_INTEGRITY
    try:
        manifest = parse_manifest(mpath, raw)
        inputs, outputs = manifest_entries(manifest, "inputs", mpath), manifest_entries(manifest, "outputs", mpath)
    except ManifestError:
        if rep.problems:  # not the manifest the scan wrote, and not a manifest at all: a change (7), not a usage error
            return rep
        raise
    advance = progress(len(inputs) + len(outputs)) if progress is not None else (lambda: None)
    # Every finished scan lists its index; a manifest without it was emptied or cut by hand.
    kinds = {o.get("kind") for o in outputs}
    for kind in REQUIRED_OUTPUT_KINDS - kinds:
        rep.problems.append({"status": "unlisted", "what": "output", "path": kind, "expected": "listed in the manifest", "found": None})
    seen: set[tuple[str, str]] = set()
    for item in inputs:
        advance()
        p = item["path"]
        if (p, item["sha256"]) in seen:
            continue
        seen.add((p, item["sha256"]))
        rep.inputs_total += 1
        departed = item.get("departed")
        if isinstance(departed, dict):  # a scan re-run found it gone or changed: a recorded custody gap fails
            status, got = ("missing", None) if not os.path.lexists(p) else _check(Path(p), item["sha256"])
            rep.problems.append({"status": "departed", "what": "input", "path": p, "expected": item["sha256"],
                                 "found": f"{status} now; {departed.get('status')} since run {departed.get('noticed_by')}"})
            continue
        if not os.path.lexists(p):
            rep.inputs_missing += 1
            rep.problems.append({"status": "missing", "what": "input", "path": p, "expected": item["sha256"], "found": None})
            continue
        status, got = _check(Path(p), item["sha256"])
        if status == "ok":
            rep.inputs_ok += 1
        else:
            rep.problems.append({"status": status, "what": "input", "path": p, "expected": item["sha256"], "found": got})
    for item in outputs:
        advance()
        rep.outputs_total += 1
        target = _inside(results, item["path"])
        if target is None:
            rep.problems.append({"status": "outside", "what": "output", "path": item["path"], "expected": item["sha256"], "found": "(path leaves RESULTS)"})
            continue
        link = linked_part(results, item["path"])
        # A link (to a copy elsewhere) hashes as recorded, but the file is no longer in RESULTS.
        status, got = ("notafile", f"(symbolic link: {link})") if link is not None else _check(target, item["sha256"])
        if status == "ok":
            rep.outputs_ok += 1
        else:
            rep.problems.append({"status": status, "what": "output", "path": item["path"], "expected": item["sha256"], "found": got})
    edited = prefix_problem(results / JOURNAL_NAME, manifest.get("journal"))
    if edited is not None:  # the journal feeds the next run's index: its pinned lines are evidence of what was done
        rep.problems.append({"status": "changed", "what": "journal", "path": JOURNAL_NAME, "expected": "the lines the manifest pinned", "found": edited})
    listed = {item["path"] for item in outputs} | UNLISTED_ALLOWED | expected_folders(inputs)
    for rel in results_files(results):  # planted after the scan (the README's "unlisted file")
        if rel not in listed:
            what = "no such folder (the scan makes none here)" if rel.endswith("/") else "no such file (not in the manifest)"
            rep.problems.append({"status": "unlisted", "what": "output", "path": rel, "expected": what, "found": "present"})
    failing = [p for p in rep.problems if not (p["what"] == "input" and p["status"] == "missing" and not require_inputs)]
    rep.exit_code = EXIT_INTEGRITY if failing else EXIT_OK
    return rep
