"""Who examines what: the case line the analyst supplies (``--case-id``, ``--examiner``).

Kept apart from :class:`forgetalk.results.AnalysisReport` on purpose: the report is what the
tool measured, the case information is what the analyst asserts. Both are printed on the
report and written to the JSON sidecar (``case``), never mixed.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CaseInfo:
    case_id: str | None = None
    examiner: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return {"case_id": self.case_id, "examiner": self.examiner}
