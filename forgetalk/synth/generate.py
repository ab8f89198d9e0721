"""Generators: self-blend, region swap, local smoothing/resampling, JPEG re-compression.

All functions are pure (arrays + a ``numpy.random.Generator`` in, new arrays out). The
forged-pixel mask is defined *before* any final JPEG step as: blend weight > 0.1 and the
pixel actually changed (max channel difference > ``CHANGE_EPS`` after a 3x3 box filter, so
single-pixel rounding noise does not count). Region lists come from the same
FaceMesh-derived masks the analyser uses, so "region touched" means the same thing in
training, benchmark and report.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from ..faces.base import REGION_NAMES
from ..faces.regions import regions_from_mesh

#: Regions a forgery may target (organ edits and whole inner face).
SWAP_REGIONS: tuple[str, ...] = ("left_eye", "right_eye", "left_brow", "right_brow", "nose", "mouth", "eyes", "inner_face")
#: Skin areas that retouching and self-blends may target as well (wrinkles, blemishes, cheeks).
SKIN_TARGETS: tuple[str, ...] = ("forehead", "left_cheek", "right_cheek", "chin_jaw")
KINDS: tuple[str, ...] = ("self_blend", "region_swap", "local_smoothing")
ALPHA_MIN = 0.1
CHANGE_EPS = 2.0
#: A region counts as touched when this fraction of it is forged.
TOUCH_FRACTION = 0.2


@dataclass(frozen=True)
class FaceRecord:
    """A real aligned face at some square size with its mesh landmarks and region masks."""

    crop: np.ndarray = field(repr=False)  # (S, S, 3) uint8 RGB
    landmarks: np.ndarray = field(repr=False)  # (478, 2) float32 crop coords at size S
    regions: dict[str, np.ndarray] = field(repr=False)  # name -> bool (S, S)
    face_mask: np.ndarray = field(repr=False)  # bool (S, S)
    #: (S, S) uint8 part label map (forgetalk.train.parsing.PART_NAMES) when the face comes from a
    #: parsing set; None for faces that only have FaceMesh regions.
    parts: np.ndarray | None = field(default=None, repr=False)
    #: Which photo collection the face comes from ("faces": the web photos, "parsing": the parsing
    #: set; "" unknown). Why a record knows it: the two collections differ in camera, retouching
    #: and history, and the trainer can give each an equal share of the hosts (TrainConfig.host_draw).
    source: str = ""

    @staticmethod
    def from_crop(crop: np.ndarray, landmarks: np.ndarray, size: int | None = None, parts: np.ndarray | None = None, source: str = "") -> FaceRecord:
        """Build from a crop + landmarks (+ part map), optionally resized to ``size``."""
        s0 = crop.shape[0]
        if size and size != s0:
            crop = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
            landmarks = np.asarray(landmarks, np.float32) * (size / s0)
            if parts is not None:
                parts = cv2.resize(parts, (size, size), interpolation=cv2.INTER_NEAREST)
        s = crop.shape[0]
        regions, oval = regions_from_mesh(landmarks, s)
        return FaceRecord(np.ascontiguousarray(crop), np.asarray(landmarks, np.float32), regions, oval, parts, source)


@dataclass(frozen=True)
class SynthSample:
    """One generated image with its ground truth."""

    image: np.ndarray = field(repr=False)  # (S, S, 3) uint8 RGB, after JPEG if any
    mask: np.ndarray = field(repr=False)  # bool (S, S): forged pixels
    kind: str  # "real" | one of KINDS
    target: str  # the region the generator aimed at ("" for real)
    regions: tuple[str, ...]  # regions touched (coverage >= TOUCH_FRACTION), most covered first
    coverage: dict[str, float]  # region -> forged fraction of the region
    jpeg_quality: int | None = None
    params: dict[str, object] = field(default_factory=dict)


# -- masks -------------------------------------------------------------------------------

def target_mask(rec: FaceRecord, target: str) -> np.ndarray:
    """Binary mask of a target: an organ, both eyes, or the inner face (oval minus boundary band)."""
    if target == "eyes":
        return rec.regions["left_eye"] | rec.regions["right_eye"]
    if target == "inner_face":
        s = rec.face_mask.shape[0]
        k = max(3, int(s * 0.035)) | 1
        inner = cv2.erode(rec.face_mask.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
        return inner.astype(bool)
    return rec.regions[target]


def blend_mask(base: np.ndarray, rng: np.random.Generator, soft: bool = True, max_grow: float = 0.25) -> np.ndarray:
    """Soft alpha in [0, 1] from a binary mask: random grow/shrink, elastic jitter, feathering.

    Why jitter: real editing masks never follow the landmark hull exactly; a localizer
    trained on perfect hulls would learn the hull shape instead of the blend trace.
    """
    s = base.shape[0]
    m = base.astype(np.uint8)
    area = max(float(m.sum()), 1.0)
    r = max(1, int(round(np.sqrt(area) * rng.uniform(0.0, max_grow))))
    ker = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    m = cv2.dilate(m, ker) if rng.random() < 0.7 else cv2.erode(m, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (max(3, r) | 1, max(3, r) | 1)))
    if m.sum() == 0:
        m = base.astype(np.uint8)
    # Elastic jitter: low-frequency displacement field.
    amp = s * rng.uniform(0.0, 0.02)
    if amp > 0.5:
        g = max(4, s // 32)
        dx = cv2.resize(rng.normal(0, 1, (g, g)).astype(np.float32), (s, s), interpolation=cv2.INTER_CUBIC) * amp
        dy = cv2.resize(rng.normal(0, 1, (g, g)).astype(np.float32), (s, s), interpolation=cv2.INTER_CUBIC) * amp
        yy, xx = np.mgrid[0:s, 0:s].astype(np.float32)
        m = cv2.remap(m, xx + dx, yy + dy, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        if m.sum() == 0:
            m = base.astype(np.uint8)
    alpha = m.astype(np.float32)
    if soft:
        sig = max(0.5, np.sqrt(area) * rng.uniform(0.02, 0.12))
        alpha = cv2.GaussianBlur(alpha, (0, 0), sig)
        alpha = alpha / max(float(alpha.max()), 1e-6)
    alpha *= rng.uniform(0.75, 1.0) if rng.random() < 0.3 else 1.0
    return np.clip(alpha, 0.0, 1.0)


def changed_mask(a: np.ndarray, b: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Forged pixels: blend weight above ALPHA_MIN and a visible change (see module docstring)."""
    diff = np.abs(a.astype(np.float32) - b.astype(np.float32)).max(axis=2)
    diff = cv2.blur(diff, (3, 3))
    return (alpha > ALPHA_MIN) & (diff > CHANGE_EPS)


def region_coverage(mask: np.ndarray, regions: dict[str, np.ndarray]) -> dict[str, float]:
    """Forged fraction of each region (the quantity region ranking is scored against)."""
    out: dict[str, float] = {}
    for name in REGION_NAMES:
        r = regions.get(name)
        if r is None:
            continue
        area = int(r.sum())
        out[name] = float((mask & r).sum()) / area if area else 0.0
    return out


def touched(cov: dict[str, float]) -> tuple[str, ...]:
    """Regions of which at least TOUCH_FRACTION is forged, most covered first."""
    return tuple(sorted((k for k, v in cov.items() if v >= TOUCH_FRACTION), key=lambda k: -cov[k]))


# -- pixel perturbations ----------------------------------------------------------------

def _colour_jitter(img: np.ndarray, rng: np.random.Generator, strength: float = 1.0) -> np.ndarray:
    """Per-channel gain/offset plus HSV hue/saturation shift."""
    f = img.astype(np.float32)
    gain = 1.0 + rng.uniform(-0.12, 0.12, 3) * strength
    off = rng.uniform(-14, 14, 3) * strength
    f = f * gain + off
    hsv = cv2.cvtColor(np.clip(f, 0, 255).astype(np.uint8), cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + rng.uniform(-5, 5) * strength) % 180
    hsv[..., 1] = np.clip(hsv[..., 1] * (1 + rng.uniform(-0.25, 0.25) * strength), 0, 255)
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)


def _frequency(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Blur, sharpen or down/up-sample: the spectral mismatch of a generated patch."""
    c = rng.integers(0, 3)
    if c == 0:
        return cv2.GaussianBlur(img, (0, 0), rng.uniform(0.6, 2.0))
    if c == 1:
        blur = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.8, 2.0)).astype(np.float32)
        amt = rng.uniform(0.5, 1.5)
        return np.clip(img.astype(np.float32) * (1 + amt) - blur * amt, 0, 255).astype(np.uint8)
    s = img.shape[0]
    f = rng.uniform(0.3, 0.7)
    small = cv2.resize(img, (max(8, int(s * f)),) * 2, interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (s, s), interpolation=[cv2.INTER_LINEAR, cv2.INTER_CUBIC, cv2.INTER_NEAREST][rng.integers(0, 3)])


def _geometry(img: np.ndarray, rng: np.random.Generator, center: tuple[float, float]) -> np.ndarray:
    """Small scale/shift about the target centre: the misregistration of a pasted part."""
    s = img.shape[0]
    sc = rng.uniform(0.94, 1.06)
    m = cv2.getRotationMatrix2D(center, rng.uniform(-3, 3), sc)
    m[:, 2] += rng.uniform(-0.01, 0.01, 2) * s
    return cv2.warpAffine(img, m, (s, s), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)


def _mask_center(mask: np.ndarray) -> tuple[float, float]:
    ys, xs = np.nonzero(mask)
    if xs.size == 0:
        return (mask.shape[1] / 2, mask.shape[0] / 2)
    return (float(xs.mean()), float(ys.mean()))


def _alpha_blend(dst: np.ndarray, src: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    a = alpha[..., None]
    return np.clip(src.astype(np.float32) * a + dst.astype(np.float32) * (1 - a) + 0.5, 0, 255).astype(np.uint8)


def finish(rec: FaceRecord, out: np.ndarray, alpha: np.ndarray, kind: str, target: str, params: dict[str, object]) -> SynthSample:
    """SynthSample with the changed-pixel truth (alpha > ALPHA_MIN and visibly changed); every
    family builds its sample here, so "forged pixel" and "region touched" mean one thing."""
    mask = changed_mask(out, rec.crop, alpha)
    cov = region_coverage(mask, rec.regions)
    return SynthSample(out, mask, kind, target, touched(cov), cov, None, params)


# -- generators -------------------------------------------------------------------------

def self_blend(rec: FaceRecord, rng: np.random.Generator, target: str | None = None) -> SynthSample:
    """Blend the face with a colour/frequency/geometry-perturbed copy of itself (SBI-style).

    The copy may also be the mirrored face: the FFHQ template is left/right symmetric, so the
    mirror lines up and pasting it is the "copy the other eye / half" edit.
    """
    target = target or str(rng.choice((*SWAP_REGIONS, *SKIN_TARGETS)))
    base = target_mask(rec, target)
    src = rec.crop
    ops = []
    if rng.random() < 0.3:
        src = np.ascontiguousarray(src[:, ::-1])
        ops.append("mirror")
    if rng.random() < 0.8:
        src = _colour_jitter(src, rng)
        ops.append("colour")
    if rng.random() < 0.6:
        src = _frequency(src, rng)
        ops.append("frequency")
    if rng.random() < 0.5 or ops in ([], ["mirror"]):
        src = _geometry(src, rng, _mask_center(base))
        ops.append("geometry")
    alpha = blend_mask(base, rng, max_grow=0.06 if target == "inner_face" else 0.25)
    out = _alpha_blend(rec.crop, src, alpha)
    return finish(rec, out, alpha, "self_blend", target, {"ops": ops})


def _match_colour(src: np.ndarray, dst: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean/std transfer in Lab inside the mask, as face-swap tools do before blending."""
    if mask.sum() < 10:
        return src
    s = cv2.cvtColor(src, cv2.COLOR_RGB2LAB).astype(np.float32)
    d = cv2.cvtColor(dst, cv2.COLOR_RGB2LAB).astype(np.float32)
    ms, ss = s[mask].mean(0), s[mask].std(0) + 1e-3
    md, sd = d[mask].mean(0), d[mask].std(0) + 1e-3
    s = (s - ms) / ss * sd + md
    return cv2.cvtColor(np.clip(s, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)


_TARGET_POINTS: dict[str, list[int]] | None = None


def _target_points(target: str) -> list[int]:
    global _TARGET_POINTS
    if _TARGET_POINTS is None:
        from ..faces import regions as R

        _TARGET_POINTS = {
            "left_eye": R.MESH_LEFT_EYE + R.MESH_LEFT_BROW[:4],
            "right_eye": R.MESH_RIGHT_EYE + R.MESH_RIGHT_BROW[:4],
            "left_brow": R.MESH_LEFT_BROW + R.MESH_LEFT_EYE[:4],
            "right_brow": R.MESH_RIGHT_BROW + R.MESH_RIGHT_EYE[:4],
            "nose": R.MESH_NOSE,
            "mouth": R.MESH_LIPS,
            "eyes": R.MESH_LEFT_EYE + R.MESH_RIGHT_EYE,
            "inner_face": R.MESH_OVAL_PATH + R.MESH_NOSE,
        }
    return _TARGET_POINTS[target]


def region_swap(rec: FaceRecord, donor: FaceRecord, rng: np.random.Generator, target: str | None = None, method: str | None = None) -> SynthSample:
    """Paste a region of ``donor`` into ``rec``: landmark-registered, colour-matched, then alpha or Poisson blended."""
    target = target or str(rng.choice(SWAP_REGIONS))
    method = method or ("poisson" if rng.random() < 0.4 else "alpha")
    s = rec.crop.shape[0]
    idx = _target_points(target)
    m, _ = cv2.estimateAffinePartial2D(donor.landmarks[idx], rec.landmarks[idx], method=cv2.LMEDS)
    src = donor.crop if m is None else cv2.warpAffine(donor.crop, m, (s, s), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    base = target_mask(rec, target)
    if rng.random() < 0.7:
        src = _match_colour(src, rec.crop, base)
    alpha = blend_mask(base, rng, soft=(method == "alpha"), max_grow=0.06 if target == "inner_face" else 0.25)
    out = None
    if method == "poisson":
        bin_mask = (alpha > 0.5).astype(np.uint8) * 255
        x, y, w, h = cv2.boundingRect(bin_mask)
        if w > 2 and h > 2 and x > 1 and y > 1 and x + w < s - 1 and y + h < s - 1:
            center = (x + w // 2, y + h // 2)
            hard = (bin_mask > 0).astype(np.float32)  # before the call: seamlessClone may alter its mask argument
            try:
                out = cv2.cvtColor(cv2.seamlessClone(cv2.cvtColor(src, cv2.COLOR_RGB2BGR), cv2.cvtColor(rec.crop, cv2.COLOR_RGB2BGR), bin_mask.copy(), center, cv2.NORMAL_CLONE), cv2.COLOR_BGR2RGB)
                alpha = hard
            except cv2.error:
                out = None
        if out is None:
            method = "alpha"
            alpha = cv2.GaussianBlur(alpha, (0, 0), 2.0)
    if out is None:
        out = _alpha_blend(rec.crop, src, alpha)
    return finish(rec, out, alpha, "region_swap", target, {"method": method})


def local_smoothing(rec: FaceRecord, rng: np.random.Generator, target: str | None = None) -> SynthSample:
    """Retouching: blur, median, bilateral ("beauty filter") or resampling inside a region."""
    target = target or str(rng.choice((*SWAP_REGIONS, *SKIN_TARGETS, "skin")))
    base = rec.regions["skin"] & ~rec.regions["face_boundary"] if target == "skin" else target_mask(rec, target)
    s = rec.crop.shape[0]
    op = str(rng.choice(("gaussian", "median", "bilateral", "resample")))
    img = rec.crop
    if op == "gaussian":
        src = cv2.GaussianBlur(img, (0, 0), rng.uniform(1.0, 3.0) * s / 512)
    elif op == "median":
        src = cv2.medianBlur(img, int(max(3, round(s / 512 * rng.uniform(5, 11)))) | 1)
    elif op == "bilateral":
        src = cv2.bilateralFilter(img, int(max(3, round(s / 512 * 9))) | 1, rng.uniform(30, 80), rng.uniform(5, 15) * s / 512)
    else:
        f = rng.uniform(0.35, 0.6)
        src = cv2.resize(cv2.resize(img, (int(s * f),) * 2, interpolation=cv2.INTER_AREA), (s, s), interpolation=cv2.INTER_CUBIC)
    alpha = blend_mask(base, rng, max_grow=0.06 if target in ("inner_face", "skin") else 0.25)
    out = _alpha_blend(img, src, alpha)
    return finish(rec, out, alpha, "local_smoothing", target, {"op": op})


def jpeg_recompress(img: np.ndarray, quality: int) -> np.ndarray:
    """Encode/decode as JPEG (OpenCV's libjpeg, 4:2:0): the laundering every shared photo gets."""
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:  # pragma: no cover - cv2 always encodes uint8 RGB
        return img
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def real_sample(rec: FaceRecord) -> SynthSample:
    cov = {k: 0.0 for k in REGION_NAMES if k in rec.regions}
    return SynthSample(rec.crop, np.zeros(rec.crop.shape[:2], bool), "real", "", (), cov)


def random_forgery(
    rec: FaceRecord,
    rng: np.random.Generator,
    donors: list[FaceRecord] | None = None,
    p_real: float = 0.0,
    p_jpeg: float = 0.7,
    jpeg_range: tuple[int, int] = (60, 96),
) -> SynthSample:
    """A random sample: real (with probability ``p_real``) or one of KINDS, then maybe JPEG.

    Real samples go through the same JPEG step so that compression alone never marks a fake.
    Samples whose mask ended up empty (a perturbation too weak to change pixels) are redrawn.
    """
    if rng.random() < p_real:
        smp = real_sample(rec)
    else:
        for _ in range(4):
            kind = str(rng.choice(KINDS, p=(0.4, 0.4, 0.2))) if donors else str(rng.choice(("self_blend", "local_smoothing"), p=(0.7, 0.3)))
            if kind == "self_blend":
                smp = self_blend(rec, rng)
            elif kind == "region_swap":
                smp = region_swap(rec, donors[int(rng.integers(0, len(donors)))], rng)  # type: ignore[index]
            else:
                smp = local_smoothing(rec, rng)
            if smp.mask.sum() >= 0.002 * smp.mask.size:
                break
    if rng.random() < p_jpeg:
        q = int(rng.integers(jpeg_range[0], jpeg_range[1] + 1))
        smp = SynthSample(jpeg_recompress(smp.image, q), smp.mask, smp.kind, smp.target, smp.regions, smp.coverage, q, smp.params)
    return smp
