"""``forgetalk evaluate DATA``: score an engine (or saved predictions) on MMTT-format annotations."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from ..errors import EXIT_OK
from .options import engine_options, json_option, progress_option

#: The first key of every ``--json-out`` file this command writes: how a re-run recognises its own
#: output (``forgetalk.guard`` knows this schema's opening line, as it knows ``analyze``'s).
SCHEMA = "forgetalk.evaluation/1"
#: Keys of the files written before SCHEMA existed (recognised so that a re-run over one still works).
_EARLIER_KEYS = {"data", "engine", "protocol", "summary", "rows"}
_EARLIER_MAX_BYTES = 256 * 1024 * 1024


@click.command(name="evaluate")
@click.argument("data", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@engine_options(default_engine="forgerytalker")
@click.option("--root", type=click.Path(file_okay=False, path_type=Path), help="Dataset root for img_path/mask_path (default: DATA's folder).")
@click.option("--model-dir", type=click.Path(file_okay=False, path_type=Path), help="Converted ForgeryTalker folder instead of weights/forgerytalker.")
@click.option("--predictions", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Score saved predictions instead of running a model: JSON list of {image_id, caption, mask_path}. "
                   "An image of DATA without a prediction scores 0 (counted as missing_predictions).")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Evaluate only the first N images.")
@click.option("--protocol", type=click.Choice(["official", "legacy"]), default="official", show_default=True,
              help="official: as the released evaluate_metrics.py (last record per image_id, PTB tokens, missing mask files skipped); "
                   "legacy: every caption a reference, first record's mask, simple tokens.")
# A str, not click.Path: click turns "" into "." and the error would quote a name never given.
@click.option("--json-out", "--out", "out", type=click.Path(dir_okay=False),
              help="Write per-image rows and the summary as JSON here (--out is the older spelling). Never an input, nor a file "
                   "this command did not write.")
@json_option("Print the summary as JSON on stdout.")
@progress_option()
def command(data: Path, engine: str, root: Path | None, device: str, quant: str | None, model_dir: Path | None, predictions: Path | None,
            limit: int | None, protocol: str, out: str | None, as_json: bool, no_progress: bool) -> None:
    """IoU, precision, recall (mask > 0.5 vs GT > 127, per image) and BLEU-1..4, ROUGE-L, CIDEr-D.

    Scores are fractions (multiply by 100 for the paper's tables). Text metrics are
    computed in Python; see docs/forgerytalker.md for the differences from the COCO toolkit.

    Every image of DATA counts. An image without a prediction (absent from --predictions)
    is scored as an empty caption and IoU, precision and recall of 0; the summary's
    missing_predictions says how many. A prediction whose mask_path is null is an empty
    mask. DATA without records, or --predictions matching no image of DATA, is refused.

    Exit codes: 0 scored; 2 usage (DATA or --predictions not JSON of the documented shape,
    no records, --json-out that is an input (DATA, --predictions, a file the records name),
    a file this command did not write, a link, a device or a folder); 3 an image or mask the
    records name is unusable (legacy protocol, or when a model runs); 5 weights; 6 the
    output could not be written.
    """
    from ..engines.forgerytalker.evaluation import load_mmtt, load_predictions, run_engine, score
    from ..guard import check_output_names
    from ..io import atomic_write_json

    check_output_names({"--json-out": out})
    out_path = None if out is None else Path(out)
    root = root or data.parent
    try:
        records = load_mmtt(data)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="DATA") from None
    if not records:
        raise click.BadParameter(f"{data}: no records to evaluate", param_hint="DATA")
    named = records  # every file DATA names is an input, also those --limit leaves out
    if limit is not None:
        keep = set(list(dict.fromkeys(r.image_id for r in records))[:limit])
        records = [r for r in records if r.image_id in keep]
    preds: dict[str, dict[str, Any]] | None = None
    engine_info: dict[str, object] | None = None  # what ran: weights hashes, quantization, precision (as analyze's sidecar)
    if predictions is not None:
        try:
            preds = load_predictions(predictions)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--predictions") from None
        if not any(r.image_id in preds for r in records):
            raise click.BadParameter(f"{predictions}: no prediction matches an image_id of {data}"
                                     + (" (the file has none)" if not preds else ""), param_hint="--predictions")
    if out_path is not None:  # before any model loads or anything is written
        _check_json_out(out_path, data, predictions, named, preds, root)
    if preds is None:
        from ..engines import get_engine

        kwargs: dict[str, object] = {"device": device}
        if quant:
            kwargs["quant"] = quant
        if model_dir:
            kwargs["model_dir"] = str(model_dir)
        eng = get_engine(engine, **kwargs)
        engine_info = eng.info()
        quiet = as_json or no_progress
        preds = run_engine(eng, records, root, on_item=None if quiet else lambda i, n: click.echo(f"\r{i}/{n}", nl=False, err=True))
        if not quiet:
            click.echo("", err=True)
    result = score(records, preds, root, protocol=protocol)
    missing = int(result.summary.get("missing_predictions", 0))
    if missing:
        click.echo(f"note: {missing} of {int(result.summary['images'])} images have no prediction and score 0", err=True)
    if out_path is not None:
        rows = [{k: v for k, v in r.items() if k != "mask"} for r in result.rows]
        atomic_write_json(out_path, {"schema": SCHEMA, "data": str(data), "engine": None if predictions else engine,
                                     **({"engine_info": engine_info} if engine_info is not None else {}), "protocol": protocol,
                                     "summary": result.summary, "rows": rows})
    if as_json:
        click.echo(json.dumps(result.summary))
    else:
        width = max(10, *(len(k) for k in result.summary))
        for k, v in result.summary.items():
            click.echo(f"{k:<{width}} {v:.4f}" if k not in ("images", "masks", "missing_predictions") else f"{k:<{width}} {int(v)}")
    sys.exit(EXIT_OK)


def _check_json_out(out: Path, data: Path, predictions: Path | None, records: list[Any], preds: dict[str, dict[str, Any]] | None,
                    root: Path) -> None:
    """Refuse (exit 2) a --json-out that is an input or would replace a file this command did not write.

    Inputs: DATA, --predictions and every image and mask file they name. The same guard as
    ``analyze`` (:func:`forgetalk.guard.check_outputs`): symbolic links, ``..`` and hard links
    are resolved; links, devices, FIFOs and folders are refused. An existing file is replaced
    only if it is an earlier ``--json-out`` of this command (its schema line, which the guard knows, or
    :func:`_earlier_output`).
    """
    from ..guard import OutputCollisionError, check_not_foreign, check_outputs, inside_scan_results

    inputs: dict[str, str | os.PathLike[str]] = {"DATA": data}
    if predictions is not None:
        inputs["--predictions"] = predictions
    named: dict[str, str] = {}  # path -> label; each file once, however many records name it
    for r in records:
        named.setdefault(os.fspath(root / r.img_path), f"img_path of image {r.image_id} in DATA")
        if r.mask_path:
            named.setdefault(os.fspath(root / r.mask_path), f"mask_path of image {r.image_id} in DATA")
    for image_id, p in (preds or {}).items():
        if p.get("mask_path"):
            named.setdefault(os.fspath(root / p["mask_path"]), f"mask_path of image {image_id} in --predictions")
    inputs.update({label: path for path, label in named.items()})
    check_outputs(inputs, {"--json-out": out})
    if not _earlier_output(out):  # the guard recognises this command's files by their schema line
        check_not_foreign({"--json-out": out})
    elif (results := inside_scan_results(out)) is not None:
        raise OutputCollisionError(f"--json-out {out} is inside the scan results {results}: evaluate never writes there; choose another folder")


def _earlier_output(path: Path) -> bool:
    """True if ``path`` is a regular file an ``evaluate --json-out`` wrote before :data:`SCHEMA`
    existed: a JSON object with exactly the keys that version wrote (files with the schema line are
    recognised by :func:`forgetalk.guard.check_not_foreign`, as ``analyze``'s are)."""
    from ..io import NotARegularFile, open_regular

    try:
        with os.fdopen(open_regular(path), "rb") as fh:
            head = fh.read(16)
            if not head.startswith(b'{\n  "data": ') or os.fstat(fh.fileno()).st_size > _EARLIER_MAX_BYTES:
                return False
            doc = json.loads((head + fh.read()).decode("utf-8"))
    except (OSError, NotARegularFile, ValueError, RecursionError):
        return False
    return isinstance(doc, dict) and set(doc) == _EARLIER_KEYS
