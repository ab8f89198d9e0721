"""The validation screen's pure helpers (benchmarks/localizer_screen.py)."""

from __future__ import annotations

from _helpers import load_benchmark

from forgetalk.faces import REGION_NAMES

screen = load_benchmark("localizer_screen")


def test_combinations_list_every_pass_once() -> None:
    assert screen.parse_combo("v3") == [("v3", False)]
    assert screen.parse_combo("v3+v6~flip") == [("v3", False), ("v6", False), ("v6", True)]
    assert screen.parse_combo("v3@256+v6@320~flip") == [("v3@256", False), ("v6@320", False), ("v6@320", True)]
    assert screen.parse_combo("ship@320", {"ship": ["ship.0", "ship.1"]}) == [("ship.0@320", False), ("ship.1@320", False)]


def test_a_pass_runs_at_its_own_size_unless_it_names_another() -> None:
    from types import SimpleNamespace

    nets = {"v3": SimpleNamespace(config=SimpleNamespace(input_size=192))}
    assert screen.pass_size("v3", nets) == ("v3", 192)
    assert screen.pass_size("v3@256", nets) == ("v3", 256)


def test_mirrored_channels_swap_left_and_right_only() -> None:
    perm = screen.mirrored_channels(REGION_NAMES)
    for i, name in enumerate(REGION_NAMES):
        other = REGION_NAMES[perm[i]]
        if name.startswith("left_"):
            assert other == "right_" + name[5:]
        elif name.startswith("right_"):
            assert other == "left_" + name[6:]
        else:
            assert other == name
    assert sorted(perm) == list(range(len(REGION_NAMES)))


def test_head_metrics_per_region_auc_compares_the_forged_part_with_the_same_part_on_twins() -> None:
    """Two forgeries (regions 0 and 1) and two twins, logits chosen by hand."""
    import torch

    from forgetalk.train.loop import head_metrics

    mask = torch.zeros(4, 1, 2, 2)
    mask[:2, 0, 0, 0] = 1.0  # items 0-1 forged, 2-3 untouched
    rt = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0, 0, 0], [0, 0, 0]])
    # region 0: forged item 0 at 2.0 beats both twins (0.0, -1.0) -> AUC 1.
    # region 1: forged item 1 at 0.5 sits between the twins (1.0, 0.0) -> AUC 0.5.
    rlog = torch.tensor([[2.0, -3.0, -3.0], [-3.0, 0.5, -3.0], [0.0, 1.0, -3.0], [-1.0, 0.0, -3.0]])
    got = head_metrics(rlog, {"mask": mask, "rt": rt})
    assert got["region_auc_mean"] == 0.75
    assert got["region_top1"] == 1.0
    # image scores (max prob): forged 2.0, 0.5; twins 1.0, 0.0 -> 3 of 4 pairs ordered
    assert got["image_auc"] == 0.75


def test_source_rows_split_the_unpaired_auc_by_face_size() -> None:
    """Small faces: parsing untouched score above web forgeries (cross AUC 0); large faces fine."""
    import numpy as np

    score = np.array([0.9, 0.2, 0.95, 0.85, 0.5, 0.3, 0.9, 0.2])
    forged = np.array([1, 0, 1, 0, 1, 0, 1, 0], bool)
    source = ["parsing", "parsing", "parsing", "parsing", "faces", "faces", "faces", "faces"]
    native = np.array([400, 400, 140, 140, 140, 140, 400, 400])
    rows = {band: (n, aucs) for band, n, aucs in screen.source_rows(score, forged, source, native)}
    assert rows["every size"][0] == 8
    n, small = rows["0-160 px"]
    assert n == 4 and small["faces"] == 1.0 and small["parsing"] == 1.0
    assert small["faces forged vs parsing untouched"] == 0.0  # 0.5 against the parsing twin's 0.85
    assert rows[">= 315 px"][1]["faces forged vs parsing untouched"] == 1.0
    assert rows["160-315 px"] == (0, {})


def test_batches_name_each_image_s_host_and_native_size() -> None:
    """make_batch's bookkeeping: the guard batch's host order and each chain's native size."""
    import numpy as np

    from forgetalk.engines.localizer.model import LocalizerConfig
    from forgetalk.synth import FaceRecord
    from forgetalk.synth.samples import public_domain_face
    from forgetalk.train.loop import TrainConfig, make_batch

    f = public_domain_face()
    recs = [FaceRecord.from_crop(f.crop, f.dense_landmarks, 96, source=s) for s in ("faces", "parsing", "parsing")]
    cfg = TrainConfig(seed=1, synth_size=96, model=LocalizerConfig(input_size=64, widths=(4, 8, 8, 8)), families=("region_swap",), chain=True)
    batch = make_batch(recs, np.random.default_rng(0), cfg, 6, order=[2, 0, 1])
    assert batch["host"].tolist() == [2, 2, 0, 0, 1, 1]
    nat = batch["native_px"].tolist()
    assert nat[0::2] == nat[1::2] and all(128 <= v <= 1024 for v in nat)  # twin and forgery share the chain


def test_cross_differences_are_paired_over_host_faces() -> None:
    """A combination that lowers every untouched parsing-set score closes the gap; the interval of
    a combination against itself (shifted by a constant) is exactly zero, and resampling is by face."""
    import numpy as np

    rng = np.random.default_rng(0)
    n_faces = 30
    host = np.repeat(np.arange(n_faces), 2)  # each face: twin, forgery
    forged = np.tile([False, True], n_faces)
    source = ["parsing" if h < 20 else "faces" for h in host]
    base = rng.random(len(host)) + 0.3 * forged + 0.4 * (np.array(source) == "parsing")  # parsing scores high
    fixed = base - 0.4 * (np.array(source) == "parsing") * ~forged  # untouched parsing faces lowered
    d = screen.cross_differences({"base": base, "same": base + 1.0, "fixed": fixed}, forged, source, host, "base", resamples=200)
    assert set(d) == {"same", "fixed"}
    assert all(v == (0.0, 0.0, 0.0) for v in d["same"].values())  # a monotone shift changes no AUC
    web_cross = d["fixed"][screen.SOURCE_KEYS[2]]
    assert web_cross[0] > 0.1 and web_cross[1] > 0  # web forgeries now beat untouched parsing faces more often
    assert d["fixed"]["gap"][0] < 0 and d["fixed"]["gap"][1] <= d["fixed"]["gap"][0] <= d["fixed"]["gap"][2]


def test_weighted_auc_lives_in_metrics_and_the_benchmark_uses_it() -> None:
    from _helpers import load_benchmark

    from forgetalk.metrics import weighted_auc

    assert load_benchmark("localization").weighted_auc is weighted_auc


def test_an_ensemble_file_is_screened_as_its_members(tmp_path) -> None:  # noqa: ANN001 - pytest fixture
    """The shipped weights are an ensemble whose members take inputs of their own sizes: the screen
    splits it into NAME.0, NAME.1 (each keeps its size) and its name stands for all of them in a
    combination, so the combination averages what the ensemble averages."""
    from dataclasses import replace

    import torch

    from forgetalk.engines.localizer.infer import load_localizer
    from forgetalk.engines.localizer.model import LocalizerConfig, build_localizer
    from forgetalk.train.ensemble import write_ensemble
    from forgetalk.train.loop import write_weights

    tiny = LocalizerConfig(input_size=64, widths=(4, 8, 8, 8))
    paths = []
    for seed, size in ((1, 64), (2, 48)):
        torch.manual_seed(seed)
        d = tmp_path / f"m{seed}"
        write_weights(build_localizer(replace(tiny, input_size=size)).eval(), d,
                      {"component": "localizer", "command": f"seed {seed}", "train_config": {"seed": seed}, "split": {"rule": "test"}})
        paths.append(d / "localizer.safetensors")
    write_ensemble(paths, tmp_path / "ens")
    single = load_localizer(paths[0])
    nets, members = screen.split_ensembles({"ship": load_localizer(tmp_path / "ens" / "localizer.safetensors"), "g1": single})
    assert members == {"ship": ["ship.0", "ship.1"]}
    assert [nets[n].config.input_size for n in ("ship.0", "ship.1")] == [64, 48] and nets["g1"] is single
    x = torch.rand(2, 3, 48, 48)
    with torch.no_grad():
        assert torch.equal(nets["ship.1"](x)[1], load_localizer(paths[1])(x)[1])  # the member's own weights
    assert screen.parse_combo("ship+g1~flip", members) == [("ship.0", False), ("ship.1", False), ("g1", False), ("g1", True)]
    assert screen.parse_combo("ship~flip", members) == [("ship.0", False), ("ship.0", True), ("ship.1", False), ("ship.1", True)]
