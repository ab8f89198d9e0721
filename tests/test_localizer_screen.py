"""The validation screen's pure helpers (benchmarks/localizer_screen.py)."""

from __future__ import annotations

from _helpers import load_benchmark

from forgetalk.faces import REGION_NAMES

screen = load_benchmark("localizer_screen")


def test_combinations_list_every_pass_once() -> None:
    assert screen.parse_combo("v3") == [("v3", False)]
    assert screen.parse_combo("v3+v6~flip") == [("v3", False), ("v6", False), ("v6", True)]


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
