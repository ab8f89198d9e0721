"""`forgetalk train localizer --faces DIR`: train, calibrate and write weights/localizer/."""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import click


@click.group(name="train")
def command() -> None:
    """Train the project's own models (never run on evaluation/holdout photos)."""


@command.command("localizer")
@click.option("--faces", "faces_dir", required=True, type=click.Path(file_okay=False, exists=True, path_type=Path), help="Folder of real face photos (split by photo into train/val/test).")
@click.option("--out", "out_dir", default=None, type=click.Path(file_okay=False, path_type=Path), help="Output folder (default: weights/localizer).")
@click.option("--epochs", type=int, default=0, show_default=True, help="Cap on epochs (one forgery per training face each); 0 = no cap.")
@click.option("--steps", type=int, default=3000, show_default=True, help="Cap on optimizer steps.")
@click.option("--minutes", type=float, default=12.0, show_default=True, help="Wall-clock training budget.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--init", "init_path", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None, help="Start from these localizer weights (a second training stage).")
@click.option("--paired/--no-paired", default=True, show_default=True, help="Put each forgery's untouched twin in the same batch (defeats location priors).")
@click.option("--lr", type=float, default=2e-3, show_default=True, help="Peak learning rate (AdamW, warm-up + cosine).")
@click.option("--calibrate/--no-calibrate", default=True, show_default=True, help="Choose fusion weight and threshold on the validation split.")
@click.option("--target-fpr", type=float, default=0.05, show_default=True, help="False-positive rate on validation real faces for the image-level threshold.")
def localizer(faces_dir: Path, out_dir: Path | None, epochs: int, steps: int, minutes: float, seed: int, init_path: Path | None, paired: bool, lr: float, calibrate: bool, target_fpr: float) -> None:
    """Train the localizer on pseudo-forgeries of FACES and write weights + manifest + recipe."""
    import torch

    from ..train.data import load_split_faces, split_summary
    from ..train.loop import TrainConfig, build_records, train_localizer, write_weights
    from ..weights import weights_root

    out_dir = out_dir or (weights_root() / "localizer")
    if "holdout" in str(faces_dir.resolve()).lower():
        raise click.UsageError("refusing to train on a holdout folder")
    t0 = time.perf_counter()
    log = lambda m: click.echo(m, err=True)  # noqa: E731
    cfg = TrainConfig(seed=seed, epochs=epochs, max_steps=steps, minutes=minutes, lr=lr, paired=paired)
    train_faces = load_split_faces(faces_dir, "train", seed=0, log=log)
    val_faces = load_split_faces(faces_dir, "val", seed=0, log=log)
    prep_s = time.perf_counter() - t0
    log(f"train faces {len(train_faces)}, val faces {len(val_faces)} ({prep_s:.0f}s preprocessing)")
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
    model, summary = train_localizer(build_records(train_faces, cfg.synth_size), build_records(val_faces, cfg.synth_size), cfg, log=log, init=init_model)
    split = split_summary(faces_dir, seed=0)
    recipe: dict[str, object] = {
        "component": "localizer",
        "command": f"forgetalk train localizer --faces {faces_dir} --seed {seed} --steps {steps} --minutes {minutes} --epochs {epochs} --lr {lr}" + ("" if paired else " --no-paired") + (f" --init {init_path}" if init_path else ""),
        "init": init_info,
        "train_config": cfg.to_dict(),
        "split": split,
        "data_counts": {"photos": {k: len(v) for k, v in split["photos"].items()},  # type: ignore[union-attr]
                        "faces": {"train": len(train_faces), "val": len(val_faces)}},
        "training": summary,
        "preprocess_seconds": round(prep_s, 1),
        "environment": {"python": platform.python_version(), "torch": torch.__version__, "threads": cfg.threads, "machine": platform.machine()},
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    write_weights(model, out_dir, recipe)
    log(f"wrote {out_dir} after {time.perf_counter() - t0:.0f}s")
    if calibrate:
        from ..train.calibrate import calibrate_fusion

        cal = calibrate_fusion(out_dir, val_faces, target_fpr=target_fpr, log=log)
        recipe["calibration"] = cal
        recipe["total_seconds"] = round(time.perf_counter() - t0, 1)
        (out_dir / "recipe.json").write_text(json.dumps(recipe, indent=2) + "\n", encoding="utf-8")
    click.echo(json.dumps({"out": str(out_dir), "steps": summary["steps"], "val": summary.get("val_synth")}))
