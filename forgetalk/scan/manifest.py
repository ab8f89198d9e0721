"""The scan manifest's format: its name, schema tag, and the one reader that checks it.

Why a module of its own: ``runner`` writes the manifest and, since re-runs carry earlier entries
forward (:mod:`.custody`), also reads the previous one; ``verify`` reads it too. With the reader
in ``verify``, the two imported each other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..io import is_sha256, parse_json_bytes, read_file_bytes

MANIFEST_SCHEMA = "forgetalk.scan-manifest/1"
MANIFEST_NAME = "manifest.json"
#: How an input an earlier run recorded can stand now when it is not there as recorded (``departed.status``).
DEPARTED_STATUSES = ("missing", "changed", "unreadable")


class ManifestError(UsageError):
    """RESULTS has no manifest, or one that is not a forgetalk scan manifest (exit 2)."""


def load_manifest(results: Path) -> tuple[Path, dict[str, Any]]:
    """(path, document) of RESULTS' manifest, its schema tag checked; a one-line error otherwise."""
    mpath, raw = manifest_bytes(results)
    return mpath, parse_manifest(mpath, raw)


def manifest_bytes(results: Path) -> tuple[Path, bytes]:
    """(path, bytes) of RESULTS' manifest, read once (a FIFO or device in its place is refused).
    Why the bytes: ``verify`` hashes exactly what it parses; parsed and hashed in two reads, a
    manifest swapped between them passed against the hash the scan printed."""
    mpath = results / MANIFEST_NAME
    return mpath, read_file_bytes(mpath, ManifestError, f"{results}: no {MANIFEST_NAME} (not a finished forgetalk scan)")


def parse_manifest(mpath: Path, raw: bytes) -> dict[str, Any]:
    """The manifest document in ``raw``, its schema tag checked; a one-line error otherwise."""
    manifest = parse_json_bytes(raw, mpath, ManifestError)
    if not isinstance(manifest, dict):
        raise ManifestError(f"{mpath}: malformed manifest: expected a JSON object, found {type(manifest).__name__}")
    if manifest.get("schema") != MANIFEST_SCHEMA:
        raise ManifestError(f"{mpath}: unknown manifest schema {manifest.get('schema')!r}")
    return manifest


def manifest_entries(manifest: dict[str, Any], key: str, mpath: Path) -> list[dict[str, Any]]:
    """The ``inputs``/``outputs`` list, every entry checked against the schema (one-line error)."""
    items = manifest.get(key)
    if not isinstance(items, list):
        raise ManifestError(f"{mpath}: malformed manifest: '{key}' must be a list")
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise ManifestError(f"{mpath}: malformed manifest: {key}[{i}] is not an object")
        for field_name in ("path", "sha256"):
            if not isinstance(item.get(field_name), str) or not item[field_name]:
                raise ManifestError(f"{mpath}: malformed manifest: {key}[{i}] has no string '{field_name}'")
        if not is_sha256(item["sha256"]):
            raise ManifestError(f"{mpath}: malformed manifest: {key}[{i}] 'sha256' is not 64 hex digits")
        if "departed" in item:  # custody.carry_forward's mark; anything else would pass verify as "no change"
            dep = item["departed"]
            if not (isinstance(dep, dict) and dep.get("status") in DEPARTED_STATUSES and isinstance(dep.get("noticed_by"), str)):
                raise ManifestError(f"{mpath}: malformed manifest: {key}[{i}] 'departed' must be "
                                    f"{{'status': one of {', '.join(DEPARTED_STATUSES)}, 'noticed_by': a run id}}")
    return items
