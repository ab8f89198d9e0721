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
from .io import sha256_file

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
    sha256: str
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
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise WeightsError(f"no weights manifest for {component!r}: expected {path}") from None
    except (OSError, ValueError) as exc:
        raise WeightsError(f"{path}: unreadable manifest ({exc})") from None
    files = tuple(
        WeightFile(
            name=f["name"],
            sha256=f["sha256"].lower(),
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
    return (
        f"missing weights file {wf.name!r} for {manifest.component}: place it in {manifest.folder}/ "
        f"(expected sha256 {wf.sha256}{', ' + str(wf.size) + ' bytes' if wf.size else ''}){where}; "
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
        got = file_sha256(path)
        if got != wf.sha256:
            raise WeightsError(f"{path}: sha256 mismatch (expected {wf.sha256}, found {got}); the file is corrupt or a different release")
    return path


@dataclass(frozen=True)
class FileStatus:
    name: str
    path: Path
    status: str  # "ok" | "missing" | "mismatch"
    expected_sha256: str
    actual_sha256: str | None
    required: bool


def verify_manifest(manifest: Manifest) -> list[FileStatus]:
    out = []
    for wf in manifest.files:
        path = manifest.folder / wf.name
        if not path.is_file():
            out.append(FileStatus(wf.name, path, "missing", wf.sha256, None, wf.required))
            continue
        got = file_sha256(path)
        out.append(FileStatus(wf.name, path, "ok" if got == wf.sha256 else "mismatch", wf.sha256, got, wf.required))
    return out


def list_components(root: Path | None = None) -> list[str]:
    base = root or weights_root()
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if (p / "manifest.json").is_file())
