"""The pipeline with a (tiny, random) ForgeryTalker: mask -> ranking, words -> regions, text -> regions."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
from pathlib import Path

import pytest

pytest.importorskip("transformers")

from forgetalk.engines import get_engine  # noqa: E402
from forgetalk.pipeline import AnalyzeOptions, Analyzer  # noqa: E402
from forgetalk.render import write_outputs  # noqa: E402

TEXT = "The left eye looks blurred and its eyelid edge is doubled. The lips have a pasted, flat colour. Lighting is uneven overall."


class _ScriptedText:
    """Wraps the tiny engine and replaces its (random) text with a known report."""

    name = "forgerytalker"

    def __init__(self, inner) -> None:  # noqa: ANN001
        self.inner = inner

    def analyze_face(self, face):  # noqa: ANN001, ANN201
        return dataclasses.replace(self.inner.analyze_face(face), text=TEXT)

    def info(self) -> dict[str, object]:
        return self.inner.info()


def test_pipeline_links_model_text_and_words(grace_path: Path, tmp_path: Path) -> None:
    from forgetalk.engines.forgerytalker.tiny import tiny_forgerytalker

    analyzer = Analyzer(AnalyzeOptions(engine="evidence"))
    analyzer.engine = _ScriptedText(get_engine("forgerytalker", device="cpu", model=tiny_forgerytalker(seed=0)))
    analysis = analyzer.analyze_path(grace_path)
    face = analysis.report.faces[0]
    assert face.model_text == TEXT
    by_name = {r.name: r for r in face.regions}
    assert any("left eye looks blurred" in s for s in by_name["left_eye"].explanations)
    assert not any("left eye" in s for s in by_name["right_eye"].explanations)
    assert any("lips have a pasted" in s for s in by_name["mouth"].explanations)
    # region-word probabilities from the prompter are attached to the regions they map to
    assert by_name["mouth"].region_word_prob is not None and 0.0 <= by_name["mouth"].region_word_prob <= 1.0
    sal = [r.saliency for r in face.regions]
    assert sal == sorted(sal, reverse=True)

    out = write_outputs(analysis, pdf=tmp_path / "r.pdf", json_path=tmp_path / "r.json")
    doc = json.loads(out["json"].read_text())
    assert doc["faces"][0]["model_text"] == TEXT
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", str(out["report"]), "-"], capture_output=True, text=True, check=True).stdout
        assert "pasted, flat colour" in " ".join(text.split())
