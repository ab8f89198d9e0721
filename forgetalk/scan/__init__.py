"""Batch scanning: resumable, content-keyed triage of folders of photos (see docs/scan.md)."""

from .runner import ScanConfig, ScanSummary, ScanUsageError, run_scan

__all__ = ["ScanConfig", "ScanSummary", "ScanUsageError", "run_scan"]
