"""A platypus ``Paragraph`` that breaks its lines once per width.

Why: a table sizes every cell's paragraph, then sizes it again when the table is split across
pages and once more to draw it, always at the same column width. Line breaking (``breakLines``,
pure Python over every word's font metrics) was the largest single cost of a case report: 1,399
breaks for 438 paragraphs on a 9-page report of a 1024 px photo. The result of ``wrap`` depends
only on the width (reportlab 5.x: the height is the number of lines times the leading), so a
repeated call at the width of the last one returns what that call computed. ``split`` deletes
``blPara`` when it moves the whole paragraph on, and its pieces are new objects: both break
their lines again.
"""

from __future__ import annotations

from reportlab.platypus import Paragraph


class Para(Paragraph):
    """``Paragraph`` whose ``wrap`` reuses its line breaks while the available width is unchanged."""

    _wrapped_width: float | None = None

    def wrap(self, availWidth: float, availHeight: float) -> tuple[float, float]:  # noqa: N803 - reportlab's signature
        if availWidth == self._wrapped_width and "blPara" in self.__dict__:
            return self.width, self.height
        size = super().wrap(availWidth, availHeight)
        self._wrapped_width = availWidth if "blPara" in self.__dict__ else None
        return size
