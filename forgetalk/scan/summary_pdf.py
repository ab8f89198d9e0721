"""Compatibility name for the scan summary PDF; the drawing lives in :mod:`forgetalk.render.scan_summary`."""

from __future__ import annotations

from ..render.scan_summary import build_scan_summary_pdf as build_summary_pdf
from ..render.scan_summary import write_scan_summary_pdf as write_summary_pdf

__all__ = ["build_summary_pdf", "write_summary_pdf"]
