"""Pre- and post-processing shared by the torch and ONNX localizer runtimes (no torch import).

Both runtimes must feed the network exactly what training fed it and read its outputs the
same way; keeping that here is what makes their results interchangeable.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import cv2
import numpy as np

WEIGHTS_COMPONENT = "localizer"
WEIGHTS_FILE = "localizer.safetensors"
ONNX_FILE = "localizer.onnx"

#: Region coverage at which a mask-pooled region score saturates (same as the training target).
REGION_SATURATION = 0.4


def region_stack(regions: dict[str, np.ndarray], names: tuple[str, ...], size: int) -> np.ndarray:
    """(R, size, size) float32 region masks in the model's order, area-resized."""
    out = np.zeros((len(names), size, size), np.float32)
    for i, n in enumerate(names):
        m = regions.get(n)
        if m is not None:
            out[i] = cv2.resize(m.astype(np.float32), (size, size), interpolation=cv2.INTER_AREA)
    return out


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


def prepare_inputs(crop: np.ndarray, regions: dict[str, np.ndarray], size: int, names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(1,3,S,S) RGB in [0,1] and (1,R,S,S) region masks, float32, as in training."""
    h, w = crop.shape[:2]
    small = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA) if (h, w) != (size, size) else crop
    x = (small.astype(np.float32) / 255.0).transpose(2, 0, 1)[None]
    r = region_stack(regions, names, size)[None]
    return np.ascontiguousarray(x), r


def input_sizes(input_size: int, member_sizes: Iterable[int] = ()) -> tuple[int, ...]:
    """The input sizes a localizer is fed at: ``input_size`` first, then any other ensemble
    member's size, largest first (one ``image``/``regions`` pair is fed per size)."""
    main = int(input_size)
    return (main, *sorted({int(s) for s in member_sizes} - {main}, reverse=True))


def input_names(sizes: tuple[int, ...]) -> list[str]:
    """ONNX input names, in the network's positional order: ``image``, ``regions`` at the main
    size (the names of every single-size graph), then ``image_<S>``, ``regions_<S>`` per other size."""
    names = ["image", "regions"]
    for s in sizes[1:]:
        names += [f"image_{s}", f"regions_{s}"]
    return names


def prepare_all(crop: np.ndarray, regions: dict[str, np.ndarray], sizes: tuple[int, ...], names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Every input a localizer takes, by ONNX input name (see :func:`input_names`): the crop and
    region masks resized once per input size, each as :func:`prepare_inputs` makes them."""
    feed: dict[str, np.ndarray] = {}
    for key, size in zip(input_names(sizes)[::2], sizes, strict=True):
        feed[key], feed[key.replace("image", "regions")] = prepare_inputs(crop, regions, size, names)
    return feed


def _sigmoid(v: np.ndarray) -> np.ndarray:
    return (1.0 / (1.0 + np.exp(-v.astype(np.float64)))).astype(np.float32)


def finish_outputs(mask_logits: np.ndarray, region_logits: np.ndarray, crop_hw: tuple[int, int], names: tuple[str, ...], regions: dict[str, np.ndarray]) -> LocalizerOutput:
    """Network outputs (1,1,S,S) and (1,R) -> probabilities at crop size and per-region scores."""
    h, w = crop_hw
    prob = cv2.resize(_sigmoid(mask_logits[0, 0]), (w, h), interpolation=cv2.INTER_LINEAR)
    prob = np.clip(prob, 0.0, 1.0)
    rp = _sigmoid(region_logits[0])
    head = {n: float(rp[i]) for i, n in enumerate(names) if n in regions}
    return LocalizerOutput(prob, head, region_scores_from_mask(prob, {n: regions[n] for n in head}))
