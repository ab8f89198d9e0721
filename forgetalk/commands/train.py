"""`forgetalk train localizer --faces DIR`: train, calibrate and write weights/localizer/."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import click

from .options import json_option


def _write_last_step(model: object, state: dict[str, object], out_dir: Path, recipe: dict[str, object], log) -> None:  # noqa: ANN001
    """The last step's weights, which the guard did not keep, as ``OUT/last_step/localizer.safetensors``
    with the run's recipe beside them (marked as the last step's): outside the manifest, so nothing
    loads them as the trained localizer, but an ensemble or a benchmark can measure them on more
    than the guard's 96 pairs. Why the recipe: ``forgetalk.train.ensemble`` refuses members whose
    recipes name different data splits, and a member without one names none (2026-11-29: the
    last step of a rolled-back run could not join an ensemble until its recipe was copied by hand)."""
    import copy

    from ..engines.localizer.infer import save_localizer
    from ..io import atomic_write_json

    last = copy.deepcopy(model)
    last.load_state_dict(state)  # type: ignore[attr-defined]
    folder = out_dir / "last_step"
    folder.mkdir(parents=True, exist_ok=True)
    seed = str((recipe.get("train_config") or {}).get("seed", ""))  # type: ignore[union-attr]
    save_localizer(last, folder / "localizer.safetensors", {"seed": seed, "note": "last training step, not kept by the guard"})  # type: ignore[arg-type]
    guard = (recipe.get("training") or {}).get("guard") or {}  # type: ignore[union-attr]
    atomic_write_json(folder / "recipe.json", {**recipe, "weights": f"the last training step ({guard.get('last_step_image_auc')} on the guard), "
                                                           f"not step {guard.get('kept_step')}, which the guard kept in the folder above"})
    log(f"[train] the last step's weights (not kept): {folder / 'localizer.safetensors'}")


def _native_range(text: str, chained: bool) -> tuple[int, int]:
    """``--native-range lo,hi`` as two whole pixel sizes, 16 <= lo < hi <= 4096; a usage error
    otherwise, and when no chain runs (no family training, or --no-chain) unless it is the default."""
    try:
        lo, hi = (int(x) for x in text.split(","))
    except ValueError:
        raise click.UsageError(f"--native-range takes two whole pixel sizes 'lo,hi', not {text!r}") from None
    if not 16 <= lo < hi <= 4096:
        raise click.UsageError(f"--native-range {text}: need 16 <= lo < hi <= 4096")
    if (lo, hi) != (128, 1024) and not chained:
        raise click.UsageError("--native-range sets the post-edit chain's sizes: it needs family training (--families) with the chain on")
    return lo, hi


@click.group(name="train")
def command() -> None:
    """Train the project's own models (never run on evaluation/holdout photos)."""


@command.command("localizer")
@click.option("--faces", "faces_dir", default=None, type=click.Path(file_okay=False, exists=True, path_type=Path), help="Folder of real face photos (split by photo into train/val/test).")
@click.option("--bundle", "bundle_path", default=None, type=click.Path(dir_okay=False, exists=True, path_type=Path), help="Train on a face bundle (python -m forgetalk.train.bundle) instead of --faces/--parsing: for a machine without the face stack or the photos. No validation split: use --no-calibrate and calibrate where the photos are.")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True, help="Where the optimizer steps; forgeries are always made on the CPU.")
@click.option("--workers", type=int, default=1, show_default=True, help="Processes forging training batches (family training).")
@click.option("--out", "out_dir", default=None, type=click.Path(file_okay=False, path_type=Path), help="Output folder (default: weights/localizer).")
@click.option("--epochs", type=int, default=0, show_default=True, help="Cap on epochs (one forgery per training face each); 0 = no cap.")
@click.option("--steps", type=int, default=3000, show_default=True, help="Cap on optimizer steps.")
@click.option("--minutes", type=float, default=12.0, show_default=True, help="Wall-clock training budget.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--init", "init_path", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None, help="Start from these localizer weights (a second training stage).")
@click.option("--paired/--no-paired", default=True, show_default=True, help="Put each forgery's untouched twin in the same batch (defeats location priors).")
@click.option("--lr", type=float, default=2e-3, show_default=True, help="Peak learning rate (AdamW, warm-up + cosine).")
@click.option("--image-weight", type=click.FloatRange(min=0), default=0.0, show_default=True, help="Weight of the pairwise image-level loss (each forgery scored above its untouched twin; family training only); 0 = off, as the shipped members were trained.")
@click.option("--image-pairs", type=click.Choice(["twin", "all"]), default="twin", show_default=True, help="With --image-weight: rank each forgery above its own untouched twin, or above every untouched face in the batch (across faces and photo sources).")
@click.option("--calibrate/--no-calibrate", default=True, show_default=True, help="Choose fusion weight and threshold on the validation split.")
@click.option("--target-fpr", type=float, default=0.05, show_default=True, help="False-positive rate on validation real faces for the image-level threshold.")
@click.option("--parsing", "parsing_dir", type=click.Path(file_okay=False, exists=True, path_type=Path), default=None, help="A parsing set (images/ + masks/, CelebAMask-HQ classes) used as extra hosts and donors with exact part masks.")
@click.option("--families", default="", help="Comma-separated forgery families (forgetalk.synth.families); 'all' = every family; empty = the v1 generators.")
@click.option("--exclude-family", "exclude", multiple=True, help="Leave this family out of training (leave-one-family-out runs).")
@click.option("--chain/--no-chain", default=True, show_default=True, help="Post-edit chains (native size, JPEG once or twice, sharpening, noise) on forgery and twin alike.")
@click.option("--arch", type=click.Choice(["unet", "mobile_unet"]), default="unet", show_default=True)
@click.option("--input-size", type=int, default=192, show_default=True)
@click.option("--pretrained", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None, help="3DDFA_V2 MobileNet weights for the mobile_unet encoder (loaded with weights_only=True).")
@click.option("--freeze", default="", help="Comma-separated encoder block prefixes kept frozen (e.g. conv1,bn1,dw2_,dw3_1).")
@click.option("--batch-size", type=int, default=16, show_default=True)
@click.option("--threads", type=int, default=2, show_default=True, help="torch threads (two runs side by side: 1 each).")
@json_option("Print the result (output folder, steps, validation scores) as JSON on stdout.")
@click.option("--schedule", type=click.Choice(["steps", "time"]), default="steps", show_default=True, help="With --minutes: fix the step count after 20 timed steps (replayable), or run the learning-rate schedule on elapsed time (robust on a shared machine).")
@click.option("--guard-families", default="", help="Comma-separated families never trained on (e.g. mirrored_copy, kept out of every mix), forged on the validation faces to choose the checkpoint: the weights kept are those with the best image AUC on them.")
@click.option("--guard-every", type=click.IntRange(min=1), default=500, show_default=True, help="Steps between guard checks (the last step is always checked).")
@click.option("--guard-size", type=click.IntRange(min=2), default=192, show_default=True, help="Images in the fixed guard batch (half forgeries, half their untouched twins; every validation face is used once before any twice).")
@click.option("--guard-bundle", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None, help="With --bundle: a bundle of the validation split (python -m forgetalk.train.bundle --split val) to forge the guard edits on.")
@click.option("--host-draw", type=click.Choice(["uniform", "source"]), default="uniform", show_default=True, help="Draw each forgery's host face uniformly, or give each photo source (web photos, parsing set) an equal share of the hosts (family training).")
@click.option("--beauty", type=click.FloatRange(0.0, 1.0), default=0.0, show_default=True, help="Share of family pairs whose host is retouched as a whole (skin smoothed, tone lifted, as a beauty mode does) before the edit, twins alike, so that smooth skin alone is no evidence.")
@click.option("--native-range", default="128,1024", show_default=True, help="The post-edit chain's native face-crop sizes in px, 'lo,hi' (log-uniform): a lower range trains more on small faces, such as those of a 160 px photo (crops of about 130-175 px).")
@click.option("--retouch-brush", type=click.Choice(["all", "local"]), default="all", show_default=True, help="Where the retouch family's smoothing brushes: all of the skin half the time (the shipped members), or one skin area only (with --beauty: a whole-skin retouch is the photo's processing, not an edit).")
def localizer(faces_dir: Path | None, bundle_path: Path | None, device: str, workers: int, out_dir: Path | None, epochs: int, steps: int, minutes: float, seed: int, init_path: Path | None, paired: bool, lr: float, image_weight: float, calibrate: bool, target_fpr: float,
              parsing_dir: Path | None, families: str, exclude: tuple[str, ...], chain: bool, arch: str, input_size: int, pretrained: Path | None, freeze: str, batch_size: int, threads: int, as_json: bool, schedule: str,
              guard_families: str, guard_every: int, guard_size: int, guard_bundle: Path | None, host_draw: str, image_pairs: str, beauty: float, retouch_brush: str, native_range: str) -> None:
    """Train the localizer on pseudo-forgeries of FACES and write weights + manifest + recipe."""
    from ..train.data import list_photos

    if (faces_dir is None) == (bundle_path is None):
        raise click.UsageError("give exactly one of --faces and --bundle")
    if bundle_path is not None and (parsing_dir is not None or calibrate):
        raise click.UsageError("--bundle holds the training faces only: drop --parsing and add --no-calibrate")
    if faces_dir is not None and not list_photos(faces_dir):  # before torch is imported: an empty folder is a usage error, not a crash mid-training
        raise click.UsageError(f"no photos in {faces_dir} (nothing to train on)")
    import torch

    from ..engines.localizer.model import LocalizerConfig
    from ..train.data import load_split_faces, split_summary
    from ..train.loop import (
        ALL_FAMILIES,
        GUARD_FAMILIES,
        TrainConfig,
        build_records,
        family_names,
        guard_family_error,
        host_draw_error,
        image_loss_error,
        train_localizer,
        write_weights,
    )
    from ..weights import weights_root

    out_dir = out_dir or (weights_root() / "localizer")
    for d in (faces_dir, parsing_dir):
        if d is not None and "holdout" in str(d.resolve()).lower():
            raise click.UsageError("refusing to train on a holdout folder")
    fams = family_names(families)
    guard = tuple(f for f in guard_families.split(",") if f)
    known = (*ALL_FAMILIES, *GUARD_FAMILIES)
    for what, names in (("forgery", (*fams, *exclude)), ("guard", guard)):
        unknown = [f for f in names if f not in known]
        if unknown:
            raise click.UsageError(f"unknown {what} families {unknown}; known: {', '.join(known)}")
    fams = tuple(f for f in fams if f not in exclude)
    problem = guard_family_error(fams, guard)
    if problem:
        raise click.UsageError(problem)
    if guard_bundle is not None and (bundle_path is None or not guard):
        raise click.UsageError("--guard-bundle goes with --bundle and --guard-families")
    if guard and bundle_path is not None and guard_bundle is None:
        raise click.UsageError("--bundle holds no validation faces: give --guard-bundle (a bundle of the validation split) for the guard")
    native = _native_range(native_range, bool(fams) and chain)
    t0 = time.perf_counter()
    log = lambda m: click.echo(m, err=True)  # noqa: E731
    model_cfg = LocalizerConfig(input_size=input_size, widths=(16, 32, 48, 96) if arch == "mobile_unet" else LocalizerConfig().widths, arch=arch)
    cfg = TrainConfig(seed=seed, epochs=epochs, max_steps=steps, minutes=minutes, lr=lr, image_weight=image_weight, image_pairs=image_pairs, paired=paired, model=model_cfg, families=fams, chain=chain and bool(fams),
                      freeze=tuple(f for f in freeze.split(",") if f), pretrained=str(pretrained or ""), batch_size=batch_size, threads=threads, schedule=schedule, device=device, workers=workers,
                      guard_families=guard, guard_every=guard_every, guard_size=guard_size, host_draw=host_draw, beauty=beauty, retouch_brush=retouch_brush, native_range=native)
    if beauty > 0 and not fams:
        raise click.UsageError("--beauty needs family training (--families): it retouches the host of each (twin, forgery) pair")
    problem = image_loss_error(cfg)
    if problem:
        raise click.UsageError(problem)
    bundle = None
    guard_recs = None
    if bundle_path is not None:
        from ..train.bundle import load

        def load_bundle(path: Path):  # noqa: ANN202 - a Bundle; not a bundle file: one usage line (exit 2)
            try:
                return load(path)
            except ValueError as exc:
                raise click.UsageError(str(exc)) from None

        bundle = load_bundle(bundle_path)
        train_faces, val_faces = [], []
        if guard_bundle is not None:
            gb = load_bundle(guard_bundle)
            if gb.meta.get("split") != "val":
                raise click.UsageError(f"{guard_bundle} holds the {gb.meta.get('split')!r} split; the guard must use the validation split")
            guard_recs = gb.records
    else:
        train_faces = load_split_faces(faces_dir, "train", seed=0, log=log)
        val_faces = load_split_faces(faces_dir, "val", seed=0, log=log)
    parsing_counts: dict[str, int] = {}
    if parsing_dir is not None:
        from ..train.parsing import load_parsing_split

        ptrain = load_parsing_split(parsing_dir, "train", log=log)
        pval = load_parsing_split(parsing_dir, "val", log=log)
        parsing_counts = {"train": len(ptrain), "val": len(pval)}
        train_faces = [*train_faces, *ptrain]
        val_faces = [*val_faces, *pval]
    prep_s = time.perf_counter() - t0
    if bundle is None and (not train_faces or not val_faces):
        raise click.UsageError(f"no usable faces in the {'training' if not train_faces else 'validation'} split of {faces_dir} "
                               f"({len(train_faces)} train, {len(val_faces)} val faces); add photos with a visible face")
    if bundle is not None and not bundle.records:
        raise click.UsageError(f"{bundle_path} holds no faces")
    train_recs = bundle.records if bundle is not None else build_records(train_faces, cfg.synth_size)
    problem = host_draw_error(cfg, train_recs)
    if problem:
        raise click.UsageError(problem)
    log(f"train faces {len(train_recs)}, val faces {len(guard_recs) if guard_recs is not None else len(val_faces)} ({prep_s:.0f}s preprocessing)")
    init_info: dict[str, object] | None = None
    init_model = None
    if init_path is not None:
        from ..engines.localizer.infer import load_localizer
        from ..io import sha256_file

        init_model = load_localizer(init_path)
        init_info = {"path": str(init_path), "sha256": sha256_file(init_path)}
        prev = init_path.parent / "recipe.json"
        if prev.is_file():
            init_info["previous_recipe"] = json.loads(prev.read_text(encoding="utf-8"))
    val_recs = guard_recs if guard_recs is not None else build_records(val_faces, cfg.synth_size)
    last_step: dict[str, object] = {}
    model, summary = train_localizer(train_recs, val_recs, cfg, log=log, init=init_model, on_last_step=last_step.update)
    if bundle is not None:
        from ..train.bundle import recipe_entry

        split = {**dict(bundle.meta.get("faces_split", {})), "bundle": recipe_entry(bundle)}  # type: ignore[arg-type]
        if "parsing" in bundle.meta:
            split["parsing"] = bundle.meta["parsing"]
    else:
        split = split_summary(faces_dir, seed=0)  # type: ignore[arg-type]
    if parsing_dir is not None:
        from ..train.parsing import split_rule_text as parsing_rule

        split["parsing"] = {"dir": str(parsing_dir), "rule": parsing_rule(0), "faces": parsing_counts}
    recipe: dict[str, object] = {
        "component": "localizer",
        "command": "forgetalk train localizer" + (f" --faces {faces_dir}" if faces_dir else f" --bundle {bundle_path}") + f" --device {device} --workers {workers} --seed {seed} --steps {steps} --minutes {minutes} --epochs {epochs} --lr {lr}" + ("" if paired else " --no-paired") + (f" --init {init_path}" if init_path else "")
        + (f" --parsing {parsing_dir}" if parsing_dir else "") + (f" --families {families}" if families else "") + "".join(f" --exclude-family {e}" for e in exclude)
        + ("" if chain else " --no-chain") + f" --arch {arch} --input-size {input_size} --batch-size {batch_size} --threads {threads} --schedule {schedule}" + (f" --pretrained {pretrained}" if pretrained else "") + (f" --freeze {freeze}" if freeze else "")
        + (f" --guard-families {guard_families} --guard-every {guard_every}" if guard else "") + (f" --guard-bundle {guard_bundle}" if guard_bundle else "") + (f" --host-draw {host_draw}" if host_draw != "uniform" else "") + (f" --beauty {beauty}" if beauty > 0 else "") + (f" --retouch-brush {retouch_brush}" if retouch_brush != "all" else "") + (f" --native-range {native[0]},{native[1]}" if native != (128, 1024) else "") + (f" --image-weight {image_weight} --image-pairs {image_pairs}" if image_weight > 0 else ""),
        "init": init_info,
        "train_config": cfg.to_dict(),
        "split": split,
        "data_counts": {"photos": {k: len(v) for k, v in split["photos"].items()},  # type: ignore[union-attr]
                        "faces": {"train": len(train_recs), "val": len(val_recs)},
                        "train_faces_by_source": {k or "unknown": sum(r.source == k for r in train_recs) for k in sorted({r.source for r in train_recs})}},
        "training": summary,
        "preprocess_seconds": round(prep_s, 1),
        "environment": {"python": platform.python_version(), "torch": torch.__version__, "threads": cfg.threads, "machine": platform.machine(),
                        "workers": cfg.workers, "step_device": torch.cuda.get_device_name() if device == "cuda" else "cpu", "cpus": os.cpu_count()},
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    write_weights(model, out_dir, recipe)
    if last_step:
        _write_last_step(model, last_step, out_dir, recipe, log)
    log(f"wrote {out_dir} after {time.perf_counter() - t0:.0f}s")
    if calibrate:
        from ..io import atomic_write_json
        from ..train.calibrate import calibrate_fusion
        from ..train.ensemble import trained_families
        from ..train.manifest import write_localizer_manifest

        # the whole lineage's families: a run continued from other weights has seen theirs too
        cal = calibrate_fusion(out_dir, val_faces, target_fpr=target_fpr, log=log, families=trained_families(recipe))
        recipe["calibration"] = cal
        recipe["total_seconds"] = round(time.perf_counter() - t0, 1)
        atomic_write_json(out_dir / "recipe.json", recipe)
        write_localizer_manifest(out_dir)  # recipe.json and region_calibration.json changed: re-pin them
    result = {"out": str(out_dir), "steps": summary["steps"], "val": summary.get("val_synth")}
    if as_json:
        click.echo(json.dumps(result))
    else:
        click.echo(f"wrote {out_dir}: {summary['steps']} steps; validation {json.dumps(summary.get('val_synth'))}")
