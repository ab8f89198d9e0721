"""Weight averages of two localizers (forgetalk.train.soup), on tiny models built here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from forgetalk.engines.localizer.infer import load_localizer
from forgetalk.engines.localizer.model import LocalizerConfig, build_localizer
from forgetalk.train.loop import write_weights
from forgetalk.train.soup import average_state, write_soup

TINY = LocalizerConfig(input_size=64, widths=(4, 8, 8, 8))


def _tiny(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    m = build_localizer(TINY)
    for buf_name, buf in m.named_buffers():  # make BatchNorm statistics differ between the two
        if buf.is_floating_point():
            buf.uniform_(0.5, 1.5)
        elif buf_name.endswith("num_batches_tracked"):
            buf.fill_(seed)
    return m.eval()


def test_average_state_mixes_floats_and_keeps_the_second_models_counters() -> None:
    a, b = _tiny(1).state_dict(), _tiny(2).state_dict()
    mid = average_state(a, b, 0.25)
    for k, v in mid.items():
        if a[k].is_floating_point():
            assert torch.allclose(v, 0.25 * a[k] + 0.75 * b[k])
        else:
            assert torch.equal(v, b[k])
    assert all(torch.equal(average_state(a, b, 1.0)[k], a[k]) for k in a if a[k].is_floating_point())


def test_average_state_refuses_mismatched_models() -> None:
    a = _tiny(1).state_dict()
    with pytest.raises(ValueError, match="keys"):
        average_state(a, {k: v for k, v in a.items() if not k.endswith("num_batches_tracked")}, 0.5)
    with pytest.raises(ValueError, match="alpha"):
        average_state(a, a, 1.5)


def test_write_soup_writes_a_loadable_pinned_localizer_with_its_members(tmp_path: Path) -> None:
    dirs = []
    for seed in (1, 2):
        d = tmp_path / f"m{seed}"
        write_weights(_tiny(seed), d, {"component": "localizer", "train_config": {"seed": seed, "families": ["liquify"]}, "split": {"rule": "test"}})
        dirs.append(d)
    out = tmp_path / "soup"
    manifest = write_soup(dirs[0] / "localizer.safetensors", dirs[1] / "localizer.safetensors", out, 0.5)
    assert {f["name"] for f in manifest["files"]} >= {"localizer.safetensors", "recipe.json"}
    soup = load_localizer(out / "localizer.safetensors")
    a, b = (load_localizer(d / "localizer.safetensors").state_dict() for d in dirs)
    for k, v in soup.state_dict().items():
        assert torch.allclose(v, 0.5 * a[k] + 0.5 * b[k]) if v.is_floating_point() else torch.equal(v, b[k])
    recipe = json.loads((out / "recipe.json").read_text())
    assert recipe["train_config"]["families"] == ["liquify"] and len(recipe["soup"]["members"]) == 2
