"""Training-face bundles: the aligned training faces of one split in one portable file.

Why: the aligned-face caches (``~/.cache/forgetalk``) hold 512 px crops of both real-face sets,
about 600 MB, and building them needs the face stack (MediaPipe) and the source photos. A
machine lent only to train (a GPU box with no face stack and no copy of the photos) needs just
what the trainer reads: each face at the synthesis size, its 478 mesh points and, for the
parsing set, its part map. A bundle holds exactly that, losslessly (WebP lossless for the
crops, PNG for the part maps), so a model trained from a bundle sees the same pixels as one
trained from the caches: ``FaceRecord.from_crop`` resizes to the synthesis size *before*
anything else, and the bundle stores that resized crop.

The bundle is a plain ``.npz`` of numeric arrays (no pickles), read with ``allow_pickle=False``.
It holds photos from the development sets and must never be committed; it lives outside the
repository or in an ignored folder.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..io import atomic_write_bytes, npz_bytes
from ..synth import FaceRecord

BUNDLE_FORMAT = "forgetalk-face-bundle-v1"


@dataclass(frozen=True)
class Bundle:
    """Decoded bundle: records ready for the trainer, plus where they came from."""

    records: list[FaceRecord]
    meta: dict[str, object]
    sha256: str


def face_id(face: object) -> str:
    """A face's name in a bundle: ``PHOTO#INDEX`` for a development photo's face (its relative
    path and the face's index in it, largest first), ``parsing:STEM`` for a parsing-set face, ""
    when the face says neither."""
    photo, index, name = getattr(face, "photo", None), getattr(face, "index", None), getattr(face, "name", None)
    if isinstance(photo, str) and isinstance(index, int):
        return f"{photo}#{index}"
    return f"parsing:{name}" if isinstance(name, str) else ""


def pack(faces: list, size: int, meta: dict[str, object], out: Path) -> dict[str, object]:  # noqa: ANN001 - CachedFace | ParsedFace
    """Write ``out`` (.npz): lossless crops at ``size``, points, optional part maps, and ``meta``.

    ``meta["face_ids"]`` names every face in order (:func:`face_id`) when each has a name. Why:
    a bundle rebuilt on another machine found one web face fewer than the one the shipped
    localizers trained on (188 against 189), and without names nobody could say which;
    :func:`compare` now can, for bundles that carry them."""
    crops, parts_blobs, lms, has_parts = [], [], [], []
    for f in faces:
        # The trainer's own resize (FaceRecord.from_crop), so the bundle stores what it would see.
        rec = FaceRecord.from_crop(f.crop, f.landmarks, size, getattr(f, "parts", None))
        c, lm, p = rec.crop, rec.landmarks, rec.parts
        ok, enc = cv2.imencode(".webp", cv2.cvtColor(c, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_WEBP_QUALITY, 101])  # >100 = lossless
        if not ok:
            raise RuntimeError("WebP encoding failed")
        crops.append(enc.ravel())
        if p is not None:
            ok, penc = cv2.imencode(".png", p, [cv2.IMWRITE_PNG_COMPRESSION, 9])
            parts_blobs.append(penc.ravel())
            has_parts.append(True)
        else:
            parts_blobs.append(np.zeros(0, np.uint8))
            has_parts.append(False)
        lms.append(lm)
    ids = [face_id(f) for f in faces]
    meta = {"format": BUNDLE_FORMAT, "size": size, "faces": len(faces), **meta, **({"face_ids": ids} if ids and all(ids) else {})}
    arrays = {
        "crop_blob": np.concatenate(crops) if crops else np.zeros(0, np.uint8),
        "crop_off": np.cumsum([0] + [len(c) for c in crops]).astype(np.int64),
        "parts_blob": np.concatenate(parts_blobs) if parts_blobs else np.zeros(0, np.uint8),
        "parts_off": np.cumsum([0] + [len(p) for p in parts_blobs]).astype(np.int64),
        "has_parts": np.array(has_parts, bool),
        "landmarks": np.stack(lms).astype(np.float32) if lms else np.zeros((0, 478, 2), np.float32),
        "meta": np.frombuffer(json.dumps(meta, sort_keys=True).encode(), np.uint8),
    }
    # Reproducible bytes: a bundle rebuilt from the same faces has the sha256 the recipes record.
    atomic_write_bytes(out, npz_bytes(arrays, compress=False))
    return meta


def record_sources(meta: dict[str, object], n: int) -> list[str]:
    """Each record's photo source, from the bundle's counts: :func:`pack_training_faces` packs
    the web photos first, then the parsing set. A bundle without those counts (or whose counts do
    not add up to ``n``) gives "" (unknown) for every record rather than a guess."""
    counts = meta.get("counts")
    if not isinstance(counts, dict) or sum(int(v) for v in counts.values()) != n or set(counts) - {"faces", "parsing"}:
        return [""] * n
    nf = int(counts.get("faces", 0))
    return ["faces"] * nf + ["parsing"] * (n - nf)


def load(path: Path) -> Bundle:
    """Decode a bundle into FaceRecords (regions recomputed from the points, as from the caches;
    the photo source from the counts, :func:`record_sources`)."""
    raw = Path(path).read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    import io
    import zipfile

    try:
        z = np.load(io.BytesIO(raw), allow_pickle=False)
        meta = json.loads(bytes(z["meta"]).decode())
        if not isinstance(meta, dict) or meta.get("format") != BUNDLE_FORMAT:
            raise ValueError(f"its meta is not {BUNDLE_FORMAT}")
        cb, co, pb, po = z["crop_blob"], z["crop_off"], z["parts_blob"], z["parts_off"]
        has_parts, lms = z["has_parts"], z["landmarks"]
    except (ValueError, KeyError, IndexError, EOFError, OSError, zipfile.BadZipFile, UnicodeDecodeError, TypeError) as exc:
        # One line (a ValueError naming the file), not numpy's traceback: an image, an empty file or
        # another npz given as --bundle ended in "pickled data", KeyError or a bare "aborted".
        detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise ValueError(f"{path}: not a {BUNDLE_FORMAT} file ({detail}); make one with `python -m forgetalk.train.bundle`") from None
    with z:
        recs = []
        sources = record_sources(meta, len(lms))
        for i in range(len(lms)):
            bgr = cv2.imdecode(cb[co[i]:co[i + 1]], cv2.IMREAD_COLOR)
            crop = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            parts = cv2.imdecode(pb[po[i]:po[i + 1]], cv2.IMREAD_UNCHANGED) if has_parts[i] else None
            recs.append(FaceRecord.from_crop(crop, lms[i], None, parts, sources[i]))
    return Bundle(recs, meta, digest)


def load_split(path: Path, split: str) -> Bundle:
    """:func:`load`, refusing a bundle of another split (ValueError naming both). Why: the
    validation screens and benchmarks must never measure on the faces a network trained on, and a
    bundle's file name does not say which split it holds; its meta does."""
    bundle = load(path)
    if bundle.meta.get("split") != split:
        raise ValueError(f"{path} holds the {bundle.meta.get('split')!r} split; measure on the {split!r} split")
    return bundle


def validation_bundle(path: str) -> Bundle:
    """``argparse`` ``type=`` of a screen's or benchmark's ``--bundle``: the validation split's
    bundle (:func:`load_split`), else argparse's one-line usage error (a missing file included)."""
    import argparse

    try:
        return load_split(Path(path), "val")
    except (ValueError, OSError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def recipe_entry(bundle: Bundle) -> dict[str, object]:
    """What a recipe records about the bundle it trained on: its hash and meta, without the photo
    lists (the recipe's split has them) and with the face names as one hash
    (``face_ids_sha256``: sha256 of the names joined by newlines), so a recipe stays readable and
    still says which faces trained it."""
    meta = {k: v for k, v in bundle.meta.items() if k not in ("faces_split", "face_ids")}
    ids = bundle.meta.get("face_ids")
    if isinstance(ids, list):
        meta["face_ids_sha256"] = hashlib.sha256("\n".join(map(str, ids)).encode()).hexdigest()
    return {"sha256": bundle.sha256, **meta}


def read_meta(path: Path) -> dict[str, object]:
    """A bundle's meta without decoding its faces (a 512 px training bundle decodes to several GB)."""
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(bytes(z["meta"]).decode())
    if meta.get("format") != BUNDLE_FORMAT:
        raise ValueError(f"{path}: not a {BUNDLE_FORMAT} file")
    return meta


def compare(a: dict[str, object], b: dict[str, object]) -> dict[str, object]:
    """Which faces one bundle (its meta) holds and the other does not, by :func:`face_id`; also
    whether they hold the same split. Raises ``ValueError`` for a bundle without face names
    (built before they were recorded)."""
    ids = []
    for meta in (a, b):
        got = meta.get("face_ids")
        if not isinstance(got, list):
            raise ValueError("a bundle without face names (built before bundles recorded them): rebuild it to compare faces")
        ids.append(got)
    sa, sb = set(ids[0]), set(ids[1])
    return {"faces": [len(ids[0]), len(ids[1])], "same_split": a.get("split") == b.get("split"),
            "only_in_first": sorted(sa - sb), "only_in_second": sorted(sb - sa)}


def pack_training_faces(faces_dir: Path, parsing_dir: Path | None, out: Path, size: int = 256, split: str = "train", log=print) -> dict[str, object]:  # noqa: ANN001
    """Bundle one split of the development faces (and of the parsing set) as the trainer sees it."""
    from .data import load_split_faces, split_summary

    faces = list(load_split_faces(faces_dir, split, seed=0, log=log))
    meta: dict[str, object] = {"split": split, "faces_dir": str(faces_dir), "faces_split": split_summary(faces_dir, seed=0), "counts": {"faces": len(faces)}}
    if parsing_dir is not None:
        from .parsing import load_parsing_split
        from .parsing import split_rule_text as parsing_rule

        pf = load_parsing_split(parsing_dir, split, log=log)
        faces += pf
        meta["parsing"] = {"dir": str(parsing_dir), "rule": parsing_rule(0), "faces": len(pf)}
        meta["counts"] = {"faces": len(faces) - len(pf), "parsing": len(pf)}
    return pack(faces, size, meta, out)


if __name__ == "__main__":  # pragma: no cover - python -m forgetalk.train.bundle [--split val] FACES [PARSING] OUT
    import sys

    args = sys.argv[1:]
    if args[:1] == ["--compare"]:
        if len(args) != 3:
            raise SystemExit("usage: python -m forgetalk.train.bundle --compare A.npz B.npz")
        try:
            print(json.dumps(compare(read_meta(Path(args[1])), read_meta(Path(args[2]))), indent=1))
        except (OSError, ValueError) as exc:
            raise SystemExit(f"error: {exc}") from None
        raise SystemExit(0)
    split, size = "train", 256
    while args[:1] in (["--split"], ["--size"]) and len(args) > 1:
        if args[0] == "--split":
            split = args[1]
        else:
            size = int(args[1]) if args[1].isdigit() else 0
        args = args[2:]
    if len(args) not in (2, 3) or split not in ("train", "val") or not 64 <= size <= 512:
        raise SystemExit("usage: python -m forgetalk.train.bundle [--split train|val] [--size 64..512] FACES_DIR [PARSING_DIR] OUT.npz"
                         "  (a val bundle feeds --guard-bundle; the trainer's synthesis size is 256, benchmarks/hires_probe.py takes 512)")
    m = pack_training_faces(Path(args[0]), Path(args[1]) if len(args) == 3 else None, Path(args[-1]), size=size, split=split,
                            log=lambda s: print(s, flush=True))
    print(json.dumps({k: m[k] for k in ("faces", "size", "counts")}))
