"""Training-face bundles: what the GPU machine trains on must equal what the caches give."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from forgetalk.synth import FaceRecord
from forgetalk.train.bundle import BUNDLE_FORMAT, compare, load, load_split, pack, read_meta, recipe_entry, validation_bundle


@dataclass(frozen=True)
class _Face:
    crop: np.ndarray
    landmarks: np.ndarray
    parts: np.ndarray | None = None


def _faces(n: int) -> list[_Face]:
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        crop = rng.integers(0, 256, (512, 512, 3), dtype=np.uint8)
        lm = (rng.random((478, 2)) * 300 + 100).astype(np.float32)
        parts = rng.integers(0, 19, (512, 512), dtype=np.uint8) if i % 2 == 0 else None
        out.append(_Face(crop, lm, parts))
    return out


def test_bundle_records_equal_the_records_built_from_the_crops(tmp_path: Path) -> None:
    faces = _faces(3)
    meta = pack(faces, 256, {"split": "train"}, tmp_path / "b.npz")
    assert meta["format"] == BUNDLE_FORMAT and meta["faces"] == 3
    b = load(tmp_path / "b.npz")
    assert len(b.records) == 3 and len(b.sha256) == 64
    for f, got in zip(faces, b.records, strict=True):
        want = FaceRecord.from_crop(f.crop, f.landmarks, 256, f.parts)
        assert np.array_equal(got.crop, want.crop)  # lossless
        assert np.allclose(got.landmarks, want.landmarks)
        assert (got.parts is None) == (want.parts is None)
        if want.parts is not None:
            assert np.array_equal(got.parts, want.parts)
        assert got.regions.keys() == want.regions.keys()
        assert all(np.array_equal(got.regions[k], want.regions[k]) for k in want.regions)


def test_a_bundle_rebuilt_from_the_same_faces_is_byte_identical(tmp_path: Path) -> None:
    """Recipes record the bundle's sha256; a rebuild must be checkable against it."""
    faces = _faces(2)
    pack(faces, 256, {"split": "train"}, tmp_path / "a.npz")
    pack(faces, 256, {"split": "train"}, tmp_path / "b.npz")
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    assert {p.name for p in tmp_path.iterdir()} == {"a.npz", "b.npz"}  # written atomically: no leftovers


def test_a_measurement_on_validation_faces_refuses_the_training_bundle_by_name(tmp_path: Path) -> None:
    """The screens and benchmarks load with load_split: a training bundle passed by mistake is
    refused with both splits named, never measured."""
    pack(_faces(1), 256, {"split": "train"}, tmp_path / "t.npz")
    with pytest.raises(ValueError, match=r"holds the 'train' split; measure on the 'val' split"):
        load_split(tmp_path / "t.npz", "val")
    assert len(load_split(tmp_path / "t.npz", "train").records) == 1
    import argparse

    for bad, message in ((tmp_path / "t.npz", "holds the 'train' split"), (tmp_path / "missing.npz", "No such file")):
        with pytest.raises(argparse.ArgumentTypeError, match=message):  # argparse turns it into one usage line, exit 2
            validation_bundle(str(bad))
    pack(_faces(1), 256, {"split": "val"}, tmp_path / "v.npz")
    assert len(validation_bundle(str(tmp_path / "v.npz")).records) == 1


@dataclass(frozen=True)
class _PhotoFace(_Face):
    photo: str = ""
    index: int = 0


@dataclass(frozen=True)
class _ParsingFace(_Face):
    name: str = ""


def test_a_bundle_names_its_faces_so_two_rebuilds_can_be_compared(tmp_path: Path) -> None:
    """A rebuild that misses one face (as a rebuild on another machine did) says which."""
    f = _faces(3)
    faces = [_PhotoFace(f[0].crop, f[0].landmarks, None, "dlib/a.jpg", 0), _PhotoFace(f[1].crop, f[1].landmarks, None, "dlib/a.jpg", 1),
             _ParsingFace(f[2].crop, f[2].landmarks, f[2].parts, "1234")]
    meta = pack(faces, 256, {"split": "train"}, tmp_path / "a.npz")
    assert meta["face_ids"] == ["dlib/a.jpg#0", "dlib/a.jpg#1", "parsing:1234"]
    pack([faces[0], faces[2]], 256, {"split": "train"}, tmp_path / "b.npz")
    a, b = load(tmp_path / "a.npz"), load(tmp_path / "b.npz")
    assert read_meta(tmp_path / "a.npz") == a.meta
    assert compare(a.meta, b.meta) == {"faces": [3, 2], "same_split": True, "only_in_first": ["dlib/a.jpg#1"], "only_in_second": []}
    # The recipe keeps the names as one hash (readable recipes), and that hash follows the faces.
    ra, rb = recipe_entry(a), recipe_entry(b)
    assert "face_ids" not in ra and len(str(ra["face_ids_sha256"])) == 64 and ra["sha256"] == a.sha256
    assert ra["face_ids_sha256"] != rb["face_ids_sha256"]


def test_faces_without_names_make_a_bundle_that_cannot_be_compared(tmp_path: Path) -> None:
    pack(_faces(2), 256, {"split": "train"}, tmp_path / "a.npz")
    a = load(tmp_path / "a.npz")
    assert "face_ids" not in a.meta and "face_ids_sha256" not in recipe_entry(a)
    with pytest.raises(ValueError, match="without face names"):
        compare(a.meta, a.meta)


def test_a_file_that_is_not_a_bundle_is_refused(tmp_path: Path) -> None:
    np.savez(tmp_path / "x.npz", meta=np.frombuffer(b'{"format": "other"}', np.uint8))
    with pytest.raises(ValueError, match="not a"):
        load(tmp_path / "x.npz")


@pytest.mark.parametrize("extra", [[], ["--no-calibrate", "--parsing", "."]])
def test_bundle_training_refuses_what_a_bundle_cannot_give(tmp_path: Path, extra: list[str]) -> None:
    """A bundle holds the training faces only: calibrating or adding a parsing set is a usage error."""
    from click.testing import CliRunner

    from forgetalk.cli import main

    pack(_faces(1), 256, {"split": "train"}, tmp_path / "b.npz")
    res = CliRunner().invoke(main, ["train", "localizer", "--bundle", str(tmp_path / "b.npz"), "--out", str(tmp_path / "w"), *extra], env={"CI": "1"})
    assert res.exit_code == 2
    assert "--bundle holds the training faces only" in res.output
    assert "Traceback" not in res.output


@pytest.mark.parametrize(("args", "message"), [
    (["--families", "part_swap,liquify", "--guard-families", "liquify"], "also trained on"),
    (["--families", "part_swap", "--guard-families", "liquify"], "give --guard-bundle"),
    (["--families", "all", "--exclude-family", "liquify", "--guard-families", "liquify"], "give --guard-bundle"),  # excluded, so a valid guard
    (["--families", "part_swap", "--guard-families", "nonsense"], "unknown guard families"),
    (["--families", "part_swap,mirrored_copy"], "guard-only"),
    (["--families", "part_swap", "--guard-families", "liquify", "--guard-bundle", "{train}"], "the guard must use the validation split"),
])
def test_guard_options_are_checked_before_training(tmp_path: Path, args: list[str], message: str) -> None:
    """A guard family that is also trained on, or a guard without validation faces, is a usage error."""
    from click.testing import CliRunner

    from forgetalk.cli import main

    pack(_faces(2), 256, {"split": "train"}, tmp_path / "b.npz")
    args = [a.replace("{train}", str(tmp_path / "b.npz")) for a in args]
    res = CliRunner().invoke(main, ["train", "localizer", "--bundle", str(tmp_path / "b.npz"), "--no-calibrate", "--out", str(tmp_path / "w"), *args],
                             env={"CI": "1"})
    assert res.exit_code == 2, res.output
    assert message in res.output
    assert "Traceback" not in res.output and not (tmp_path / "w").exists()


@pytest.mark.parametrize("kind", ["empty", "image", "other npz", "npy"])
def test_a_file_that_is_not_a_bundle_is_one_usage_line(kind: str, tmp_path: Path) -> None:
    """``train localizer --bundle`` of an empty file, an image, another npz or an .npy ended in a
    traceback (numpy's "pickled data", a KeyError) or a bare "error: aborted"; now the command's one
    usage line (exit 2) names the file and says how to make a bundle."""
    import io
    import zipfile

    from click.testing import CliRunner

    from forgetalk.cli import main

    p = tmp_path / "b.npz"
    if kind == "image":
        p.write_bytes((Path(__file__).resolve().parent.parent / "examples" / "grace_hopper.jpg").read_bytes())
    elif kind == "other npz":
        with zipfile.ZipFile(p, "w") as z:
            z.writestr("x.npy", "garbage")
    elif kind == "npy":
        buf = io.BytesIO()
        np.save(buf, np.zeros(3))
        p.write_bytes(buf.getvalue())
    else:
        p.write_bytes(b"")
    with pytest.raises(ValueError, match=f"not a {BUNDLE_FORMAT} file"):
        load(p)
    res = CliRunner().invoke(main, ["train", "localizer", "--bundle", str(p), "--out", str(tmp_path / "out"), "--steps", "1", "--no-calibrate"])
    assert res.exit_code == 2 and f"not a {BUNDLE_FORMAT} file" in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert not (tmp_path / "out").exists()
