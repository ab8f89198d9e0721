"""Re-hash a scan's inputs and outputs against ``manifest.json`` (chain of custody)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import EXIT_INTEGRITY, EXIT_OK, EXIT_USAGE, ForgetalkError
from ..io import read_json_file, sha256_file
from .runner import MANIFEST_NAME, MANIFEST_SCHEMA


class ManifestError(ForgetalkError):
    exit_code = EXIT_USAGE


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
    try:
        got = sha256_file(path)
    except FileNotFoundError:
        return "missing", None
    except OSError as exc:
        return "unreadable", f"({exc.strerror or exc})"
    return ("ok", got) if got == expected else ("changed", got)


def verify_results(results: Path, require_inputs: bool = False) -> VerifyReport:
    """Compare every listed file's SHA-256 now with the one recorded when it was written/read."""
    mpath = results / MANIFEST_NAME
    manifest = read_json_file(mpath, ManifestError, f"{results}: no {MANIFEST_NAME} (not a finished forgetalk scan)")
    if manifest.get("schema") != MANIFEST_SCHEMA:
        raise ManifestError(f"{mpath}: unknown manifest schema {manifest.get('schema')!r}")
    rep = VerifyReport(manifest_sha256=sha256_file(mpath))
    seen: set[str] = set()
    for item in manifest.get("inputs", []):
        p = item["path"]
        if p in seen:
            continue
        seen.add(p)
        rep.inputs_total += 1
        if not os.path.lexists(p):
            rep.inputs_missing += 1
            rep.problems.append({"status": "missing", "what": "input", "path": p, "expected": item["sha256"], "found": None})
            continue
        status, got = _check(Path(p), item["sha256"])
        if status == "ok":
            rep.inputs_ok += 1
        else:
            rep.problems.append({"status": status, "what": "input", "path": p, "expected": item["sha256"], "found": got})
    for item in manifest.get("outputs", []):
        rep.outputs_total += 1
        status, got = _check(results / item["path"], item["sha256"])
        if status == "ok":
            rep.outputs_ok += 1
        else:
            rep.problems.append({"status": status, "what": "output", "path": item["path"], "expected": item["sha256"], "found": got})
    failing = [p for p in rep.problems if not (p["what"] == "input" and p["status"] == "missing" and not require_inputs)]
    rep.exit_code = EXIT_INTEGRITY if failing else EXIT_OK
    return rep
