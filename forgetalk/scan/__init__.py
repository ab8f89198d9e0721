"""Batch scanning: resumable, content-keyed triage of folders of photos (see docs/scan.md)."""

from .records import IndexRow, ScanRecord, Status
from .runner import ScanConfig, ScanSummary, ScanUsageError, run_scan

__all__ = ["IndexRow", "ScanConfig", "ScanRecord", "ScanSummary", "ScanUsageError", "Status", "run_scan"]
