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
    from ..faces import available_backends

    engines = available_engines()
    backends = available_backends()
    if as_json:
        click.echo(json.dumps({"engines": engines, "face_backends": backends}))
        return
    click.echo("engines:")
    for name, desc in engines.items():
        click.echo(f"  {name:<14} {desc}")
    click.echo("face backends: " + ", ".join(backends))
