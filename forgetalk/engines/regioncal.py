"""Region suspicion relative to real faces: where a region's saliency sits among real faces.

Why: raw saliency is highest where heat usually sits (eyes and brows have strong edges, so
every engine puts heat there on *real* faces too). Ranking by raw heat therefore ranks a
prior, not evidence. Each engine ships, per region, the distribution of its own raw region
saliency on held-out real faces; a region's *suspicion* is the fraction of those real faces
whose same region scored lower. "Nose 0.99" then means "more unusual than the nose on 99 % of
real faces", whatever the nose's usual heat is. Regions are ordered by that percentile, the
number the analyst reads, and regions above every real face by how far above they are (their
*excess*, :meth:`RegionCalibration.excess`), so on real faces no region is first much more
often than another (:func:`suspicion_order`).

Faces of different sizes in the photo get different quantiles (:class:`SizeBand`, when the
calibration ships them): the analysis crop enlarges a small face, and its upsampled JPEG blocks
and noise raise the heat of some regions (the eyes) more than of others. Pooled over every size,
a 100 px face's eyes then look unusual on most *real* faces: the left eye ranked first on 28.6 %
of untouched held-out portraits saved at 160 px, against 19 % for the most frequent first region
at 600 px (docs/localizer.md). Within a band the comparison is with real faces enlarged alike.

The file is JSON (``region_calibration.json`` in the engine's weights folder), pinned by
sha256 in that folder's manifest and verified at every load like the weights.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

FILE_NAME = "region_calibration.json"
#: Quantile grid stored per region (enough to resolve the top percent with a few hundred faces).
QUANTILES = tuple(float(q) for q in np.round(np.r_[np.linspace(0.0, 0.9, 46), np.linspace(0.905, 1.0, 20)], 4))
#: A size band needs this many real items, or its faces fall back to the pooled quantiles (the
#: 99th percentile of fewer items is one or two faces).
MIN_BAND_ITEMS = 80


def _rows_to_json(qs: dict[str, tuple[float, ...]]) -> dict[str, list[float]]:
    return {k: [round(float(v), 6) for v in vs] for k, vs in qs.items()}


def _rows_from_json(rows: object, n_levels: int, what: str) -> dict[str, tuple[float, ...]]:
    qs = {str(k): tuple(float(x) for x in v) for k, v in rows.items()}  # type: ignore[attr-defined]
    if any(len(v) != n_levels for v in qs.values()):
        raise ValueError(f"region calibration: {what} do not match the levels")
    return qs


@dataclass(frozen=True)
class SizeBand:
    """Region quantiles of the real faces whose size in the photo (``DetectedFace.size``, px) is in
    ``[min_px, max_px)``; ``max_px`` None is unbounded."""

    min_px: float
    max_px: float | None
    n_items: int
    quantiles: dict[str, tuple[float, ...]] = field(repr=False)

    def holds(self, face_px: float) -> bool:
        return self.min_px <= face_px and (self.max_px is None or face_px < self.max_px)

    def describe(self) -> str:
        """The band in words, for the report."""
        if self.max_px is None:
            return f"faces of {self.min_px:.0f} px and up"
        if self.min_px <= 0:
            return f"faces under {self.max_px:.0f} px"
        return f"faces of {self.min_px:.0f}-{self.max_px:.0f} px"

    def to_dict(self) -> dict[str, object]:
        return {"min_px": self.min_px, "max_px": self.max_px, "n_items": self.n_items, "quantiles": _rows_to_json(self.quantiles)}

    @staticmethod
    def from_dict(d: dict[str, object], n_levels: int) -> SizeBand:
        qs = _rows_from_json(d["quantiles"], n_levels, "a size band's quantile rows")
        hi = d.get("max_px")
        band = SizeBand(min_px=float(d["min_px"]), max_px=None if hi is None else float(hi), n_items=int(d["n_items"]), quantiles=qs)  # type: ignore[arg-type]
        if band.max_px is not None and band.max_px <= band.min_px:
            raise ValueError("region calibration: a size band ends before it starts")
        return band


@dataclass(frozen=True)
class RegionCalibration:
    """Per region: raw-saliency quantiles on held-out real faces (``QUANTILES`` levels)."""

    engine: str
    n_faces: int
    quantiles: dict[str, tuple[float, ...]] = field(repr=False)
    levels: tuple[float, ...] = QUANTILES
    source: str = ""
    #: Per face-size band quantiles (empty: every face uses the pooled ``quantiles``).
    bands: tuple[SizeBand, ...] = ()
    #: Where it was loaded from (``weights/<component>/region_calibration.json``) and the sha256 of
    #: the very bytes parsed; None when built in memory. Reported because every rank and percentile
    #: depends on this file: a report without its hash cannot say which calibration ranked it.
    file: str | None = None
    sha256: str | None = None

    def for_size(self, face_px: float | None) -> RegionCalibration:
        """The calibration a face of ``face_px`` (its size in the photo) is judged by: its size
        band's quantiles (a region the band lacks keeps the pooled row), or the pooled ones when
        the size is unknown or no band holds it. Without bands, ``self``."""
        if not self.bands or face_px is None or not np.isfinite(face_px):
            return self
        band = next((b for b in self.bands if b.holds(float(face_px))), None)
        if band is None:
            return self
        return replace(self, quantiles={**self.quantiles, **band.quantiles}, bands=())

    def percentile(self, region: str, value: float) -> float | None:
        """Fraction of real faces whose ``region`` scored below ``value`` (None if uncalibrated).

        Interpolated on the stored quantiles; a value above every real face's is 1.0 (the
        ranking uses :meth:`excess`, which does not saturate).
        """
        q = self.quantiles.get(region)
        if q is None:
            return None
        qs = np.asarray(q, np.float64)
        if value <= qs[0]:
            return 0.0
        if value >= qs[-1]:
            return 1.0
        # np.interp needs increasing x: quantiles are non-decreasing; collapse flat runs.
        xs, idx = np.unique(qs, return_index=True)
        return float(np.interp(value, xs, np.asarray(self.levels)[idx]))

    def excess(self, region: str, value: float) -> float | None:
        """How far ``value`` is above this region's real-face median, in units of the distance from
        that median to the real-face 99th percentile (1.0 = as high as the top 1 % of real faces).

        The ranking's tie-break: the percentile saturates at 1.0 for every value above the highest
        real face, so two clearly abnormal regions would tie and raw heat (the prior) would decide;
        the excess keeps their distance (:func:`suspicion_order`).
        """
        q = self.quantiles.get(region)
        if q is None:
            return None
        lv = np.asarray(self.levels)
        med = float(np.interp(0.5, lv, q))
        q99 = float(np.interp(0.99, lv, q))
        return float((value - med) / max(q99 - med, 1e-3))

    def to_dict(self) -> dict[str, object]:
        d: dict[str, object] = {"engine": self.engine, "n_faces": self.n_faces, "levels": list(self.levels), "source": self.source,
                                "quantiles": _rows_to_json(self.quantiles)}
        if self.bands:  # absent, not empty, without bands: an unbanded file keeps its bytes (and pin)
            d["face_px_bands"] = [b.to_dict() for b in self.bands]
        return d

    def info(self) -> dict[str, object]:
        """What a report says about the calibration behind its region ranking."""
        out: dict[str, object] = {"n_real_faces": self.n_faces, "source": self.source}
        if self.sha256 is not None:
            out.update(file=self.file, sha256=self.sha256)
        if self.bands:  # in words for the report; the exact edges are in the pinned file and the recipe
            out["face_size_bands"] = "; ".join(f"{b.describe()} ({b.n_items} real items)" for b in self.bands) + \
                " (size in the photo): a face is ranked against the real faces of its band"
        return out

    @staticmethod
    def from_dict(d: dict[str, object]) -> RegionCalibration:
        levels = tuple(float(x) for x in d["levels"])  # type: ignore[union-attr]
        qs = _rows_from_json(d["quantiles"], len(levels), "quantile rows")
        bands = tuple(SizeBand.from_dict(b, len(levels)) for b in d.get("face_px_bands") or ())  # type: ignore[union-attr]
        return RegionCalibration(engine=str(d["engine"]), n_faces=int(d["n_faces"]), quantiles=qs, levels=levels, source=str(d.get("source", "")), bands=bands)  # type: ignore[arg-type]


def region_saliency(heatmap: np.ndarray, regions: dict[str, np.ndarray], region_scores: dict[str, float] | None = None) -> dict[str, tuple[float, float, int]]:
    """name -> (saliency, mean heat, area px) for every non-empty region.

    Saliency blends the region mean with the mean of its hottest quarter, so a small hot spot
    in a large region still counts without letting one hot pixel win; an engine's own
    per-region score (a learned head) is averaged in. This is the raw score the calibration
    describes, so the pipeline, the engines and the calibration builder all call this one.
    """
    rows: dict[str, tuple[float, float, int]] = {}
    for name, mask in regions.items():
        area = int(mask.sum())
        if area == 0:
            continue
        vals = heatmap[mask]
        mean = float(vals.mean())
        k = int(0.75 * (vals.size - 1))
        sal = 0.5 * mean + 0.5 * float(np.partition(vals, k)[k:].mean())
        if region_scores and name in region_scores:
            sal = 0.5 * sal + 0.5 * float(region_scores[name])
        rows[name] = (float(np.clip(sal, 0.0, 1.0)), mean, area)
    return rows


def _quantiles(saliencies: list[dict[str, float]]) -> dict[str, tuple[float, ...]]:
    names = sorted({k for s in saliencies for k in s})
    qs = {}
    for n in names:
        vals = np.array([s[n] for s in saliencies if n in s], np.float64)
        if vals.size:
            qs[n] = tuple(float(v) for v in np.quantile(vals, QUANTILES))
    return qs


def build_region_calibration(engine: str, saliencies: list[dict[str, float]], source: str, n_faces: int | None = None,
                             face_px: list[float] | None = None, band_edges: tuple[float, ...] = ()) -> RegionCalibration:
    """Quantiles of each region's raw saliency over real faces (one dict per face, or per version
    of a face: then ``n_faces`` says how many distinct faces are behind them).

    With ``face_px`` (each entry's face size in its photo) and ``band_edges`` (increasing sizes
    that split the bands), also the quantiles of each band that holds at least
    ``MIN_BAND_ITEMS`` entries; the pooled quantiles stay for sizes no band covers."""
    bands: list[SizeBand] = []
    if band_edges:
        if face_px is None or len(face_px) != len(saliencies):
            raise ValueError("size bands need one face size per saliency entry")
        starts = (0.0, *(float(e) for e in band_edges))
        ends: tuple[float | None, ...] = (*starts[1:], None)
        for lo, hi in zip(starts, ends, strict=True):
            band = SizeBand(lo, hi, 0, {})
            members = [s for s, px in zip(saliencies, face_px, strict=True) if band.holds(float(px))]
            if len(members) >= MIN_BAND_ITEMS:
                bands.append(replace(band, n_items=len(members), quantiles=_quantiles(members)))
    return RegionCalibration(engine=engine, n_faces=len(saliencies) if n_faces is None else n_faces, quantiles=_quantiles(saliencies), source=source,
                             bands=tuple(bands))


def load_region_calibration(component: str) -> RegionCalibration | None:
    """The component's pinned region calibration, or None when the manifest ships none.

    A file the manifest pins but that is missing, altered or malformed raises WeightsError
    (exit 5), like any weights file; the bytes parsed are the bytes hashed.
    """
    import hashlib
    import json

    from ..weights import load_manifest, load_verified

    manifest = load_manifest(component)
    if not any(f.name == FILE_NAME for f in manifest.files):
        return None

    def parse(data: bytes) -> RegionCalibration:
        cal = RegionCalibration.from_dict(json.loads(data.decode("utf-8")))
        return replace(cal, file=f"weights/{component}/{FILE_NAME}", sha256=hashlib.sha256(data).hexdigest())

    return load_verified(component, FILE_NAME, parse, "malformed region calibration", errors=(ValueError, KeyError, TypeError, AttributeError))


def suspicion_order(rows: list[tuple[str, float]], cal: RegionCalibration | None) -> list[tuple[str, float, float | None, float | None]]:
    """(name, raw saliency, suspicion, excess) sorted most suspicious first.

    With a calibration, the order is by ``suspicion``, the real-face percentile shown to the
    analyst, then (regions above every real face, all at 1.0) by :meth:`RegionCalibration.excess`,
    then by raw saliency; without one (an engine that ships none), by raw saliency, both None.

    Why the percentile first (since 2026-11-28): ordered by the excess alone, the list contradicted
    its own numbers ("left eye 71 %" above "chin / jaw 92 %": a long-tailed region's 92nd percentile
    is far from its 99th), which two hostile test passes reported. Measured on the validation items
    (``benchmarks/region_cue_probe.py``, out of fold): region top-1 41.2 % either way, the most
    frequent first region on untouched faces 13.3 % against 22.2 %, eye-colour edits 31.2 % against
    46.1 %, retouching and self-blends +9 and +6 points; on the test faces top-1 41.3 -> 43.0 %, but
    portraits retouched as a whole rank a smoothed cheek first more often (31.4 % against 25.0 % at
    600 px; docs/localizer_history.md, "Regions in the order of the percentage they show").
    """
    out = [(n, s, cal.percentile(n, s), cal.excess(n, s)) if cal is not None else (n, s, None, None) for n, s in rows]
    out.sort(key=lambda r: (-(r[2] if r[2] is not None else -1.0), -(r[3] if r[3] is not None else -1e9), -r[1]))
    return out
