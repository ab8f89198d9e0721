"""Localizer ensembles (LocalizerEnsemble, forgetalk.train.ensemble), on tiny models built here."""

from __future__ import annotations

import importlib.util
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from forgetalk.engines.localizer.infer import Localizer, load_localizer, prepare_inputs
from forgetalk.engines.localizer.model import LocalizerConfig, LocalizerEnsemble, build_localizer
from forgetalk.io import sha256_file
from forgetalk.synth.samples import public_domain_face
from forgetalk.train.ensemble import write_ensemble
from forgetalk.train.loop import TrainConfig, train_localizer, write_weights

TINY = LocalizerConfig(input_size=64, widths=(4, 8, 8, 8))
SPLIT = {"rule": "test", "photos": {"train": ["a.jpg"]}}


def _member(tmp_path: Path, seed: int, split: dict[str, object] = SPLIT, config: LocalizerConfig = TINY) -> Path:
    torch.manual_seed(seed)
    d = tmp_path / f"m{seed}"
    write_weights(build_localizer(config).eval(), d, {"component": "localizer", "command": f"train seed {seed}", "train_config": {"seed": seed}, "split": split})
    return d / "localizer.safetensors"


def test_ensemble_averages_its_members_logits(tmp_path: Path) -> None:
    paths = [_member(tmp_path, s) for s in (1, 2, 3)]
    out = tmp_path / "ens"
    manifest = write_ensemble(paths, out)
    ens = load_localizer(out / "localizer.safetensors")
    assert isinstance(ens, LocalizerEnsemble) and ens.config == replace(TINY, members=3)
    members = [load_localizer(p) for p in paths]
    x, r = torch.rand(2, 3, 64, 64), torch.zeros(2, len(TINY.region_names), 64, 64)
    r[:, 5, 30:40, 20:44] = 1
    with torch.no_grad():
        mask, reg = ens(x, r)
        outs = [m(x, r) for m in members]
    assert torch.allclose(mask, sum(o[0] for o in outs) / 3, atol=1e-5)
    assert torch.allclose(reg, sum(o[1] for o in outs) / 3, atol=1e-5)
    # the recipe names every member by hash, keeps the shared split, and the manifest pins the file
    recipe = json.loads((out / "recipe.json").read_text())
    assert [m["sha256"] for m in recipe["ensemble"]["members"]] == [sha256_file(p) for p in paths]
    assert recipe["split"] == SPLIT and recipe["ensemble"]["members"][1]["command"] == "train seed 2"
    assert manifest["files"][0]["sha256"] == sha256_file(out / "localizer.safetensors")
    # the predict contract is unchanged (same output shapes and keys as one network)
    face = public_domain_face()
    pred = Localizer(ens).predict(face.crop, face.regions)
    assert pred.prob.shape == (512, 512) and set(pred.region_probs) == set(face.regions)


def _assert_onnx_matches_torch(out: Path) -> None:
    """The ONNX graph written into ``out`` predicts what its safetensors weights do."""
    pytest.importorskip("onnx")
    from forgetalk.engines.localizer.onnx_runtime import OnnxLocalizer

    face = public_domain_face()
    a = Localizer(load_localizer(out / "localizer.safetensors")).predict(face.crop, face.regions)
    b = OnnxLocalizer(out / "localizer.onnx").predict(face.crop, face.regions)
    assert np.abs(a.prob - b.prob).max() < 1e-4
    assert max(abs(a.region_probs[k] - b.region_probs[k]) for k in a.region_probs) < 1e-4


def test_ensemble_onnx_graph_matches_torch(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    write_ensemble([_member(tmp_path, s) for s in (4, 5)], tmp_path / "ens")
    _assert_onnx_matches_torch(tmp_path / "ens")


def test_members_of_different_input_sizes_each_see_their_own(tmp_path: Path) -> None:
    """A 48 px and a 64 px member: each is fed the crop at its own size (as if run alone), the
    smaller one's mask logits are resized to 64 px, and both runtimes agree."""
    small = tmp_path / "small"
    small.mkdir()
    paths = [_member(tmp_path, 1), _member(small, 2, config=replace(TINY, input_size=48))]
    out = tmp_path / "ens"
    write_ensemble(paths, out)
    ens = load_localizer(out / "localizer.safetensors")
    assert ens.config == replace(TINY, members=2, member_sizes=(64, 48)) and ens.config.input_sizes == (64, 48)
    face = public_domain_face()
    got = Localizer(ens).predict(face.crop, face.regions)
    alone = [Localizer(load_localizer(p)) for p in paths]
    x64, r64 = (torch.from_numpy(a) for a in prepare_inputs(face.crop, face.regions, 64, TINY.region_names))
    x48, r48 = (torch.from_numpy(a) for a in prepare_inputs(face.crop, face.regions, 48, TINY.region_names))
    with torch.no_grad():
        m64, g64 = alone[0].model(x64, r64)
        m48, g48 = alone[1].model(x48, r48)
        mask, reg = ens(x64, r64, x48, r48)
    assert torch.allclose(reg, (g64 + g48) / 2, atol=1e-5)
    assert torch.allclose(mask, (m64 + torch.nn.functional.interpolate(m48, size=(64, 64), mode="bilinear", align_corners=False)) / 2, atol=1e-5)
    assert got.prob.shape == (512, 512) and set(got.region_probs) == set(face.regions)
    probs = torch.sigmoid(reg)[0]
    assert max(abs(got.region_probs[n] - float(probs[i])) for i, n in enumerate(TINY.region_names) if n in face.regions) < 1e-5
    if importlib.util.find_spec("onnx") is not None:  # the exported graph takes one image/regions pair per size
        from forgetalk.engines.localizer.onnx_runtime import OnnxLocalizer

        onnx_loc = OnnxLocalizer(out / "localizer.onnx")
        assert [i.name for i in onnx_loc.session().get_inputs()] == ["image", "regions", "image_48", "regions_48"]
        b = onnx_loc.predict(face.crop, face.regions)
        assert np.abs(got.prob - b.prob).max() < 1e-4
        assert max(abs(got.region_probs[k] - b.region_probs[k]) for k in got.region_probs) < 1e-4
    # the config says which size each member takes, and a bad one is refused
    assert LocalizerConfig.from_dict(ens.config.to_dict()) == ens.config
    with pytest.raises(ValueError, match="member_sizes"):
        LocalizerConfig.from_dict({**ens.config.to_dict(), "member_sizes": [48, 32]})


def test_ensemble_refuses_mixed_members(tmp_path: Path) -> None:
    a = _member(tmp_path, 1)
    with pytest.raises(ValueError, match="at least two"):
        write_ensemble([a], tmp_path / "x")
    other = tmp_path / "other"
    other.mkdir()
    with pytest.raises(ValueError, match="different architectures"):
        write_ensemble([a, _member(other, 2, config=replace(TINY, widths=(4, 8, 8, 16)))], tmp_path / "x")
    split2 = tmp_path / "split2"
    split2.mkdir()
    with pytest.raises(ValueError, match="different data splits"):
        write_ensemble([a, _member(split2, 3, split={"rule": "other"})], tmp_path / "x")
    write_ensemble([a, _member(tmp_path, 4)], tmp_path / "ens")
    with pytest.raises(ValueError, match="ensemble already"):
        write_ensemble([tmp_path / "ens" / "localizer.safetensors", a], tmp_path / "x")


def test_ensemble_config_round_trip_and_limits() -> None:
    c = replace(TINY, members=3)
    assert LocalizerConfig.from_dict(c.to_dict()) == c
    assert "members" not in TINY.to_dict() and "member_sizes" not in c.to_dict()  # files keep the config they were written with
    with pytest.raises(ValueError, match="1 to 16"):
        LocalizerConfig.from_dict({**TINY.to_dict(), "members": 0})


def test_an_ensemble_is_not_trained() -> None:
    f = public_domain_face()
    from forgetalk.synth import FaceRecord

    recs = [FaceRecord.from_crop(f.crop, f.dense_landmarks, 96)]
    cfg = TrainConfig(seed=1, synth_size=96, batch_size=2, max_steps=1, minutes=0, model=replace(TINY, members=2))
    with pytest.raises(ValueError, match="ensemble"):
        train_localizer(recs, recs, cfg, log=lambda m: None)


def test_members_taken_out_of_an_ensemble_are_the_networks_it_ran(tmp_path: Path) -> None:
    """extract_members: each member byte-for-byte (same weights, its own input size), with the
    ensemble's split, so an ensemble rebuilt from them is the same network."""
    from forgetalk.train.ensemble import extract_members

    paths = [_member(tmp_path, 1), _member(tmp_path, 2, config=replace(TINY, input_size=48))]
    ens_path = write_ensemble(paths, tmp_path / "ens") and tmp_path / "ens" / "localizer.safetensors"
    got = extract_members(ens_path, tmp_path / "out")
    assert [p.parent.name for p in got] == ["member0", "member1"]
    for orig, new in zip(paths, got, strict=True):
        a, b = load_localizer(orig), load_localizer(new)
        assert a.config == b.config
        assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())
        recipe = json.loads((new.parent / "recipe.json").read_text())
        assert recipe["split"] == SPLIT and recipe["extracted_from"]["sha256"] == sha256_file(ens_path)
    assert json.loads((got[1].parent / "recipe.json").read_text())["extracted_from"]["as_trained"]["command"] == "train seed 2"
    write_ensemble(got, tmp_path / "again")
    assert (tmp_path / "again" / "localizer.safetensors").read_bytes() == ens_path.read_bytes()
    # the rebuilt ensemble's recipe still says how each member was trained, and where it was taken from
    listed = json.loads((tmp_path / "again" / "recipe.json").read_text())["ensemble"]["members"]
    assert [m["command"] for m in listed] == ["train seed 1", "train seed 2"]
    assert [m["as_trained_sha256"] for m in listed] == [sha256_file(p) for p in paths]
    assert [m["extracted_from"]["member"] for m in listed] == [0, 1]
    with pytest.raises(ValueError, match="single localizer"):
        extract_members(paths[0], tmp_path / "x")


def test_members_from_rebuilt_bundles_of_one_split_combine_but_not_across_splits(tmp_path: Path) -> None:
    """A bundle's hash and face counts say which bytes carried the split, not which photos: a
    rebuild that found one face fewer is the same split; a bundle of another split is not."""
    def bundle_split(sha: str, faces: int, which: str = "train") -> dict[str, object]:
        return {**SPLIT, "bundle": {"sha256": sha, "counts": {"faces": faces}, "faces": faces, "split": which, "format": "forgetalk-face-bundle-v1"}}

    dirs = [tmp_path / n for n in ("a", "b", "c")]
    for d in dirs:
        d.mkdir()
    a = _member(dirs[0], 1, split=bundle_split("aa", 189))
    b = _member(dirs[1], 2, split=bundle_split("bb", 188))
    recipe = json.loads((write_ensemble([a, b], tmp_path / "ens") and tmp_path / "ens" / "recipe.json").read_text())
    assert [m["bundle"]["sha256"] for m in recipe["ensemble"]["members"]] == ["aa", "bb"]  # each member's own bundle, named
    with pytest.raises(ValueError, match="different data splits"):
        write_ensemble([a, _member(dirs[2], 3, split=bundle_split("cc", 40, which="val"))], tmp_path / "x")


def _mirrored(x: torch.Tensor, r: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    from forgetalk.engines.localizer.model import mirrored_channels

    return x.flip(-1), r[:, mirrored_channels(TINY.region_names)].flip(-1)


def _tiny_batch() -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    x, r = torch.rand(2, 3, 64, 64), torch.zeros(2, len(TINY.region_names), 64, 64)
    r[:, 0, 20:28, 10:24] = 1  # left eye on one side of the crop only
    r[:, 5, 40:48, 20:44] = 1
    return x, r


def test_flip_average_is_each_member_and_its_mirrored_pass(tmp_path: Path) -> None:
    """--flip: every member's logits averaged with its pass on the mirrored crop, the mask mirrored
    back and the left/right region logits swapped back; the weights are the members' own."""
    from forgetalk.engines.localizer.model import mirrored_channels

    paths = [_member(tmp_path, s) for s in (1, 2)]
    write_ensemble(paths, tmp_path / "ens", flip=True)
    ens = load_localizer(tmp_path / "ens" / "localizer.safetensors")
    assert ens.config == replace(TINY, members=2, flip_average=True)
    perm = mirrored_channels(TINY.region_names)
    x, r = _tiny_batch()
    with torch.no_grad():
        mask, reg = ens(x, r)
        want_mask, want_reg = [], []
        for m in (load_localizer(p) for p in paths):
            (a, ra), (b, rb) = m(x, r), m(*_mirrored(x, r))
            want_mask.append((a + b.flip(-1)) / 2)
            want_reg.append((ra + rb[:, perm]) / 2)
    assert torch.allclose(mask, sum(want_mask) / 2, atol=1e-5) and torch.allclose(reg, sum(want_reg) / 2, atol=1e-5)
    assert not torch.allclose(reg, load_localizer(paths[0])(x, r)[1])  # the option changes what runs
    recipe = json.loads((tmp_path / "ens" / "recipe.json").read_text())
    assert recipe["command"].endswith(" --flip") and "mirrored" in recipe["ensemble"]["combine"]


def test_a_flip_averaged_network_answers_a_mirrored_face_with_the_mirrored_answer(tmp_path: Path) -> None:
    """What the mirrored pass buys by construction: the same verdict and mirrored heat for a face
    and its mirror image (one network alone is enough with --flip; without it two are needed)."""
    from forgetalk.engines.localizer.model import mirrored_channels

    write_ensemble([_member(tmp_path, 3)], tmp_path / "one", flip=True)
    net = load_localizer(tmp_path / "one" / "localizer.safetensors")
    assert net.config == replace(TINY, flip_average=True)
    x, r = _tiny_batch()
    with torch.no_grad():
        mask, reg = net(x, r)
        mask_m, reg_m = net(*_mirrored(x, r))
    assert torch.allclose(mask_m, mask.flip(-1), atol=1e-5)
    assert torch.allclose(reg_m, reg[:, mirrored_channels(TINY.region_names)], atol=1e-5)
    with pytest.raises(ValueError, match="at least two"):
        write_ensemble([_member(tmp_path, 4)], tmp_path / "none")


def test_flip_average_in_the_onnx_graph_matches_torch(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    write_ensemble([_member(tmp_path, 5)], tmp_path / "one", flip=True)
    _assert_onnx_matches_torch(tmp_path / "one")


def test_flip_average_config_round_trip_and_members_taken_out_without_it(tmp_path: Path) -> None:
    from forgetalk.train.ensemble import extract_members

    c = replace(TINY, members=2, flip_average=True)
    assert LocalizerConfig.from_dict(c.to_dict()) == c and "flip_average" not in TINY.to_dict()
    with pytest.raises(ValueError, match="true or false"):
        LocalizerConfig.from_dict({**TINY.to_dict(), "flip_average": "false"})
    paths = [_member(tmp_path, 6), _member(tmp_path, 7)]
    ens_path = write_ensemble(paths, tmp_path / "ens", flip=True) and tmp_path / "ens" / "localizer.safetensors"
    got = extract_members(ens_path, tmp_path / "out")
    assert [load_localizer(p).config for p in got] == [TINY, TINY]  # the networks; the flip was the ensemble's
    write_ensemble(got, tmp_path / "again", flip=True)
    assert (tmp_path / "again" / "localizer.safetensors").read_bytes() == ens_path.read_bytes()


def test_mirrored_channels_refuse_a_side_without_its_counterpart() -> None:
    from forgetalk.engines.localizer.model import mirrored_channels

    assert mirrored_channels(("left_eye", "nose", "right_eye")) == [2, 1, 0]
    with pytest.raises(ValueError, match="right_ear"):
        mirrored_channels(("left_ear", "nose"))


def test_the_calibration_families_are_every_family_of_every_member_and_its_lineage(tmp_path: Path) -> None:
    """trained_families: an ensemble whose first member was continued on two families from a
    network trained on eight was calibrated on those two alone (its ``train_config`` is the first
    member's); the union over members and the weights each was continued from is what the
    calibration must draw its validation forgeries from."""
    from forgetalk.train.ensemble import extract_members, trained_families

    eight = ["self_blend", "region_swap", "local_smoothing", "part_swap", "liquify", "retouch", "inpaint", "eye_colour"]
    d0, d1 = tmp_path / "m0", tmp_path / "m1"
    torch.manual_seed(0)
    previous = {"component": "localizer", "train_config": {"seed": 1, "families": ["retouch", "eye_colour"]}, "split": SPLIT}
    write_weights(build_localizer(TINY).eval(), d0, {"component": "localizer", "command": "continued", "train_config": {"seed": 2, "families": ["part_swap", "region_swap"]},
                                                     "split": SPLIT, "init": {"path": "x", "sha256": "0" * 64, "previous_recipe": previous}})
    write_weights(build_localizer(TINY).eval(), d1, {"component": "localizer", "command": "fresh", "train_config": {"seed": 3, "families": ["liquify", "inpaint"]}, "split": SPLIT})
    write_ensemble([d0 / "localizer.safetensors", d1 / "localizer.safetensors"], tmp_path / "ens")
    recipe = json.loads((tmp_path / "ens" / "recipe.json").read_text())
    assert recipe["train_config"]["families"] == ["part_swap", "region_swap"]  # the first member's, as before
    assert trained_families(recipe) == ("region_swap", "part_swap", "liquify", "retouch", "inpaint", "eye_colour")  # registry order
    assert [m["families"] for m in recipe["ensemble"]["members"]] == [["region_swap", "part_swap", "retouch", "eye_colour"], ["liquify", "inpaint"]]
    # members taken out and combined again keep every family (each listed entry carries its own)
    got = extract_members(tmp_path / "ens" / "localizer.safetensors", tmp_path / "out")
    write_ensemble(got, tmp_path / "again")
    assert trained_families(json.loads((tmp_path / "again" / "recipe.json").read_text())) == trained_families(recipe)
    # a recipe that names no family gives none (the calibration's v1 items)
    assert trained_families({"train_config": {"seed": 1}}) == ()
    # the shipped recipe: v3 continued on two families from all eight, beside three members trained on all eight
    shipped = json.loads((Path(__file__).resolve().parents[1] / "weights" / "localizer" / "recipe.json").read_text())
    assert list(trained_families(shipped)) == eight
