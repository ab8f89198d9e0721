"""Click entry point. Commands only parse arguments, call library code and print.

Sub-commands owned by other modules live in :mod:`forgetalk.commands` (each module
exposes a ``command`` object) and are attached here, so this file stays small.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path

import click

from . import __version__
from .errors import EXIT_NO_FACE, EXIT_OK, ForgetalkError
from .progress import progress_enabled, stage_progress

# Sub-command modules in forgetalk/commands/, attached if present.
SUBCOMMANDS = ("weights", "scan", "verify", "train", "evaluate", "engines")


def _fail(err: ForgetalkError, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"status": "error", "error": str(err), "exit_code": err.exit_code}))
    else:
        click.echo(f"error: {err}", err=True)
    sys.exit(err.exit_code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="forgetalk")
def main() -> None:
    """forgetalk: find out whether a face photo was manipulated, where, and why (offline)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@main.command()
@click.argument("image", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--report", "report", type=click.Path(dir_okay=False, path_type=Path), help="Write the PDF report here.")
@click.option("--overlay", type=click.Path(dir_okay=False, path_type=Path), help="Write the heatmap overlay PNG here (default: next to the report).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), help="Write the JSON sidecar here (default: next to the report).")
@click.option("--engine", default="fused", show_default=True, help="Engine name (see `forgetalk engines`).")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
@click.option("--face-backend", default="default", show_default=True, help="Face backend (default, facexlib).")
@click.option("--max-pixels", type=click.IntRange(min=1), default=None, help="Decompression-bomb limit in pixels (default 160 MP).")
@click.option("--max-faces", type=click.IntRange(min=1), default=32, show_default=True, help="Analyse at most this many faces (largest first); the report says how many were skipped.")
@click.option("--quant", type=click.Choice(["nf4", "int8", "bf16", "fp16", "fp32"]), default=None, help="Quantization for model engines (forgerytalker).")
@click.option("--print-json", "print_json", is_flag=True, help="Print the full result as JSON on stdout (for machines).")
@click.option("--no-progress", is_flag=True, envvar="FORGETALK_NO_PROGRESS", help="No progress bars (also off when not a terminal or under CI).")
def analyze(image: Path, report: Path | None, overlay: Path | None, json_path: Path | None, engine: str, device: str, face_backend: str,
            max_pixels: int | None, max_faces: int, quant: str | None, print_json: bool, no_progress: bool) -> None:
    """Analyse one photo: detect faces, localize forged pixels, rank and explain regions.

    Exit codes: 0 analysed (any verdict), 2 usage (an output that is the input or another output),
    3 unusable input, 4 no face, 5 weights, 6 output, 7 integrity.
    """
    from .guard import check_outputs
    from .pipeline import AnalyzeOptions, Analyzer
    from .render import write_outputs

    if report is not None:
        overlay = overlay or report.with_suffix(".overlay.png")
        json_path = json_path or report.with_suffix(".json")
    try:  # before any model loads: an output must never land on the evidence or on another output
        check_outputs({"IMAGE": image}, {"--report": report, "--overlay": overlay, "--json": json_path})
    except ForgetalkError as err:
        _fail(err, print_json)
        return
    engine_options = {"quant": quant} if quant else {}
    opts = AnalyzeOptions(engine=engine, face_backend=face_backend, device=device, engine_options=engine_options, max_faces=max_faces,
                          **({"max_pixels": max_pixels} if max_pixels is not None else {}))
    show = progress_enabled(no_progress)
    try:
        with stage_progress(show) as stage:
            stage("loading models")
            analyzer = Analyzer(opts)
            stage(f"analysing {image.name}")
            analysis = analyzer.analyze_path(image)
            stage("writing outputs")
            written = write_outputs(analysis, overlay=overlay, pdf=report, json_path=json_path)
    except ForgetalkError as err:
        _fail(err, print_json)
        return
    rep = analysis.report
    if print_json:
        click.echo(json.dumps({"status": "ok", "outputs": {k: str(v) for k, v in written.items()}, "report": rep.to_dict()}, ensure_ascii=False))
    else:
        _print_summary(rep, written)
    sys.exit(EXIT_NO_FACE if not rep.faces else EXIT_OK)


def _print_summary(rep, written) -> None:  # noqa: ANN001 - plain printing
    click.echo(f"{rep.input.name}  sha256 {rep.input.sha256}")
    click.echo(f"verdict: {rep.verdict} (score {rep.score:.3f}, engine {rep.engine})")
    for face in rep.faces:
        top = ", ".join(f"{r.label} " + (f"{100 * r.suspicion:.0f}%" if r.suspicion is not None else f"{r.saliency:.2f}") for r in face.regions[:3])
        click.echo(f"  face {face.index + 1}: {face.verdict} (score {face.score:.3f}); top regions: {top}")
    for note in rep.warnings:
        click.echo(f"  note: {note}")
    for kind, path in written.items():
        click.echo(f"{kind}: {path}")


def _attach_subcommands() -> None:
    for name in SUBCOMMANDS:
        try:
            mod = importlib.import_module(f"{__package__}.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith(f"{__package__}.commands"):
                continue
            raise
        main.add_command(mod.command)


_attach_subcommands()

if __name__ == "__main__":  # pragma: no cover
    main()
