"""Localizer training: synthetic forgeries on the fly from cached real faces.

Why on the fly: with ~200 training faces, every step sees a new forgery (new region,
mask jitter, perturbation, JPEG quality), which is the only thing standing between a tiny
model and memorising the faces. Reproducible: one seed drives numpy and torch, the config
and the data split are written to recipe.json, and on the same machine and thread count
the run replays step for step (a fixed time budget can end at a different step; the
step count reached is recorded).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..engines.localizer.infer import export_onnx, region_stack, save_localizer
from ..engines.localizer.model import LocalizerConfig, LocalizerNet, build_localizer, count_parameters, load_mobile_pretrained
from ..faces.base import REGION_NAMES
from ..synth import FaceRecord, SynthSample, jpeg_recompress, random_forgery

#: Every family the trainer can draw from (forgetalk.synth.families); a leave-one-family-out
#: run trains on all but one.
ALL_FAMILIES: tuple[str, ...] = ("self_blend", "region_swap", "local_smoothing", "part_swap", "liquify", "retouch", "inpaint", "eye_colour")


def family_names(text: str) -> tuple[str, ...]:
    """A ``--families`` value as names: "all" is :data:`ALL_FAMILIES`, else the comma-separated
    names as given (checked by the caller, which knows which others it accepts)."""
    return ALL_FAMILIES if text == "all" else tuple(f for f in text.split(",") if f)
#: Families kept out of every training mix, so that they stay edits no localizer has seen:
#: checkpoint-selection guards (``--guard-families``) and the benchmark's unseen-family column.
GUARD_FAMILIES: tuple[str, ...] = ("mirrored_copy",)
#: Default draw weights: cross-face part swaps are what analysts meet most (issue 9).
DEFAULT_FAMILY_WEIGHTS: dict[str, float] = {"self_blend": 1.0, "region_swap": 1.0, "local_smoothing": 0.5, "part_swap": 3.0, "liquify": 0.7, "retouch": 0.7, "inpaint": 0.5, "eye_colour": 0.6}

#: Region-head target: forged fraction of the region, saturating at this coverage.
REGION_TARGET_SATURATION = 0.4


@dataclass
class TrainConfig:
    seed: int = 0
    synth_size: int = 256  # forgeries are made at this crop size, then area-resized to the model input
    batch_size: int = 16
    epochs: int = 0  # 0 = limited by steps/minutes only; one "epoch" = one forgery per training face
    max_steps: int = 3000
    minutes: float = 12.0
    lr: float = 2e-3
    weight_decay: float = 1e-4
    p_real: float = 0.25
    p_jpeg: float = 0.7
    jpeg_range: tuple[int, int] = (60, 96)
    dice_weight: float = 1.0
    region_weight: float = 0.5
    #: Weight of the pairwise image-level loss (:func:`pair_rank_loss`); 0 = off, as every
    #: shipped member was trained. Family batches only (they are laid out as twin/forgery pairs).
    image_weight: float = 0.0
    #: Which pairs the image-level term ranks: "twin" (each forgery above its own untouched twin, the
    #: face's identity held fixed) or "all" (each forgery above every untouched face in the batch:
    #: the AUC a verdict threshold lives by, across faces and photo sources; with
    #: ``host_draw="source"`` a batch holds both sources). See :func:`batch_rank_loss`.
    image_pairs: str = "twin"
    threads: int = 2
    #: Each forged face is accompanied by its untouched JPEG-matched twin in the same batch, so
    #: "organs are often forged" (a location prior) cannot lower the loss; only traces can.
    paired: bool = True
    model: LocalizerConfig = field(default_factory=LocalizerConfig)
    #: Forgery families drawn (names in forgetalk.synth.families); empty = the original three
    #: generators through random_forgery (how the v1 localizer was trained).
    families: tuple[str, ...] = ()
    #: Post-edit chains (resize to a native face size, JPEG once or twice, sharpening, noise),
    #: drawn once per pair and applied identically to the forgery and its untouched twin.
    chain: bool = False
    #: Encoder parameters (name prefixes under ``enc.``) kept frozen at their pretrained values.
    freeze: tuple[str, ...] = ()
    pretrained: str = ""
    #: "steps": the minutes budget becomes a fixed step count after timing 20 steps (replayable);
    #: "time": the cosine schedule runs on elapsed time until the budget ends (robust when the
    #: machine is shared and 20 steps are no guide; the step count reached is recorded).
    schedule: str = "steps"
    #: Where the optimizer steps ("cpu" or "cuda"); batches are always forged on the CPU.
    device: str = "cpu"
    #: Processes forging batches (family training); each has its own generator seeded from
    #: ``seed`` and its worker index, and the loader takes their batches round-robin, so a run
    #: replays for a given seed and worker count.
    workers: int = 1
    #: Checkpoint selection on edits the generators it trains on do not make (issue 9's v4
    #: lesson: more steps on the same generator mix improved every generator family and lost
    #: the mirrored-copy edits and the examples). Families named here are never drawn for
    #: training; they are forged on the validation faces only, every ``guard_every`` steps the
    #: model's image-level AUC on them (forgery against its untouched twin) is measured, and the
    #: weights of the best such check are the ones returned; when training continues from given
    #: weights, those are checked first (step 0) and can be the ones kept. Empty = keep the last step.
    guard_families: tuple[str, ...] = ()
    guard_every: int = 500
    #: Images in the fixed guard batch (half forgeries, half their untouched twins).
    guard_size: int = 192
    #: Seed of the guard batch, on purpose not ``seed``: runs with different training seeds then
    #: check the same edits, so their guard numbers can be compared with each other.
    guard_seed: int = 0
    #: How each pair's host face is drawn: "uniform" (every training face equally often, as every
    #: shipped member was trained) or "source" (each photo source, FaceRecord.source, gets an equal
    #: share of the hosts, uniform within it). Why: the training faces are about 700 parsing-set
    #: portraits and 200 web photos, and the shipped engine scores untouched small parsing-set
    #: faces above web photos' forgeries (docs/localizer_history.md, the unpaired AUC); donors stay uniform.
    host_draw: str = "uniform"
    #: Share of family pairs whose host gets a global retouch (``forgetalk.synth.beauty``: skin
    #: smoothed, tone lifted) before the edit, so both twins carry it. Why: a beauty mode's smooth
    #: skin made the shipped engine flag most untouched retouched portraits (docs/localizer_history.md,
    #: sixteenth session); 0 replays every shipped member's random stream.
    beauty: float = 0.0
    #: Where the ``retouch`` family's smoothing brushes: "all" (all of the skin half the time, as
    #: every shipped member was trained) or "local" (one skin area): with ``beauty``, a whole-skin
    #: retouch is the host's processing, not an edit.
    retouch_brush: str = "all"
    #: The post-edit chain's native face-crop sizes (px, log-uniform; ``synth.chain.draw_chain``).
    #: Why an option: the external set's main measurement is at 160 px, where a face's crop is
    #: about 130-175 px, the bottom of the default range (15 % of the draws below 175 px) and the
    #: band where the localizer is weakest (image AUC 0.60 under 160 px against 0.67 at 315 px and
    #: up; docs/localizer_history.md). The default replays every shipped member's stream.
    native_range: tuple[int, int] = (128, 1024)

    def to_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["model"] = self.model.to_dict()
        d["jpeg_range"] = list(self.jpeg_range)
        d["native_range"] = list(self.native_range)
        d["families"] = list(self.families)
        d["freeze"] = list(self.freeze)
        d["guard_families"] = list(self.guard_families)
        return d


def _global_aug(crop: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Whole-image changes applied to the real face *before* forging (never a forgery cue)."""
    img = crop
    if rng.random() < 0.3:  # low-resolution source photo
        s = img.shape[0]
        f = rng.uniform(0.35, 0.9)
        img = cv2.resize(cv2.resize(img, (int(s * f),) * 2, interpolation=cv2.INTER_AREA), (s, s), interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.5:
        f = img.astype(np.float32)
        f = (f - 128) * rng.uniform(0.8, 1.2) + 128 + rng.uniform(-20, 20)
        img = np.clip(f, 0, 255).astype(np.uint8)
    if rng.random() < 0.08:
        g = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
        img = np.repeat(g[..., None], 3, axis=2)
    return img


def region_targets(sample: SynthSample, names: tuple[str, ...] = REGION_NAMES) -> np.ndarray:
    return np.array([min(1.0, sample.coverage.get(n, 0.0) / REGION_TARGET_SATURATION) for n in names], np.float32)


def _photometric_aug(crop: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Brightness/contrast/grayscale only: resolution and compression come from the chain."""
    img = crop
    if rng.random() < 0.5:
        f = img.astype(np.float32)
        img = np.clip((f - 128) * rng.uniform(0.8, 1.2) + 128 + rng.uniform(-20, 20), 0, 255).astype(np.uint8)
    if rng.random() < 0.08:
        g = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
        img = np.repeat(g[..., None], 3, axis=2)
    return img


def family_pair(rec: FaceRecord, rng: np.random.Generator, recs: list[FaceRecord], families: tuple[str, ...], chain: bool,
                beauty: float = 0.0, retouch_brush: str = "all", native_range: tuple[int, int] = (128, 1024)) -> tuple[SynthSample, SynthSample]:
    """(untouched twin, forgery) of one face: same photometric change, same post-edit chain.

    ``beauty``: the probability that the host is retouched as a whole (``synth.beauty``) before the
    edit, as a camera's beauty mode or a studio does before anyone edits the photo: both twins carry
    it, so it is never the cue, and a part pasted from an unretouched donor still differs. The
    stream draws nothing extra when it is 0. ``retouch_brush="local"``: the ``retouch`` family
    smooths one skin area, never all of the skin. ``native_range``: the chain's native face-crop
    sizes (:class:`TrainConfig`)."""
    from ..synth.families import random_sample, retouch_local

    aug = FaceRecord(_photometric_aug(rec.crop, rng), rec.landmarks, rec.regions, rec.face_mask, rec.parts)
    retouched = None
    if beauty > 0 and rng.random() < beauty:
        from ..synth.beauty import beauty_finish, draw_beauty
        from ..synth.common import skin_mask

        retouched = draw_beauty(rng)
        aug = FaceRecord(beauty_finish(aug.crop, skin_mask(aug), retouched), rec.landmarks, rec.regions, rec.face_mask, rec.parts)
    weights = [DEFAULT_FAMILY_WEIGHTS.get(f, 1.0) for f in families]
    smp = random_sample(aug, rng, recs, families, weights, overrides={"retouch": retouch_local} if retouch_brush == "local" else None)
    twin, fake = aug.crop, smp.image
    params: dict[str, object] = dict(smp.params)
    if chain:
        from ..synth.chain import apply_chain, draw_chain

        cp = draw_chain(rng, native_range=native_range)
        twin, fake = apply_chain(twin, cp), apply_chain(fake, cp)
        params["chain"] = cp
    if retouched is not None:
        params["beauty"] = retouched.as_dict()
    real = SynthSample(twin, np.zeros_like(smp.mask), "real", "", (), {k: 0.0 for k in smp.coverage}, None, params)
    return real, SynthSample(fake, smp.mask, smp.kind, smp.target, smp.regions, smp.coverage, None, params)


HOST_DRAWS = ("uniform", "source")


def host_draw_error(cfg: TrainConfig, recs: Sequence[FaceRecord]) -> str | None:
    """Why ``cfg.host_draw`` cannot be used on these training faces, or None."""
    if cfg.host_draw not in HOST_DRAWS:
        return f"unknown host draw {cfg.host_draw!r}; known: {', '.join(HOST_DRAWS)}"
    if cfg.host_draw == "source":
        if not cfg.families:
            return "--host-draw source needs family training (--families)"
        if any(not r.source for r in recs):
            return "--host-draw source needs every training face's photo source (a bundle from this version, or --faces/--parsing)"
        if len({r.source for r in recs}) < 2:
            return f"--host-draw source needs faces of two or more photo sources; these are all {recs[0].source!r}" if recs else "no training faces"
    return None


def source_groups(recs: Sequence[FaceRecord]) -> list[np.ndarray]:
    """Indices of the records of each photo source, sources in sorted order (a fixed order, so a
    seeded draw replays whatever order the records came in)."""
    names = sorted({r.source for r in recs})
    return [np.array([i for i, r in enumerate(recs) if r.source == n], np.int64) for n in names]


def draw_host(n: int, rng: np.random.Generator, groups: list[np.ndarray] | None = None) -> int:
    """One host index: uniform over ``n`` records, or (``groups``) a source drawn uniformly, then a
    record uniformly within it. The uniform draw is the one every shipped member was trained with
    (one ``integers`` call), so runs without ``groups`` replay as before."""
    if not groups:
        return int(rng.integers(0, n))
    g = groups[int(rng.integers(0, len(groups)))]
    return int(g[int(rng.integers(0, len(g)))])


#: Scale of the 8-bit region masks in a compact batch (see make_batch and expand_batch).
REGION_LEVELS = 255.0


def make_batch(recs: list[FaceRecord], rng: np.random.Generator, cfg: TrainConfig, n: int, order: Sequence[int] | None = None,
               compact: bool = False) -> dict[str, torch.Tensor]:
    """``n`` crops: family pairs (twin, forgery) when ``cfg.families`` is set, else random forgeries.

    ``order`` (family pairs only) fixes which face each pair forges, cycling through it, instead
    of drawing faces with replacement: a fixed evaluation batch then uses every face evenly.

    ``compact``: images and region masks as uint8 (regions scaled by ``REGION_LEVELS``), to be
    turned into the float batch by :func:`expand_batch` where the model runs. Why: a float batch
    of 32 crops at 256 px is 143 MB, three quarters of it region masks; the training workers built,
    stacked and passed that through shared memory for every step (building and stacking alone took
    a quarter to a third of a worker's time; compact, 42 MB: benchmarks/forging.py). The images are uint8 before the division, so they come back exactly;
    region masks of the size they were made at are 0/1 and come back exactly, area-resized ones
    within 1/510. The same draws are made either way (the random stream does not change).
    """
    s = cfg.model.input_size
    xs, ms, rs, ts = [], [], [], []
    hosts: list[int] = []  # per image: the host record's index, the post-edit chain's native face size
    natives: list[int] = []
    retouched: list[bool] = []  # and whether the host was retouched as a whole first (cfg.beauty)

    def add(host: int, smp: SynthSample, noise: float, regions: np.ndarray) -> None:
        img = smp.image
        if noise > 0:
            img = np.clip(img.astype(np.float32) + rng.normal(0, noise, img.shape), 0, 255).astype(np.uint8)
        x = cv2.resize(img, (s, s), interpolation=cv2.INTER_AREA)
        xs.append(x if compact else x.astype(np.float32) / 255.0)
        ms.append(cv2.resize(smp.mask.astype(np.float32), (s, s), interpolation=cv2.INTER_AREA))
        rs.append(regions)
        ts.append(region_targets(smp, cfg.model.region_names))
        hosts.append(host)
        chain = smp.params.get("chain") if smp.params else None
        natives.append(int(getattr(chain, "native_px", 512)))
        retouched.append(bool(smp.params and smp.params.get("beauty")))

    def regions_of(rec: FaceRecord) -> np.ndarray:
        r = region_stack(rec.regions, cfg.model.region_names, s)
        return np.rint(r * REGION_LEVELS).astype(np.uint8) if compact else r

    k = 0
    groups = source_groups(recs) if cfg.families and cfg.host_draw == "source" and order is None else None
    while cfg.families and len(xs) < n:
        idx = draw_host(len(recs), rng, groups) if order is None else order[k % len(order)]
        rec = recs[idx]
        k += 1
        noise = float(rng.uniform(1, 3)) if rng.random() < 0.1 else 0.0
        regions = regions_of(rec)  # the twin and its forgery share the face's regions: made once
        for smp in family_pair(rec, rng, recs, cfg.families, cfg.chain, cfg.beauty, cfg.retouch_brush, cfg.native_range):
            add(idx, smp, noise, regions)
    while len(xs) < n:
        idx = int(rng.integers(0, len(recs)))
        rec = recs[idx]
        aug = FaceRecord(_global_aug(rec.crop, rng), rec.landmarks, rec.regions, rec.face_mask)
        noise = float(rng.uniform(1, 3)) if rng.random() < 0.15 else 0.0
        if cfg.paired and n - len(xs) >= 2:
            smp = random_forgery(aug, rng, recs, p_real=0.0, p_jpeg=cfg.p_jpeg, jpeg_range=cfg.jpeg_range)
            twin = aug.crop if smp.jpeg_quality is None else jpeg_recompress(aug.crop, smp.jpeg_quality)
            regions = regions_of(rec)
            add(idx, SynthSample(twin, np.zeros_like(smp.mask), "real", "", (), {k: 0.0 for k in smp.coverage}, smp.jpeg_quality), noise, regions)
            add(idx, smp, noise, regions)
        else:
            add(idx, random_forgery(aug, rng, recs, p_real=cfg.p_real, p_jpeg=cfg.p_jpeg, jpeg_range=cfg.jpeg_range), noise, regions_of(rec))
    return {
        "x": torch.from_numpy(np.stack(xs)).permute(0, 3, 1, 2).contiguous(),
        "mask": torch.from_numpy(np.stack(ms))[:, None],
        "regions": torch.from_numpy(np.stack(rs)),
        "rt": torch.from_numpy(np.stack(ts)),
        # Bookkeeping, not model input: which record each image was forged on (its photo source),
        # the native face size its chain gave it (512: no resample) and whether its host was
        # retouched as a whole, so a screen can split its numbers (benchmarks/localizer_screen.py).
        "host": torch.tensor(hosts, dtype=torch.int64),
        "native_px": torch.tensor(natives, dtype=torch.int64),
        "beauty": torch.tensor(retouched, dtype=torch.bool),
    }


def expand_batch(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The float batch the model takes, from a compact one (``make_batch(compact=True)``); a float
    batch is returned as it is. Run where the model runs, so the 8-bit tensors are what travels."""
    if batch["x"].dtype != torch.uint8:
        return batch
    return {**batch, "x": batch["x"].float() / 255.0, "regions": batch["regions"].float() / REGION_LEVELS}


class _BatchStream(torch.utils.data.IterableDataset):
    """Training batches made in worker processes, so forging overlaps the optimizer step.

    Each worker has its own generator (worker 0 seeded with ``seed``, worker k with
    ``[seed, k]``) and the loader takes their batches round-robin, so the stream replays for a
    given seed and worker count (it differs from the in-process stream of the v1 runs).
    """

    def __init__(self, recs: list[FaceRecord], cfg: TrainConfig, compact: bool = True) -> None:
        self.recs, self.cfg, self.compact = recs, cfg, compact  # compact: see make_batch (False only to measure the difference)

    def __iter__(self):  # noqa: ANN204
        torch.set_num_threads(1)
        cv2.setNumThreads(1)
        info = torch.utils.data.get_worker_info()
        wid = info.id if info is not None else 0
        rng = np.random.default_rng(self.cfg.seed if wid == 0 else [self.cfg.seed, wid])
        while True:
            yield make_batch(self.recs, rng, self.cfg, self.cfg.batch_size, compact=self.compact)


def _set_train_mode(model: torch.nn.Module, frozen_prefixes: tuple[str, ...]) -> None:
    """Train mode, except frozen encoder blocks, whose BatchNorm statistics must stay pretrained."""
    model.train()
    enc = getattr(model, "enc", None)
    if enc is not None:
        for name, module in enc.named_children():
            if any(name.startswith(f) for f in frozen_prefixes):
                module.eval()


def pair_rank_loss(rlog: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Image-level ranking loss on (untouched twin, forgery) pairs: ``softplus(s_twin - s_forgery)``.

    Why: the verdict asks "is this face more suspicious than an untouched one", and the per-pixel
    and per-region losses only ask it indirectly, one pixel or region at a time, so a forgery whose
    traces are faint everywhere costs little there; this term is the pairwise (AUC-like) version
    of the image question, on the twin of the same face under the same post-edit chain, so only
    the edit's traces can lower it. The score ``s`` is a smooth maximum (logsumexp) of the region
    logits, the head whose highest value is the image score the checkpoint guard and the face
    statistics read. Family batches put each twin just before its forgery (:func:`family_pair`);
    pairs whose forgery changed no pixel are skipped.
    """
    score = torch.logsumexp(rlog, dim=1)
    forged = (mask[1::2].flatten(1) > 0).any(1)  # batches are even (image_loss_error), so rows pair up
    if not forged.any():
        return rlog.sum() * 0.0
    return F.softplus(score[0::2] - score[1::2])[forged].mean()


def batch_rank_loss(rlog: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Image-level ranking loss over every (untouched, forged) pair in the batch:
    ``mean softplus(s_untouched - s_forgery)``, the smooth version of one minus the batch's AUC.

    Why beside :func:`pair_rank_loss`: the twin term only asks a forgery to outscore its own face
    untouched, so the score's level may drift from face to face and source to source as long as
    each twin stays below its forgery; the verdict compares a photo with one threshold, and the
    unpaired AUC (docs/localizer_history.md) showed untouched small parsing-set faces scoring above web
    photos' forgeries. This term ranks across faces. Same score as the twin term (logsumexp of
    the region logits); a row is forged when its mask has a forged pixel.
    """
    score = torch.logsumexp(rlog, dim=1)
    forged = (mask.flatten(1) > 0).any(1)
    if not forged.any() or forged.all():
        return rlog.sum() * 0.0
    return F.softplus(score[~forged][None, :] - score[forged][:, None]).mean()


def loss_fn(model: LocalizerNet, batch: dict[str, torch.Tensor], cfg: TrainConfig) -> tuple[torch.Tensor, dict[str, float]]:
    """BCE + soft dice on the mask (dice keeps small organs from drowning in background), BCE on
    regions, and with ``cfg.image_weight`` the pairwise image-level term of :func:`pair_rank_loss`."""
    logits, rlog = model(batch["x"], batch["regions"])
    tgt = batch["mask"]
    bce = F.binary_cross_entropy_with_logits(logits, tgt)
    p = torch.sigmoid(logits)
    inter = (p * tgt).sum(dim=(1, 2, 3))
    denom = p.sum(dim=(1, 2, 3)) + tgt.sum(dim=(1, 2, 3))
    has = (tgt.sum(dim=(1, 2, 3)) > 0).float()
    dice = ((1 - (2 * inter + 1) / (denom + 1)) * has).sum() / has.sum().clamp_min(1)
    rl = F.binary_cross_entropy_with_logits(rlog, batch["rt"])
    total = bce + cfg.dice_weight * dice + cfg.region_weight * rl
    parts = {"bce": float(bce.detach()), "dice": float(dice.detach()), "region": float(rl.detach())}
    if cfg.image_weight > 0:
        pr = batch_rank_loss(rlog, tgt) if cfg.image_pairs == "all" else pair_rank_loss(rlog, tgt)
        total = total + cfg.image_weight * pr
        parts["pair"] = float(pr.detach())
    return total, parts


def build_records(faces: list, size: int) -> list[FaceRecord]:  # noqa: ANN001 - list[CachedFace | ParsedFace]
    """Training records at ``size``; a face with a part map is from the parsing set, any other
    from the web photos (the only two collections the trainer loads: --faces and --parsing)."""
    return [FaceRecord.from_crop(f.crop, f.landmarks, size, getattr(f, "parts", None), "parsing" if getattr(f, "parts", None) is not None else "faces")
            for f in faces]


def guard_family_error(families: tuple[str, ...], guard_families: tuple[str, ...]) -> str | None:
    """Why this training mix and guard cannot go together, or None: a guard-only family may not
    be trained on, and a guard family that is also trained on no longer measures unseen edits.
    (The CLI asks before loading any faces; train_localizer asks again for direct callers.)"""
    trained_guard = sorted(set(families) & set(GUARD_FAMILIES))
    if trained_guard:
        return f"{trained_guard} are guard-only families (never trained on): use them with --guard-families"
    overlap = sorted(set(guard_families) & set(families))
    if overlap:
        return f"guard families {overlap} are also trained on: a guard must be edits the model never saw (leave them out of --families)"
    return None


def image_loss_error(cfg: TrainConfig) -> str | None:
    """Why ``cfg.image_weight`` cannot be used with this configuration, or None: the pairwise term
    needs batches made of (twin, forgery) pairs, which only family training lays out."""
    if cfg.image_pairs not in ("twin", "all"):
        return f"unknown image pairs {cfg.image_pairs!r}; known: twin, all"
    if cfg.image_weight <= 0:
        return None
    if not cfg.families:
        return "the image-level loss needs family training (--families): only family batches are made of (twin, forgery) pairs"
    if cfg.batch_size % 2:
        return f"the image-level loss needs an even batch size (twin, forgery pairs), not {cfg.batch_size}"
    return None


@torch.no_grad()
def guard_check(model: LocalizerNet, batch: dict[str, torch.Tensor], cfg: TrainConfig) -> dict[str, float]:
    """Image-level AUC of the model on a guard batch: forgeries against their untouched twins.

    The image score is the region head's highest probability (the network's own "some part of
    this face is forged"); ``region_top1`` is how often the head's first region is the most
    forged one, on the forgeries.
    """
    model.eval()
    _, rlog = model(batch["x"], batch["regions"])
    return head_metrics(rlog, batch)


def head_metrics(rlog: torch.Tensor, batch: dict[str, torch.Tensor]) -> dict[str, float]:
    """``guard_check``'s numbers from region logits already computed (one network's, or an
    average of several, as benchmarks/localizer_screen.py compares them).

    ``region_auc_mean`` is the head's version of the benchmark's per-region AUC (an issue 9
    target): for each region that is the most-forged one of some forgery, the head's probability
    for that region on those forgeries against the same region on the untouched twins, then the
    mean over regions. Why beside the image AUC: a checkpoint can tell forged from untouched
    faces by a face-wide cue and still not single out the forged part.
    """
    from ..metrics import roc_auc

    forged = (batch["mask"].flatten(1) > 0.5).any(1)
    prob = torch.sigmoid(rlog)
    score = prob.amax(1)
    out = {"image_auc": float(roc_auc(score.cpu().numpy(), forged.cpu().numpy().astype(np.int64)))}
    if forged.any():
        main = batch["rt"].argmax(1)
        out["region_top1"] = float((rlog.argmax(1) == main)[forged].float().mean())
        real = ~forged
        per_region = []
        for r in main[forged].unique().tolist():
            pos = prob[forged & (main == r), r]
            if real.any() and len(pos):
                neg = prob[real, r]
                y = np.r_[np.ones(len(pos)), np.zeros(len(neg))].astype(np.int64)
                per_region.append(roc_auc(np.r_[pos.cpu().numpy(), neg.cpu().numpy()], y))
        if per_region:
            out["region_auc_mean"] = float(np.mean(per_region))
    return out


def make_guard_batch(recs: list[FaceRecord], cfg: TrainConfig) -> dict[str, torch.Tensor]:
    """The fixed guard batch: validation faces forged by a guard family, each next to its twin.

    Faces are taken in a seeded permutation, cycling (every face once before any twice), not drawn
    with replacement. Measured on the v3 weights, mirrored copies of the 183 validation faces with
    post-edit chains, 183 pairs per batch, four seeds: drawn with replacement the image AUC ranged
    0.772-0.825, as a permutation 0.799-0.827. Which faces happened to be drawn had moved the
    guard as much as the checkpoint differences it is there to see (2-4 points in the GPU run of
    2026-11-26), and each run drew its own batch (seeded by the training seed), so that run's
    model without part swaps looked best (0.812 on its batch) and is the weakest of the four on
    one shared batch (0.783-0.789 against 0.799-0.831): the batch now comes from ``guard_seed``.
    Its chains keep the default native sizes whatever ``cfg.native_range`` trains on, so a run on
    small faces is guarded on the same edits as the others (the first such run, 2026-11-28, was
    guarded on its own sizes: 0.722 at step 0 where the same weights score 0.765 on the usual batch).
    """
    gcfg = replace(cfg, families=cfg.guard_families, paired=True, native_range=TrainConfig.native_range)
    rng = np.random.default_rng([cfg.guard_seed, 7919])
    return make_batch(recs, rng, gcfg, max(2, cfg.guard_size - cfg.guard_size % 2), order=rng.permutation(len(recs)).tolist())


def train_localizer(train_recs: list[FaceRecord], val_recs: list[FaceRecord], cfg: TrainConfig, log=print, init: LocalizerNet | None = None,  # noqa: ANN001
                    on_last_step: Callable[[dict[str, torch.Tensor]], None] | None = None) -> tuple[LocalizerNet, dict[str, object]]:
    """Train and return the model plus a summary (steps, time, losses, val metrics).

    With ``cfg.guard_families`` the returned weights are those of the best guard check (see
    TrainConfig); the summary's ``guard`` section holds every check and which step was kept.
    When the guard keeps an earlier step, ``on_last_step`` receives the last step's weights (CPU
    copies) before they are replaced. Why: the guard's batch is small (96 pairs of one family);
    a run it rolled back entirely (kept step 0) could not be measured on anything else.
    """
    problem = guard_family_error(cfg.families, cfg.guard_families)
    if problem:
        raise ValueError(problem)
    if cfg.guard_families and not val_recs:
        raise ValueError("guard families need validation faces to forge (val_recs is empty)")
    problem = image_loss_error(cfg) or host_draw_error(cfg, train_recs)
    if problem:
        raise ValueError(problem)
    net_cfg = init.config if init is not None else cfg.model
    if net_cfg.members > 1:
        raise ValueError("a localizer ensemble is combined from trained members (forgetalk.train.ensemble), not trained: continue one member")
    torch.set_num_threads(cfg.threads)
    cv2.setNumThreads(1)  # OpenCV's own pool fights torch's OpenMP threads for the same 2 cores
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    model = build_localizer(net_cfg)
    dev = torch.device(cfg.device)
    pretrained_info = None
    if init is not None:  # continue a previous stage (same architecture)
        model.load_state_dict(init.state_dict())
        cfg.model = init.config
    elif cfg.pretrained and hasattr(model, "enc"):
        pretrained_info = load_mobile_pretrained(model.enc, cfg.pretrained)
        log(f"[train] pretrained encoder: {pretrained_info}")
    frozen = [n for n, p in model.named_parameters() if any(n.startswith("enc." + f) for f in cfg.freeze)]
    for n, p in model.named_parameters():
        p.requires_grad_(n not in frozen)
    model.to(dev)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.lr, weight_decay=cfg.weight_decay)
    max_steps = cfg.max_steps
    if cfg.epochs:
        max_steps = min(max_steps, max(1, cfg.epochs * len(train_recs) // cfg.batch_size))
    val_batch = _to(make_batch(val_recs, np.random.default_rng(cfg.seed + 1), cfg, min(96, 2 * len(val_recs))), dev) if val_recs else None
    guard_batch = _to(make_guard_batch(val_recs, cfg), dev) if cfg.guard_families else None
    guard_hist: list[dict[str, float]] = []
    best: tuple[float, int, dict[str, torch.Tensor]] | None = None  # (image AUC, step, CPU copy of the weights)

    def check_guard() -> None:
        nonlocal best
        assert guard_batch is not None
        row = {"step": step, **guard_check(model, guard_batch, cfg)}
        guard_hist.append(row)
        log(json.dumps({"guard": {k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}}))
        if best is None or row["image_auc"] >= best[0]:  # ties go to the later step
            best = (row["image_auc"], step, {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()})
        _set_train_mode(model, cfg.freeze)

    t0 = time.perf_counter()
    deadline = t0 + cfg.minutes * 60 if cfg.minutes > 0 else float("inf")
    step = 0
    stopped = ""
    hist: list[dict[str, float]] = []
    run = {"loss": 0.0, "n": 0}
    _set_train_mode(model, cfg.freeze)
    if guard_batch is not None and init is not None:
        # The starting weights are a candidate too: if no later check beats them, the run says
        # so (kept_step 0) instead of handing back the least bad of worse checkpoints.
        check_guard()
    stream = iter(torch.utils.data.DataLoader(_BatchStream(train_recs, cfg), batch_size=None, num_workers=max(1, cfg.workers), prefetch_factor=4,
                                              persistent_workers=True, pin_memory=dev.type == "cuda")) if cfg.families else None
    total = max_steps
    probe = 20  # steps timed to turn the minutes budget into a fixed step count
    by_time = cfg.schedule == "time" and cfg.minutes > 0
    while step < total:
        now = time.perf_counter()
        if by_time and now >= deadline:
            break
        if step == probe and cfg.minutes > 0 and not by_time:
            per_step = (time.perf_counter() - t0) / probe
            total = int(min(max_steps, max(probe + 1, (deadline - t0) / per_step)))
            log(f"[train] {per_step:.2f}s/step -> {total} steps (rerun with --steps {total} --minutes 0 to replay exactly)")
        # Warm-up then cosine decay over the (now fixed) step count, or over the time budget.
        frac = (now - t0) / (deadline - t0) if by_time else step / max(total, 1)
        lr = cfg.lr * min(1.0, (step + 1) / probe) * 0.5 * (1 + np.cos(np.pi * frac))
        for g in opt.param_groups:
            g["lr"] = lr
        try:
            batch = _to(next(stream) if stream is not None else make_batch(train_recs, rng, cfg, cfg.batch_size), dev)
        except Exception as exc:  # a forging bug must not throw away the steps already taken
            stopped = f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}"
            log(f"[train] stopped early at step {step}: {stopped}")
            break
        loss, parts = loss_fn(model, batch, cfg)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        run["loss"] += float(loss.detach())
        run["n"] += 1
        if step % 50 == 0 or step == total or (by_time and time.perf_counter() >= deadline):
            row = {"step": step, "loss": run["loss"] / run["n"], "elapsed_s": time.perf_counter() - t0, **parts}
            if val_batch is not None and step % 200 == 0:
                row.update({f"val_{k}": v for k, v in evaluate_batch(model, val_batch, cfg).items()})
                _set_train_mode(model, cfg.freeze)
            hist.append(row)
            log(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}))
            run = {"loss": 0.0, "n": 0}
        if guard_batch is not None and cfg.guard_every > 0 and step % cfg.guard_every == 0:
            check_guard()
    guard: dict[str, object] | None = None
    if guard_batch is not None and step > 0:
        if not guard_hist or guard_hist[-1]["step"] != step:
            check_guard()  # the last step is always a candidate
        assert best is not None
        final_auc = guard_hist[-1]["image_auc"]
        if best[1] != step:
            if on_last_step is not None:
                on_last_step({k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()})
            model.load_state_dict(best[2])
            log(f"[train] guard: keeping step {best[1]} (image AUC {best[0]:.4f}) over the last step {step} ({final_auc:.4f})")
        guard = {"families": list(cfg.guard_families), "faces": len(val_recs), "images": int(guard_batch["x"].shape[0]), "every": cfg.guard_every,
                 "kept_step": best[1], "kept_image_auc": best[0], "last_step_image_auc": final_auc, "history": guard_hist}
    model.eval()
    if val_batch is not None:
        val_synth = evaluate_batch(model, val_batch, cfg)
    model.to("cpu")
    summary: dict[str, object] = {
        "steps": step,
        "max_steps": max_steps,
        "planned_steps": total,
        "train_seconds": round(time.perf_counter() - t0, 1),
        "samples_seen": step * cfg.batch_size,
        "parameters": count_parameters(model),
        "frozen_parameters": sum(p.numel() for n, p in model.named_parameters() if n in frozen),
        "pretrained": pretrained_info,
        "history_tail": hist[-5:],
    }
    if stopped:
        summary["stopped_early"] = stopped
    if guard is not None:
        summary["guard"] = guard
    if val_batch is not None:
        summary["val_synth"] = val_synth
    return model, summary


def _to(batch: dict[str, torch.Tensor], dev: torch.device) -> dict[str, torch.Tensor]:
    """The batch on ``dev``, as floats (a compact batch is expanded there, after the copy)."""
    if dev.type != "cpu":
        batch = {k: v.to(dev, non_blocking=True) for k, v in batch.items()}
    return expand_batch(batch)


@torch.no_grad()
def evaluate_batch(model: LocalizerNet, batch: dict[str, torch.Tensor], cfg: TrainConfig) -> dict[str, float]:
    """Quick validation numbers on a fixed synthetic batch (loss, pixel IoU at 0.5, region top-1)."""
    model.eval()
    loss, _ = loss_fn(model, batch, cfg)
    logits, rlog = model(batch["x"], batch["regions"])
    pred = torch.sigmoid(logits) > 0.5
    gt = batch["mask"] > 0.5
    has = gt.flatten(1).any(1)
    inter = (pred & gt).flatten(1).sum(1).float()
    union = (pred | gt).flatten(1).sum(1).float().clamp_min(1)
    iou = float((inter / union)[has].mean()) if has.any() else 0.0
    top1 = float((rlog.argmax(1) == batch["rt"].argmax(1))[has].float().mean()) if has.any() else 0.0
    return {"loss": float(loss), "iou@0.5": iou, "region_top1": top1}


#: What a model derived from trained localizers (a weight average, an ensemble) keeps of a member's
#: recipe: enough for ``forgetalk.train.calibrate`` to find the split and the training config.
DERIVED_RECIPE_KEYS = ("component", "train_config", "split", "data_counts")


def recipe_beside(weights: Path) -> dict[str, object]:
    """The recipe.json next to a localizer.safetensors, or {} when there is none."""
    p = Path(weights).parent / "recipe.json"
    return json.loads(p.read_text(encoding="utf-8")) if p.is_file() else {}


def write_weights(model: LocalizerNet, out_dir: Path, recipe: dict[str, object]) -> dict[str, object]:
    """localizer.safetensors + recipe.json + manifest.json (sha256 and size of both)."""
    from ..io import atomic_write_json

    out_dir.mkdir(parents=True, exist_ok=True)
    wpath = out_dir / "localizer.safetensors"
    save_localizer(model, wpath, {"seed": str(recipe.get("train_config", {}).get("seed", ""))})  # type: ignore[union-attr]
    try:
        export_onnx(model, out_dir / "localizer.onnx")
    except (ImportError, RuntimeError):  # onnx missing or the exporter refused: the engine falls back to torch
        (out_dir / "localizer.onnx").unlink(missing_ok=True)
    atomic_write_json(out_dir / "recipe.json", recipe)
    from .manifest import write_localizer_manifest

    return write_localizer_manifest(out_dir)
