"""What earlier runs put under custody stays in the manifest (chain of custody across re-runs).

Why: ``manifest.json`` is rewritten at the end of every run from that run's folder walk. Before
this module, an input that disappeared from the evidence folder between two runs (or whose
content changed under the same name) simply was not listed by the next run, and ``verify``
then reported "no change": the re-run erased the only record that the evidence had been there.
Now every input an earlier manifest listed is either listed again by this run (same path, same
SHA-256) or carried forward with its outputs; carried entries are re-checked on disk, and those
that are gone, changed or unreadable are marked ``departed`` (with the run that noticed). A
departed entry stays in every later manifest: the scan exits 7 and ``verify`` fails on it, until
the evidence is back as it was, or the analyst starts a new chain in a new RESULTS folder.

Pure bookkeeping plus one ``sha256_file`` per carried input: the run's own walk is untouched.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..io import sha256_file
from .records import IndexRow, ScanRecord


@dataclass(frozen=True)
class Carried:
    """Earlier manifests' entries that this run's walk did not list again."""

    inputs: tuple[dict[str, Any], ...] = ()
    outputs: tuple[dict[str, Any], ...] = ()

    @property
    def departed(self) -> tuple[dict[str, Any], ...]:
        """Carried inputs no longer present as recorded (the scan exits 7 while there are any)."""
        return tuple(i for i in self.inputs if "departed" in i)


def _status_now(path: str, sha256: str) -> str | None:
    """None if ``path`` still holds ``sha256``; else how it departed: missing, changed or
    unreadable (no permission, or no longer a regular file)."""
    if not os.path.lexists(path):
        return "missing"
    try:
        return None if sha256_file(Path(path)) == sha256 else "changed"
    except OSError:
        return "unreadable"


def carry_forward(previous_inputs: Sequence[Mapping[str, Any]], previous_outputs: Sequence[Mapping[str, Any]],
                  listed_inputs: Iterable[tuple[str, str]], listed_output_paths: Iterable[str], run_id: str) -> Carried:
    """Entries of the previous manifest to keep: inputs not listed again as (path, sha256) by this
    run, each re-checked now, and the item outputs of their content that this run does not list.

    An entry already marked departed keeps its first ``noticed_by`` while it is still departed;
    one whose evidence is back as recorded loses the mark (its outputs were never dropped).
    """
    listed = set(listed_inputs)
    out_paths = set(listed_output_paths)
    inputs: list[dict[str, Any]] = []
    kept_sha: set[str] = set()
    for p in previous_inputs:
        key = (str(p["path"]), str(p["sha256"]))
        if key in listed:
            continue
        listed.add(key)
        entry = {k: v for k, v in p.items() if k != "departed"}
        status = _status_now(*key)
        if status is not None:
            earlier = p.get("departed") if isinstance(p.get("departed"), Mapping) else {}
            noticed = earlier.get("noticed_by") if earlier.get("status") == status else None
            entry["departed"] = {"status": status, "noticed_by": noticed or run_id}
        inputs.append(entry)
        kept_sha.add(key[1])
    outputs = []
    for o in previous_outputs:
        if o.get("input_sha256") in kept_sha and o.get("path") not in out_paths:
            out_paths.add(o["path"])
            outputs.append(dict(o))
    return Carried(tuple(inputs), tuple(outputs))


#: The ``reason`` of an index row for an input this run did not analyse or reuse (outside its
#: ``--pattern``, or not walked without ``--recursive``) but that is still there as recorded.
CARRIED_REASON = ("not selected by this run (outside its --pattern, or not walked without --recursive): still there as "
                  "recorded; the result is the journaled one")
#: How every carried row's reason begins (departed ones too).
CARRIED_MARK = "kept from an earlier run"


def carried_rows(carried: Carried, records: Mapping[str, ScanRecord]) -> list[IndexRow]:
    """Index rows for the carried inputs, with their journaled results.

    Why: the manifest kept them, but the triage index listed only what this run's walk met, so a
    re-run with a narrower ``--pattern`` made earlier results (and departed evidence) vanish from
    the list an analyst works from. Their ``reason`` says why they are there; they do not count
    in this run's counts (``files_seen`` is this walk's). An input without a journaled record
    (the content was never finished) has no result to show and is left to the manifest.
    """
    rows: list[IndexRow] = []
    for entry in carried.inputs:
        rec = records.get(str(entry.get("sha256")))
        if rec is None:
            continue
        dep = entry.get("departed")
        why = (f"departed: {dep.get('status')} (noticed by run {dep.get('noticed_by')}); kept in custody with its outputs, "
               "verify fails on it") if isinstance(dep, Mapping) else CARRIED_REASON
        note = f"{CARRIED_MARK}, {why}"
        path = str(entry.get("path"))
        row = IndexRow.from_record(str(entry.get("file") or Path(path).name), path, entry.get("size_bytes"), rec)
        # The mark first, whatever the journaled reason: CARRIED_MARK is how every carried row's
        # reason begins (docs/scan.md), and a failed row's own reason came first before.
        rows.append(replace(row, reason=note if not row.reason else f"{note}; {row.reason}"))
    return rows


def journal_entries(records: Iterable[ScanRecord]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Manifest-style input and output entries for every input the journal records.

    Why: the manifest is one file in RESULTS; deleting it must not launder what earlier runs
    recorded (a deleted manifest let the next run drop departed inputs silently). The journal
    holds every hashed input (by content, under the name it was first met) and its outputs."""
    inputs = [{"file": r.rel, "path": r.path, "sha256": r.sha256, "size_bytes": r.size_bytes} for r in records]
    outputs = [{"path": o.path, "sha256": o.sha256, "size": o.size, "kind": kind, "input_sha256": r.sha256}
               for r in records for kind, o in sorted(r.outputs.items())]
    return inputs, outputs


def departed_line(departed: Sequence[Mapping[str, Any]]) -> str:
    """One line for the analyst: how many recorded inputs are no longer there as recorded, and which."""
    names = ", ".join(f"{d.get('file') or d['path']} ({d['departed']['status']})" for d in departed[:3])
    more = f" and {len(departed) - 3} more" if len(departed) > 3 else ""
    return (f"{len(departed)} input(s) recorded by earlier runs of these results are no longer there as recorded: {names}{more}; "
            "the manifest keeps them (verify fails on them); restore the evidence, or scan into a new --out to start a new chain of custody")
