"""Post-processing chains: what happens to a photo after the edit (and to the real twin too).

A forged photo is saved, shared, re-sized and re-compressed; a crop of a 200 px face is an
up-sampled image, one of a 2000 px face a down-sampled one. :func:`draw_chain` draws such a
chain and :func:`apply_chain` applies it as a pure function, so the trainer can run the *same*
chain on the forgery and on its untouched twin: the chain itself is then never a cue, only what
it leaves of the edit is.

Steps, each with a probability: native face resolution (the crop is shown at 512 px; a face
of ``native_px`` < 512 is down-sampled to it and back up, one > 512 is up-sampled and area
down-sampled), mild unsharp masking, light Gaussian noise (seeded, identical on both twins),
and one or two JPEG saves at different qualities. Sizes scale with the crop: at a 256 px crop
"native 256" means a factor of 0.5 as at 512.

**Where the photo is saved** (``at_native``, since 2026-11-27). A photo is sharpened, gets its
noise and is saved as JPEG at its own size; the analysis then scales the face to the 512 px crop.
So for most resampled chains (``AT_NATIVE_SHARE``) those steps run at the native size, between
the down- and the up-sampling, and a small face's 8 px JPEG blocks and noise reach the crop
magnified, as they do in an analysis. Before, every step ran on the 512 px crop after the
resampling, i.e. a small face was modelled as up-scaled first and saved afterwards: on 60
untouched held-out faces saved at 160 px, the fused engine flagged 14 as manipulated, against 7
for the same faces up-scaled to 600 px before the save (``benchmarks/image_score.py`` and
docs/localizer_history.md). The rest keep the old order (a photo up-scaled, then saved). The flag is
derived from the chain's noise seed, so adding it drew nothing new: every chain drawn from a
given seed keeps all its other parameters.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import cv2
import numpy as np

from .generate import SynthSample, jpeg_recompress

CROP_REF = 512
#: Share of resampled chains whose sharpening, noise and JPEG run at the native size (``at_native``).
AT_NATIVE_SHARE = 0.8
_INTERP = {"area": cv2.INTER_AREA, "linear": cv2.INTER_LINEAR, "cubic": cv2.INTER_CUBIC, "lanczos": cv2.INTER_LANCZOS4}


@dataclass(frozen=True)
class ChainParams:
    """One drawn chain. ``native_px`` is recorded even when the resample step is off (then 512)."""

    native_px: int = CROP_REF  # the face's native size in pixels (crop reference 512)
    resample: bool = False
    down_interp: str = "area"
    up_interp: str = "cubic"
    sharpen_amount: float = 0.0  # 0 = off
    sharpen_sigma: float = 1.0  # at a 512 crop
    noise_sigma: float = 0.0  # grey levels, 0 = off
    noise_seed: int = 0
    jpeg: tuple[int, ...] = ()  # qualities, applied in order
    at_native: bool = False  # sharpen, noise and JPEG at native_px (between the resamplings), not on the crop

    def as_dict(self) -> dict[str, object]:
        d = dataclasses.asdict(self)
        d["jpeg"] = list(self.jpeg)
        return d


def draw_chain(
    rng: np.random.Generator,
    p_resample: float = 0.7,
    native_range: tuple[int, int] = (128, 1024),
    p_sharpen: float = 0.2,
    p_noise: float = 0.25,
    p_jpeg: float = 0.75,
    p_jpeg_twice: float = 0.3,
    jpeg_range: tuple[int, int] = (60, 95),
) -> ChainParams:
    """A random chain; the native size is log-uniform in ``native_range``."""
    resample = bool(rng.random() < p_resample)
    native = int(round(np.exp(rng.uniform(np.log(native_range[0]), np.log(native_range[1]))))) if resample else CROP_REF
    down = str(rng.choice(("area", "linear", "cubic")))
    up = str(rng.choice(("linear", "cubic", "lanczos")))
    amt = float(rng.uniform(0.2, 0.8)) if rng.random() < p_sharpen else 0.0
    ssig = float(rng.uniform(0.6, 1.6))
    noise = float(rng.uniform(0.8, 3.0)) if rng.random() < p_noise else 0.0
    seed = int(rng.integers(0, 2**31 - 1))
    q: tuple[int, ...] = ()
    if rng.random() < p_jpeg:
        q1 = int(rng.integers(jpeg_range[0], jpeg_range[1] + 1))
        q = (q1,)
        if rng.random() < p_jpeg_twice:
            q2 = int(rng.integers(jpeg_range[0], jpeg_range[1] + 1))
            while q2 == q1:
                q2 = int(rng.integers(jpeg_range[0], jpeg_range[1] + 1))
            q = (q1, q2)
    resampled = resample and native != CROP_REF
    at_native = resampled and (seed % 1000) < AT_NATIVE_SHARE * 1000  # from the seed: no new draw (module docstring)
    return ChainParams(native, resampled, down, up, round(amt, 3), round(ssig, 3), round(noise, 3), seed, q, at_native)


def _saved(img: np.ndarray, params: ChainParams) -> np.ndarray:
    """Sharpening, noise and the JPEG saves, at the size of ``img`` (sigma scales with it)."""
    s = img.shape[0]
    out = img
    if params.sharpen_amount > 0:
        sig = max(0.3, params.sharpen_sigma * s / CROP_REF)
        blur = cv2.GaussianBlur(out, (0, 0), sig).astype(np.float32)
        out = np.clip(out.astype(np.float32) * (1 + params.sharpen_amount) - blur * params.sharpen_amount + 0.5, 0, 255).astype(np.uint8)
    if params.noise_sigma > 0:
        noise = np.random.default_rng(params.noise_seed).normal(0.0, params.noise_sigma, out.shape).astype(np.float32)
        out = np.clip(out.astype(np.float32) + noise + 0.5, 0, 255).astype(np.uint8)
    for q in params.jpeg:
        out = jpeg_recompress(out, q)
    return out


def apply_chain(img: np.ndarray, params: ChainParams) -> np.ndarray:
    """Apply ``params`` to a square uint8 RGB crop; same input and params give the same output.

    With ``at_native`` the photo is saved at its native size and then scaled to the crop, as an
    analysis scales it; otherwise the crop is resampled first and saved at the crop's size."""
    s = img.shape[0]
    out = img
    if params.resample and params.native_px != CROP_REF:
        n = max(8, int(round(s * params.native_px / CROP_REF)))
        if n < s:
            small = cv2.resize(out, (n, n), interpolation=_INTERP[params.down_interp])
            small = _saved(small, params) if params.at_native else small
            out = cv2.resize(small, (s, s), interpolation=_INTERP[params.up_interp])
        elif n > s:
            big = cv2.resize(out, (n, n), interpolation=_INTERP[params.up_interp])
            big = _saved(big, params) if params.at_native else big
            out = cv2.resize(big, (s, s), interpolation=cv2.INTER_AREA)
        if params.at_native and n != s:
            return out
    out = _saved(out, params)
    return out if out is not img else img.copy()


def chain_sample(smp: SynthSample, params: ChainParams) -> SynthSample:
    """``smp`` with the chain applied to its image (mask unchanged: it marks what was edited);
    ``jpeg_quality`` is the last save's quality and ``params["chain"]`` the chain."""
    q = params.jpeg[-1] if params.jpeg else smp.jpeg_quality
    p = dict(smp.params)
    p["chain"] = params.as_dict()
    return dataclasses.replace(smp, image=apply_chain(smp.image, params), jpeg_quality=q, params=p)
