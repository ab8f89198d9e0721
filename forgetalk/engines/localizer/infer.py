"""Load the shipped localizer (safetensors only) and run it on one aligned face.

Why safetensors only: a pickled checkpoint can execute code on load, which an evidence
tool must never do; the config travels in the safetensors metadata.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from .model import LocalizerConfig, LocalizerNet

WEIGHTS_COMPONENT = "localizer"
WEIGHTS_FILE = "localizer.safetensors"


def save_localizer(model: LocalizerNet, path: Path, extra: dict[str, str] | None = None) -> None:
    from safetensors.torch import save_file

    meta = {"config": json.dumps(model.config.to_dict()), "format": "forgetalk-localizer-v1"}
    meta.update(extra or {})
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(state, str(path), metadata=meta)


def load_localizer(path: Path, device: str = "cpu") -> LocalizerNet:
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    if "config" not in meta:
        raise ValueError(f"{path}: not a forgetalk localizer (no config metadata)")
    model = LocalizerNet(LocalizerConfig.from_dict(json.loads(meta["config"])))
    model.load_state_dict(load_file(str(path), device=device))
    return model.to(device).eval()


def region_stack(regions: dict[str, np.ndarray], names: tuple[str, ...], size: int) -> np.ndarray:
    """(R, size, size) float32 region masks in the model's order, area-resized."""
    out = np.zeros((len(names), size, size), np.float32)
    for i, n in enumerate(names):
        m = regions.get(n)
        if m is not None:
            out[i] = cv2.resize(m.astype(np.float32), (size, size), interpolation=cv2.INTER_AREA)
    return out


#: Region coverage at which a mask-pooled region score saturates (same as the training target).
REGION_SATURATION = 0.4


def region_scores_from_mask(prob: np.ndarray, regions: dict[str, np.ndarray], saturation: float = REGION_SATURATION) -> dict[str, float]:
    """Estimated forged fraction of each region from the mask head, scaled like the region-head target."""
    out: dict[str, float] = {}
    for name, m in regions.items():
        out[name] = float(np.clip(prob[m].mean() / saturation, 0.0, 1.0)) if m.any() else 0.0
    return out


@dataclass(frozen=True)
class LocalizerOutput:
    prob: np.ndarray  # float32 (H, W) forged-pixel probability at crop size
    region_probs: dict[str, float]  # region head
    region_from_mask: dict[str, float]  # mask head pooled per region (see region_scores_from_mask)

    def region_scores(self, source: str) -> dict[str, float]:
        """'head', 'mask', 'mean' of both, or 'none' (chosen on validation, see forgetalk.train.calibrate)."""
        if source == "none":
            return {}
        if source == "head":
            return dict(self.region_probs)
        if source == "mask":
            return dict(self.region_from_mask)
        return {k: 0.5 * (v + self.region_from_mask.get(k, v)) for k, v in self.region_probs.items()}


class Localizer:
    """A loaded LocalizerNet plus the pre/post-processing that matches training."""

    def __init__(self, model: LocalizerNet, device: str = "cpu") -> None:
        self.model = model.to(device).eval()
        self.device = device

    @property
    def config(self) -> LocalizerConfig:
        return self.model.config

    @torch.no_grad()
    def predict(self, crop: np.ndarray, regions: dict[str, np.ndarray]) -> LocalizerOutput:
        s = self.config.input_size
        h, w = crop.shape[:2]
        small = cv2.resize(crop, (s, s), interpolation=cv2.INTER_AREA) if (h, w) != (s, s) else crop
        x = torch.from_numpy(small.astype(np.float32) / 255.0).permute(2, 0, 1)[None].to(self.device)
        r = torch.from_numpy(region_stack(regions, self.config.region_names, s))[None].to(self.device)
        logits, rlog = self.model(x, r)
        prob = torch.sigmoid(logits)[0, 0].cpu().numpy().astype(np.float32)
        prob = cv2.resize(prob, (w, h), interpolation=cv2.INTER_LINEAR)
        rp = torch.sigmoid(rlog)[0].cpu().numpy()
        prob = np.clip(prob, 0.0, 1.0)
        head = {n: float(rp[i]) for i, n in enumerate(self.config.region_names) if n in regions}
        return LocalizerOutput(prob, head, region_scores_from_mask(prob, {n: regions[n] for n in head}))
