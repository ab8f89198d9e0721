"""``forgetalk weights list|verify|fetch``: see and check every component's weights.

``fetch`` is the only code path in forgetalk that opens a network connection; it is
meant for a connected machine, after which the weights folder is copied to the offline
workstation. Unpinned files (manifest sha256 null) are reported honestly as such.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ..errors import EXIT_OK, EXIT_WEIGHTS, ForgetalkError
from ..weights import fetch_file, list_components, load_manifest, verify_manifest, weights_root
from .options import json_option


def _components(names: tuple[str, ...]) -> list[str]:
    found = list_components()
    if not names:
        return found
    unknown = [n for n in names if n not in found]
    if unknown:
        raise click.BadParameter(f"unknown component(s) {', '.join(unknown)}; known: {', '.join(found) or 'none'} (root {weights_root()})")
    return list(names)


@click.group(name="weights")
def command() -> None:
    """List, verify (sha256) and fetch model weights under the weights folder ($FORGETALK_WEIGHTS)."""


@command.command(name="list")
@json_option()
def list_cmd(as_json: bool) -> None:
    """Every component with a manifest, and how many of its files are present."""
    rows = []
    for name in list_components():
        m = load_manifest(name)
        present = sum((m.folder / f.name).is_file() for f in m.files)
        rows.append({"component": name, "folder": str(m.folder), "files": len(m.files), "present": present,
                     "pinned": sum(bool(f.sha256) for f in m.files), "description": m.description})
    if as_json:
        click.echo(json.dumps({"root": str(weights_root()), "components": rows}))
        return
    click.echo(f"weights root: {weights_root()}")
    for r in rows:
        click.echo(f"{r['component']:<16} {r['present']}/{r['files']} present, {r['pinned']}/{r['files']} hashes pinned  {r['folder']}")


@command.command(name="verify")
@click.argument("components", nargs=-1)
@json_option()
def verify_cmd(components: tuple[str, ...], as_json: bool) -> None:
    """Hash files and compare with the manifest. Exit 5 if a required file is missing or any file mismatches.

    Status per file: ok (matches pinned hash), unpinned (present; no published hash, shown
    with the hash recorded at fetch if any), missing, mismatch. Without COMPONENTS, a component
    that is fetched, not shipped (every file has a download URL) and of which no file is present
    is "not installed" rather than broken: it does not fail the exit code (name it to check it).
    Why: a fresh checkout, which has no ForgeryTalker files by design, exited 5 ("missing") for
    the engines that were all intact.
    """
    out, bad = [], False
    for name in _components(components):
        manifest = load_manifest(name)
        statuses = verify_manifest(manifest)
        absent = not components and all(f.url for f in manifest.files) and all(s.status == "missing" for s in statuses)
        for s in statuses:
            bad |= not absent and (s.status == "mismatch" or (s.status == "missing" and s.required))
            out.append({"component": name, "file": s.name, "status": "not installed" if absent else s.status, "required": s.required,
                        "expected_sha256": s.expected_sha256, "actual_sha256": s.actual_sha256, "note": s.note, "path": str(s.path)})
    if as_json:  # "status"/"exit_code" as every command's --json document has them (README)
        click.echo(json.dumps({"status": "error" if bad else "ok", "exit_code": EXIT_WEIGHTS if bad else EXIT_OK, "ok": not bad, "files": out}))
    else:
        quiet = {r["component"] for r in out if r["status"] == "not installed"}
        for comp in sorted(quiet):
            n = sum(r["component"] == comp for r in out)
            click.echo(f"not installed {comp} ({n} files; `forgetalk weights fetch {comp}` on a connected machine, or place them by hand)")
        for r in (r for r in out if r["component"] not in quiet):
            opt = "" if r["required"] else " (optional)"
            sha = f" sha256 {r['actual_sha256']}" if r["actual_sha256"] else ""
            note = f"  [{r['note']}]" if r["note"] else ""
            click.echo(f"{r['status']:<9} {r['component']}/{r['file']}{opt}{sha}{note}")
    sys.exit(EXIT_WEIGHTS if bad else EXIT_OK)


@command.command(name="fetch")
@click.argument("component")
@click.option("--file", "only", multiple=True, help="Fetch only this manifest file (repeatable).")
@click.option("--force", is_flag=True, help="Download again even if the file is present.")
@json_option()
def fetch_cmd(component: str, only: tuple[str, ...], force: bool, as_json: bool) -> None:
    """Download a component's files (connected machine only), verifying pinned hashes and recording the rest."""
    _components((component,))
    m = load_manifest(component)
    unknown = [n for n in only if n not in {f.name for f in m.files}]
    if unknown:  # a mistyped name fetched nothing and said so by printing nothing (exit 0)
        raise click.BadParameter(f"{', '.join(unknown)} not in {component}'s manifest; its files: {', '.join(f.name for f in m.files)}", param_hint="--file")
    wanted = [f for f in m.files if not only or f.name in only]
    results, failed = [], False
    for wf in wanted:
        dest = m.folder / wf.name
        if dest.is_file() and not force:
            results.append({"file": wf.name, "status": "present"})
            continue
        if not wf.url:
            failed |= wf.required
            results.append({"file": wf.name, "status": "manual", "error": f"no download URL: place it by hand in {m.folder}/"})
            continue
        if not as_json:
            click.echo(f"fetching {wf.name} ...", err=True)
        try:
            path, sha = fetch_file(m, wf)
        except ForgetalkError as exc:
            failed |= wf.required
            results.append({"file": wf.name, "status": "failed", "error": str(exc)})
            continue
        results.append({"file": wf.name, "status": "fetched", "sha256": sha, "pinned": bool(wf.sha256), "path": str(Path(path))})
    if as_json:
        click.echo(json.dumps({"status": "error" if failed else "ok", "exit_code": EXIT_WEIGHTS if failed else EXIT_OK, "component": component, "files": results}))
    else:
        for r in results:
            extra = r.get("error") or (f"sha256 {r['sha256']} ({'verified' if r['pinned'] else 'unpinned: recorded'})" if r["status"] == "fetched" else "")
            click.echo(f"{r['status']:<8} {r['file']} {extra}")
    sys.exit(EXIT_WEIGHTS if failed else EXIT_OK)
