"""The Ray backend runs the same per-image function (on a private one-CPU local Ray instance)."""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import pytest
from _helpers import FAKE_ENGINE, FAKE_ENGINE_MODULE, make_faces

ray = pytest.importorskip("ray", reason="ray is optional: pip install ray (see requirements-dev)")


@pytest.mark.slow
def test_ray_backend_matches_process_backend(tmp_path: Path) -> None:
    from forgetalk.pipeline import AnalyzeOptions
    from forgetalk.scan import ScanConfig, run_scan

    started = time.time()

    src = tmp_path / "in"
    make_faces(src, 3, size=256)
    (src / "broken.jpg").write_bytes(b"nope")
    opts = AnalyzeOptions(engine=FAKE_ENGINE)
    common = dict(input_dir=src, options=opts, workers=1, preload=(FAKE_ENGINE_MODULE,), summary_pdf=False)
    tmp = Path(tempfile.gettempdir())
    sessions = set((tmp / "ray").glob("session_*"))
    by_ray = run_scan(ScanConfig(out_dir=tmp_path / "ray", backend="ray", **common))
    assert not ray.is_initialized(), "the scan shuts down the Ray instance it started"
    # its sessions and logs were in a private folder, removed at the end: nothing added to the shared /tmp/ray
    assert set((tmp / "ray").glob("session_*")) == sessions
    assert not [d for d in tmp.glob("forgetalk-ray-*") if d.stat().st_uid == os.getuid() and d.stat().st_mtime > started]
    by_pool = run_scan(ScanConfig(out_dir=tmp_path / "pool", backend="process", **common))
    assert by_ray.exit_code == by_pool.exit_code == 1
    rows = [json.loads((tmp_path / d / "index.json").read_text())["items"] for d in ("ray", "pool")]
    assert [(r["file"], r["status"], r["score"], r["sha256"]) for r in rows[0]] == [(r["file"], r["status"], r["score"], r["sha256"]) for r in rows[1]]
    assert json.loads((tmp_path / "ray" / "index.json").read_text())["parameters"]["backend"] == "ray"
