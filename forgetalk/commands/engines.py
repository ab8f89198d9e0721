"""`forgetalk engines`: list the registered engines and face backends."""

from __future__ import annotations

import json

import click

from .options import json_option


@click.command("engines")
@json_option()
def command(as_json: bool) -> None:
    """List available engines and face backends (nothing is loaded)."""
    from ..engines import available_engines
    from ..engines.forgerytalker.precision import COMPONENTS, policy_table
    from ..faces import available_backends


    engines = available_engines()
    backends = available_backends()
    precision = policy_table()  # pure Python: nothing is imported or loaded
    if as_json:
        click.echo(json.dumps({"engines": engines, "face_backends": backends, "precision": {"forgerytalker": precision}}))
        return
    click.echo("engines:")
    for name, desc in engines.items():
        click.echo(f"  {name:<14} {desc}")
    click.echo("face backends: " + ", ".join(backends))
    click.echo("forgerytalker precision per --quant mode on CUDA (docs/forgerytalker.md):")
    click.echo("  components: " + "; ".join(f"{c.key} = {c.label}" for c in COMPONENTS))
    for row in (r for r in precision if r["device"] == "cuda"):
        cpu = next(r for r in precision if r["mode"] == row["mode"] and r["device"] == "cpu")
        diff = [f"{c.key} {cpu[c.key]}" for c in COMPONENTS if cpu[c.key] != row[c.key]]
        cells = ", ".join(f"{c.key} {row[c.key]}" for c in COMPONENTS)
        click.echo(f"  {row['mode']:<5} {cells}" + (f" (on CPU: {', '.join(diff)})" if diff else ""))
