"""Region suspicion relative to real faces: where a region's saliency sits among real faces.

Why: raw saliency is highest where heat usually sits (eyes and brows have strong edges, so
every engine puts heat there on *real* faces too). Ranking by raw heat therefore ranks a
prior, not evidence. Each engine ships, per region, the distribution of its own raw region
saliency on held-out real faces; a region's *suspicion* is the fraction of those real faces
whose same region scored lower. "Nose 0.99" then means "more unusual than the nose on 99 % of
real faces", whatever the nose's usual heat is. Regions are ordered by their *excess* over
real faces (see :meth:`RegionCalibration.excess`), so on real faces no region is first much
more often than another.

The file is JSON (``region_calibration.json`` in the engine's weights folder), pinned by
sha256 in that folder's manifest and verified at every load like the weights.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

FILE_NAME = "region_calibration.json"
#: Quantile grid stored per region (enough to resolve the top percent with a few hundred faces).
QUANTILES = tuple(float(q) for q in np.round(np.r_[np.linspace(0.0, 0.9, 46), np.linspace(0.905, 1.0, 20)], 4))


@dataclass(frozen=True)
class RegionCalibration:
    """Per region: raw-saliency quantiles on held-out real faces (``QUANTILES`` levels)."""

    engine: str
    n_faces: int
    quantiles: dict[str, tuple[float, ...]] = field(repr=False)
    levels: tuple[float, ...] = QUANTILES
    source: str = ""

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

        The ranking key. Why not the percentile itself: it saturates at 1.0 for every value above
        the highest real face, so two clearly abnormal regions would tie and raw heat (the prior)
        would decide; the excess keeps their distance. Chosen on validation forgeries: region
        top-1 as good as raw saliency while no region is first on more than ~16 % of real faces
        (the percentile: top-1 3 points lower).
        """
        q = self.quantiles.get(region)
        if q is None:
            return None
        lv = np.asarray(self.levels)
        med = float(np.interp(0.5, lv, q))
        q99 = float(np.interp(0.99, lv, q))
        return float((value - med) / max(q99 - med, 1e-3))

    def to_dict(self) -> dict[str, object]:
        return {"engine": self.engine, "n_faces": self.n_faces, "levels": list(self.levels), "source": self.source,
                "quantiles": {k: [round(float(v), 6) for v in vs] for k, vs in self.quantiles.items()}}

    @staticmethod
    def from_dict(d: dict[str, object]) -> RegionCalibration:
        levels = tuple(float(x) for x in d["levels"])  # type: ignore[union-attr]
        qs = {str(k): tuple(float(x) for x in v) for k, v in d["quantiles"].items()}  # type: ignore[union-attr]
        if any(len(v) != len(levels) for v in qs.values()):
            raise ValueError("region calibration: quantile rows do not match the levels")
        return RegionCalibration(engine=str(d["engine"]), n_faces=int(d["n_faces"]), quantiles=qs, levels=levels, source=str(d.get("source", "")))  # type: ignore[arg-type]


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


def build_region_calibration(engine: str, saliencies: list[dict[str, float]], source: str, n_faces: int | None = None) -> RegionCalibration:
    """Quantiles of each region's raw saliency over real faces (one dict per face, or per version
    of a face: then ``n_faces`` says how many distinct faces are behind them)."""
    names = sorted({k for s in saliencies for k in s})
    qs = {}
    for n in names:
        vals = np.array([s[n] for s in saliencies if n in s], np.float64)
        if vals.size:
            qs[n] = tuple(float(v) for v in np.quantile(vals, QUANTILES))
    return RegionCalibration(engine=engine, n_faces=len(saliencies) if n_faces is None else n_faces, quantiles=qs, source=source)


def load_region_calibration(component: str) -> RegionCalibration | None:
    """The component's pinned region calibration, or None when the manifest ships none.

    A file the manifest pins but that is missing, altered or malformed raises WeightsError
    (exit 5), like any weights file; the bytes parsed are the bytes hashed.
    """
    import json

    from ..errors import WeightsError
    from ..weights import load_manifest, read_verified

    manifest = load_manifest(component)
    if not any(f.name == FILE_NAME for f in manifest.files):
        return None
    data = read_verified(component, FILE_NAME)
    try:
        return RegionCalibration.from_dict(json.loads(data.decode("utf-8")))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise WeightsError(f"weights/{component}/{FILE_NAME}: malformed region calibration ({exc})") from exc


def suspicion_order(rows: list[tuple[str, float]], cal: RegionCalibration | None) -> list[tuple[str, float, float | None, float | None]]:
    """(name, raw saliency, suspicion, excess) sorted most suspicious first.

    With a calibration, the order is by :meth:`RegionCalibration.excess` over real faces and
    ``suspicion`` is the real-face percentile shown to the analyst; without one (an engine that
    ships none), the order is raw saliency and both are None.
    """
    out = [(n, s, cal.percentile(n, s), cal.excess(n, s)) if cal is not None else (n, s, None, None) for n, s in rows]
    out.sort(key=lambda r: (-(r[3] if r[3] is not None else -1e9), -r[1]))
    return out
