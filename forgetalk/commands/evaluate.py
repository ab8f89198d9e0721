"""``forgetalk evaluate DATA``: score an engine (or saved predictions) on MMTT-format annotations."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ..errors import EXIT_OK
from .options import engine_options, json_option, progress_option


@click.command(name="evaluate")
@click.argument("data", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@engine_options(default_engine="forgerytalker")
@click.option("--root", type=click.Path(file_okay=False, path_type=Path), help="Dataset root for img_path/mask_path (default: DATA's folder).")
@click.option("--model-dir", type=click.Path(file_okay=False, path_type=Path), help="Converted ForgeryTalker folder instead of weights/forgerytalker.")
@click.option("--predictions", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Score saved predictions instead of running a model: JSON list of {image_id, caption, mask_path}.")
@click.option("--limit", type=int, default=None, help="Evaluate only the first N images.")
@click.option("--protocol", type=click.Choice(["official", "legacy"]), default="official", show_default=True,
              help="official: as the released evaluate_metrics.py (last record per image_id, PTB tokens, missing mask files skipped); "
                   "legacy: every caption a reference, first record's mask, simple tokens.")
@click.option("--json-out", "--out", "out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write per-image rows and the summary as JSON here (--out is the older spelling).")
@json_option("Print the summary as JSON on stdout.")
@progress_option()
def command(data: Path, engine: str, root: Path | None, device: str, quant: str | None, model_dir: Path | None, predictions: Path | None,
            limit: int | None, protocol: str, out: Path | None, as_json: bool, no_progress: bool) -> None:
    """IoU, precision, recall (mask > 0.5 vs GT > 127, per image) and BLEU-1..4, ROUGE-L, CIDEr-D.

    Scores are fractions (multiply by 100 for the paper's tables). Text metrics are
    computed in Python; see docs/forgerytalker.md for the differences from the COCO toolkit.
    """
    from ..engines.forgerytalker.evaluation import load_mmtt, run_engine, score
    from ..io import atomic_write_json

    root = root or data.parent
    try:
        records = load_mmtt(data)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    if limit is not None:
        keep = list(dict.fromkeys(r.image_id for r in records))[:limit]
        records = [r for r in records if r.image_id in set(keep)]
    if predictions is not None:
        try:
            raw = json.loads(predictions.read_text(encoding="utf-8"))
            preds = {str(p["image_id"]): {"caption": p.get("caption", ""), "mask_path": p.get("mask_path")} for p in raw}
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise click.BadParameter(f"{predictions}: not a JSON list of {{image_id, caption, mask_path}} ({exc})", param_hint="--predictions") from None
    else:
        from ..engines import get_engine

        kwargs: dict[str, object] = {"device": device}
        if quant:
            kwargs["quant"] = quant
        if model_dir:
            kwargs["model_dir"] = str(model_dir)
        eng = get_engine(engine, **kwargs)
        quiet = as_json or no_progress
        preds = run_engine(eng, records, root, on_item=None if quiet else lambda i, n: click.echo(f"\r{i}/{n}", nl=False, err=True))
        if not quiet:
            click.echo("", err=True)
    result = score(records, preds, root, protocol=protocol)
    if out:
        rows = [{k: v for k, v in r.items() if k != "mask"} for r in result.rows]
        atomic_write_json(out, {"data": str(data), "engine": None if predictions else engine, "protocol": protocol,
                                "summary": result.summary, "rows": rows})
    if as_json:
        click.echo(json.dumps(result.summary))
    else:
        for k, v in result.summary.items():
            click.echo(f"{k:<10} {v:.4f}" if k not in ("images", "masks") else f"{k:<10} {int(v)}")
    sys.exit(EXIT_OK)
