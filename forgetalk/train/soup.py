"""Weight averages ("model soups") of two localizers from one training basin.

Why: a localizer continued from another (v5 from v3) sits in the same basin, so averaging their
weights gives a third model at no run-time cost, one that can keep some of what each does best
(measured 2026-11-26: the v3/v5 average raised pixel AUC from 0.688 to 0.717 with region top-1
close to v3's, 41.3 % against 42.2 %, but failed the ranking test and the real-face prior goal that
v3 passes, so it was not shipped; docs/localizer_history.md). Only floating tensors are averaged; integer buffers (BatchNorm's
``num_batches_tracked``) come from the second model. Two unrelated runs (different decoder
initialisations) do not share a basin: their average is a different, usually broken, network,
so both must come from one lineage; the recipe records both members' hashes.

``python -m forgetalk.train.soup A.safetensors B.safetensors OUT_DIR [--alpha 0.5]`` writes
weights, ONNX, recipe (B's training config and split, so ``forgetalk.train.calibrate`` can run on
it) and manifest; calibrate it before use.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch


def average_state(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], alpha: float) -> dict[str, torch.Tensor]:
    """``alpha * a + (1 - alpha) * b`` for floating tensors; integer buffers from ``b``."""
    if a.keys() != b.keys():
        raise ValueError(f"the two state dicts differ in keys: {sorted(set(a) ^ set(b))[:5]}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    out = {}
    for k, va in a.items():
        vb = b[k]
        if va.shape != vb.shape:
            raise ValueError(f"{k}: shapes {tuple(va.shape)} and {tuple(vb.shape)} differ")
        out[k] = alpha * va + (1.0 - alpha) * vb if va.is_floating_point() else vb.clone()
    return out


def write_soup(a_path: Path, b_path: Path, out_dir: Path, alpha: float = 0.5) -> dict[str, object]:
    """Average the localizers at ``a_path`` and ``b_path`` into ``out_dir`` (uncalibrated)."""
    from ..engines.localizer.infer import load_localizer
    from ..io import sha256_file
    from .loop import DERIVED_RECIPE_KEYS, recipe_beside, write_weights

    a, b = load_localizer(a_path), load_localizer(b_path)
    if a.config != b.config:  # frozen dataclasses: field-by-field equality
        raise ValueError(f"{a_path} and {b_path} are different architectures")
    b.load_state_dict(average_state(a.state_dict(), b.state_dict(), alpha))
    base = recipe_beside(b_path)
    recipe = {k: base[k] for k in DERIVED_RECIPE_KEYS if k in base}
    recipe["command"] = f"python -m forgetalk.train.soup {a_path} {b_path} {out_dir} --alpha {alpha}"
    recipe["soup"] = {"alpha_first": alpha, "members": [{"path": str(p), "sha256": sha256_file(p)} for p in (a_path, b_path)]}
    return write_weights(b.eval(), out_dir, recipe)


if __name__ == "__main__":  # pragma: no cover - thin command line over write_soup
    import argparse

    ap = argparse.ArgumentParser(prog="python -m forgetalk.train.soup", description="Average two localizers of one lineage (then run forgetalk.train.calibrate on OUT_DIR).")
    ap.add_argument("first", type=Path)
    ap.add_argument("second", type=Path)
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--alpha", type=float, default=0.5, help="weight of the first model (default 0.5)")
    args = ap.parse_args()
    print(json.dumps(write_soup(args.first, args.second, args.out_dir, args.alpha)["files"], indent=1))
