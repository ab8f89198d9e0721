"""Pin what a builder wrote: the ``manifest.json`` of a weights folder (sha256 and size per file).

Why one module: every file that changes results is verified against its pin at every load
(:mod:`forgetalk.weights`), so every builder must pin what it writes, the same way. The evidence
builders replace one entry of a manifest shared with other builders
(:func:`pin_in_manifest`); the localizer trainer and its calibration re-pin the whole localizer
folder (:func:`write_localizer_manifest`). Both write entries with :func:`file_entry`, atomically.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..io import atomic_write_json, sha256_bytes, sha256_file


def file_entry(name: str, sha256: str, size: int, required: bool, description: str) -> dict[str, object]:
    """One ``files`` entry, keys in the order every manifest uses."""
    return {"name": name, "sha256": sha256, "size": size, "required": required, "description": description}


def pin_in_manifest(folder: Path, name: str, data: bytes, description: str, component: str, component_description: str = "",
                    required: bool = False) -> None:
    """Add or replace one file entry (sha256, size) in ``folder/manifest.json``, keeping the others.

    A replaced entry keeps its place in the list, so a rebuild that reproduces every file
    also reproduces the manifest byte for byte.
    """
    path = folder / "manifest.json"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        doc = {"component": component, "description": component_description, "files": []}
    entry = file_entry(name, sha256_bytes(data), len(data), required, description)
    files = list(doc.get("files", []))
    at = next((i for i, f in enumerate(files) if f.get("name") == name), None)
    if at is None:
        files.append(entry)
    else:
        files[at] = entry
    doc["files"] = files
    atomic_write_json(path, doc)


#: The localizer folder's files: (name, required, description), in manifest order.
LOCALIZER_FILES = (
    ("localizer.safetensors", True, "LocalizerNet weights; config in safetensors metadata"),
    ("localizer.onnx", False, "the same network exported to ONNX (opset 17) for torch-free CPU inference"),
    ("recipe.json", True, "training recipe, data split and validation calibration (fusion weight, verdict threshold)"),
    ("region_calibration.json", False, "each region's saliency on validation real faces: ranks regions by suspicion relative to real faces"),
)


def write_localizer_manifest(out_dir: Path) -> dict[str, object]:
    """manifest.json pinning the localizer's weights, its ONNX graph, recipe.json (which holds the
    fusion weight and verdict threshold, so it changes results and must be verified like the
    weights) and its region calibration; optional files that are absent are left out."""
    files = []
    for name, required, desc in LOCALIZER_FILES:
        path = out_dir / name
        if not path.is_file() and not required:
            continue
        files.append(file_entry(name, sha256_file(path), path.stat().st_size, required, desc))
    manifest = {
        "component": "localizer",
        "description": "forgetalk's own forgery localizer (tiny U-Net, trained on self-made pseudo-forgeries; see recipe.json and docs/localizer.md)",
        "files": files,
    }
    atomic_write_json(out_dir / "manifest.json", manifest)
    return manifest
