"""Rendering: overlay PNG, PDF case report and JSON sidecar, written atomically.

Renderers are pure (analysis in, pixels/bytes/dict out); this module is the only place
that writes them, always through :mod:`forgetalk.io`'s atomic writers, so an interrupted
run never leaves a truncated report and every failure is a one-line
:class:`~forgetalk.errors.OutputError`.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..guard import check_not_foreign, check_outputs
from ..io import atomic_write_many, encode_png, json_file_bytes
from ..results import Analysis
from .case import CaseInfo
from .json_out import report_json
from .overlay import render_face_panel, render_overlay
from .pdf import build_pdf, build_triage_pdf

__all__ = ["CaseInfo", "build_pdf", "build_triage_pdf", "render_face_panel", "render_overlay", "report_json", "write_outputs"]


def overlay_text(analysis: Analysis) -> dict[str, str]:
    """What the overlay PNG says about itself. Why: the overlay is the picture most likely to be
    pasted into a case file on its own, and without the evidence's SHA-256 it could not be tied
    back to the photo it was made from (the JSON and every PDF page carry it; a hostile test pass
    found the overlay did not)."""
    inp = analysis.report.input
    name = inp.name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")  # a name's undecodable bytes, shown escaped
    return {"Description": f"forgetalk heat-map overlay of {name}", "Input SHA-256": inp.sha256, "Input file": name}


def write_outputs(analysis: Analysis, *, overlay: Path | None = None, pdf: Path | None = None, json_path: Path | None = None,
                  summary: Path | None = None, case: CaseInfo | None = None, analyst_paths: bool = False) -> dict[str, Path]:
    """Write the requested outputs; returns {"overlay"|"report"|"summary"|"json": path written}.

    Every output is built in memory first, then written as one set (``io.atomic_write_many``):
    building the PDF takes about half a second, and an interrupt, a build error or a failed write
    used to leave the JSON and the overlay of a run without its report. The overlay raster and the JSON record
    are each built once and shared with the PDFs (the record took about 45 ms per build on a
    1024 px photo).

    ``analyst_paths``: the paths are the analyst's (``analyze``), not a scan's own RESULTS, so
    files ``analyze`` did not write are refused again just before writing (a file that appeared
    there during the analysis was replaced when the check ran only before it).
    """
    # The last line of defence (the CLI checks first): never write over the analysed photo or twice to one file.
    check_outputs({"input": analysis.report.input.path}, {"--overlay": overlay, "--report": pdf, "--summary": summary, "--json-out": json_path})
    case = case or CaseInfo()
    record = report_json(analysis, case=case) if (json_path is not None or pdf is not None or summary is not None) else None
    ov = render_overlay(analysis) if (overlay is not None or pdf is not None or summary is not None) else None
    built: dict[str, tuple[Path, bytes]] = {}
    if json_path is not None:
        built["json"] = (json_path, json_file_bytes(record))
    with ThreadPoolExecutor(max_workers=1) as pool:
        # The overlay's PNG compression (zlib, about 75 ms for a 1024 px photo) releases the GIL:
        # on a second core it overlaps the PDF build (measured 0.38 -> 0.31 s for both).
        png = pool.submit(encode_png, ov, f"forgetalk {analysis.report.tool_version}", overlay_text(analysis)) if overlay is not None and ov is not None else None
        report = build_pdf(analysis, overlay=ov, case=case, record=record) if pdf is not None else None
        triage = build_triage_pdf(analysis, overlay=ov, case=case, record=record) if summary is not None else None
        png_bytes = png.result() if png is not None else None
    for key, path, data in (("overlay", overlay, png_bytes), ("report", pdf, report), ("summary", summary, triage)):
        if path is not None and data is not None:
            built[key] = (path, data)
    if analyst_paths:  # asked again now, not only before the analysis: a file may have appeared there meanwhile
        check_not_foreign({"--overlay": overlay, "--report": pdf, "--summary": summary, "--json-out": json_path})
    written = dict(zip(built, atomic_write_many(list(built.values())), strict=True))
    return {k: written[k] for k in ("overlay", "report", "summary", "json") if k in written}
