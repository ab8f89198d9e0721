"""Weights manifests: where each file lives, what its SHA-256 must be, and clear errors.

Each component (``localizer``, ``forgerytalker``, ``facexlib`` ...) has a folder under the
weights root holding ``manifest.json``::

    {"component": "facexlib",
     "description": "...",
     "files": [{"name": "parsing_bisenet.pth", "sha256": "...", "size": 53289463,
                "url": "https://...", "required": true, "description": "..."}]}

Run-time code only ever *reads* local files; the single place a download may happen is
``forgetalk weights fetch`` (see :mod:`forgetalk.commands.weights`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from .errors import WeightsError
from .io import read_json_file, sha256_file

ENV_WEIGHTS = "FORGETALK_WEIGHTS"


def weights_root() -> Path:
    """The weights folder: ``$FORGETALK_WEIGHTS``, else ``weights/`` beside the package."""
    env = os.environ.get(ENV_WEIGHTS)
    if env:
        return Path(env).expanduser().resolve()
    return (Path(__file__).resolve().parent.parent / "weights").resolve()


@dataclass(frozen=True)
class WeightFile:
    name: str
    sha256: str | None  # None = "unpinned": no verifiable published hash (see record_sha256)
    size: int | None = None
    url: str | None = None
    required: bool = True
    description: str = ""


@dataclass(frozen=True)
class Manifest:
    component: str
    folder: Path
    files: tuple[WeightFile, ...]
    description: str = ""
    extra: dict[str, object] = field(default_factory=dict)

    def get(self, name: str) -> WeightFile:
        for f in self.files:
            if f.name == name:
                return f
        raise WeightsError(f"{name!r} is not listed in {self.folder / 'manifest.json'}")


def load_manifest(component: str, root: Path | None = None) -> Manifest:
    folder = (root or weights_root()) / component
    path = folder / "manifest.json"
    raw = read_json_file(path, WeightsError, f"no weights manifest for {component!r}: expected {path}")
    files = tuple(
        WeightFile(
            name=f["name"],
            sha256=f["sha256"].lower() if f.get("sha256") else None,
            size=f.get("size"),
            url=f.get("url"),
            required=bool(f.get("required", True)),
            description=f.get("description", ""),
        )
        for f in raw.get("files", [])
    )
    extra = {k: v for k, v in raw.items() if k not in ("component", "files", "description")}
    return Manifest(component=raw.get("component", component), folder=folder, files=files, description=raw.get("description", ""), extra=extra)


@lru_cache(maxsize=256)
def _cached_sha256(path: str, size: int, mtime_ns: int) -> str:
    return sha256_file(path)


def file_sha256(path: Path) -> str:
    """SHA-256 of a weights file, cached on (path, size, mtime) so repeat runs stay fast."""
    st = path.stat()
    return _cached_sha256(str(path), st.st_size, st.st_mtime_ns)


def missing_message(manifest: Manifest, wf: WeightFile) -> str:
    where = f" (download: {wf.url})" if wf.url else ""
    expected = f"expected sha256 {wf.sha256}" if wf.sha256 else "no published sha256: it is recorded on first fetch"
    return (
        f"missing weights file {wf.name!r} for {manifest.component}: place it in {manifest.folder}/ "
        f"({expected}{', ' + str(wf.size) + ' bytes' if wf.size else ''}){where}; "
        f"then run `forgetalk weights verify {manifest.component}`"
    )


def resolve(component: str, name: str, root: Path | None = None, verify: bool = True) -> Path:
    """Path of a verified weights file, or a :class:`WeightsError` that says what to do."""
    manifest = load_manifest(component, root)
    wf = manifest.get(name)
    path = manifest.folder / wf.name
    if not path.is_file():
        raise WeightsError(missing_message(manifest, wf))
    if verify:
        got = recorded_file_sha256(manifest, path)
        want = wf.sha256 or read_recorded(manifest).get(wf.name, {}).get("sha256")
        if want and got != want:
            kind = "expected" if wf.sha256 else "recorded at first fetch"
            raise WeightsError(f"{path}: sha256 mismatch ({kind} {want}, found {got}); the file is corrupt or a different release")
    return path


@dataclass(frozen=True)
class FileStatus:
    name: str
    path: Path
    status: str  # "ok" | "missing" | "mismatch" | "unpinned" (present, no published hash to check against)
    expected_sha256: str | None
    actual_sha256: str | None
    required: bool
    note: str = ""


def verify_manifest(manifest: Manifest) -> list[FileStatus]:
    """Hash every listed file. Unpinned files are compared with the hash recorded at fetch, if any."""
    out = []
    recorded = read_recorded(manifest)
    for wf in manifest.files:
        path = manifest.folder / wf.name
        if not path.is_file():
            out.append(FileStatus(wf.name, path, "missing", wf.sha256, None, wf.required))
            continue
        got = file_sha256(path)
        if wf.sha256:
            out.append(FileStatus(wf.name, path, "ok" if got == wf.sha256 else "mismatch", wf.sha256, got, wf.required))
            continue
        rec = recorded.get(wf.name, {}).get("sha256")
        if rec and rec != got:
            out.append(FileStatus(wf.name, path, "mismatch", None, got, wf.required, f"differs from the hash recorded at fetch ({rec})"))
        else:
            note = "no published hash; matches the hash recorded at fetch" if rec else "no published hash and none recorded (not fetched by forgetalk)"
            out.append(FileStatus(wf.name, path, "unpinned", None, got, wf.required, note))
    return out


#: Per-folder record of hashes taken on first fetch (and a size/mtime cache for big files).
RECORD_NAME = "recorded_sha256.json"


def read_recorded(manifest: Manifest) -> dict[str, dict[str, object]]:
    """name -> {"sha256", "size", "mtime_ns"}; empty when nothing was recorded."""
    try:
        raw = json.loads((manifest.folder / RECORD_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return raw if isinstance(raw, dict) else {}


def record_sha256(manifest: Manifest, name: str, sha256: str) -> None:
    """Remember a file's hash (trust-on-first-use for unpinned files; also speeds up later loads)."""
    path = manifest.folder / name
    st = path.stat()
    rec = read_recorded(manifest)
    rec[name] = {"sha256": sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    tmp = manifest.folder / (RECORD_NAME + ".tmp")
    tmp.write_text(json.dumps(rec, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(tmp, manifest.folder / RECORD_NAME)


def recorded_file_sha256(manifest: Manifest, path: Path) -> str:
    """SHA-256 of a manifest file, reusing the recorded value while size and mtime are unchanged.

    Multi-GB model files would otherwise be re-hashed on every start. The record only
    ever short-cuts a file that has not been touched since it was hashed.
    """
    name = path.relative_to(manifest.folder).as_posix()
    st = path.stat()
    rec = read_recorded(manifest).get(name)
    if rec and rec.get("size") == st.st_size and rec.get("mtime_ns") == st.st_mtime_ns and isinstance(rec.get("sha256"), str):
        return str(rec["sha256"])
    return file_sha256(path)


def fetch_file(manifest: Manifest, wf: WeightFile, opener=None, chunk: int = 1 << 20) -> tuple[Path, str]:  # noqa: ANN001 - urllib-like opener
    """Download one file to its manifest place (the only network access forgetalk makes).

    Writes to a ``.part`` sibling, hashes while writing, checks the pinned sha256 (and the
    size when known) before the atomic rename; for an unpinned file the hash is recorded.
    Returns (path, sha256). ``opener`` is injectable for tests (defaults to urllib).
    """
    import hashlib
    import urllib.request

    if not wf.url:
        raise WeightsError(f"{wf.name}: no download URL in {manifest.folder / 'manifest.json'}; place the file by hand")
    dest = manifest.folder / wf.name
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    h = hashlib.sha256()
    size = 0
    open_url = opener or urllib.request.urlopen
    try:
        with open_url(wf.url) as resp, open(part, "wb") as out:
            while True:
                block = resp.read(chunk)
                if not block:
                    break
                h.update(block)
                out.write(block)
                size += len(block)
    except OSError as exc:
        part.unlink(missing_ok=True)
        raise WeightsError(f"{wf.name}: download from {wf.url} failed ({exc})") from None
    got = h.hexdigest()
    if (wf.sha256 and got != wf.sha256) or (wf.size and size != wf.size):
        part.unlink(missing_ok=True)
        raise WeightsError(f"{wf.name}: downloaded file does not match the manifest (sha256 {got}, {size} bytes); nothing was kept")
    os.replace(part, dest)
    record_sha256(manifest, wf.name, got)
    return dest, got


def list_components(root: Path | None = None) -> list[str]:
    base = root or weights_root()
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if (p / "manifest.json").is_file())
