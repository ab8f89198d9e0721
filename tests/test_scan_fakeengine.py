"""A tiny deterministic engine for scan tests (no tests here; imported by workers via --preload).

Score and heatmap come from the crop's pixels, so different variants of one photo get
different, reproducible scores, and analysis costs milliseconds. ``FORGETALK_FAKE_DELAY``
(seconds) slows each face down so a test can kill a scan mid-way.
"""

from __future__ import annotations

import json
import os
import time

import numpy as np

from forgetalk.engines.base import EngineOutput, register_engine

NAME = "scantest"


class _FakeEngine:
    name = NAME

    def __init__(self, **_: object) -> None:
        self.delay = float(os.environ.get("FORGETALK_FAKE_DELAY", "0") or 0)

    def analyze_face(self, face: object) -> EngineOutput:
        crop = np.asarray(face.crop, dtype=np.float32)  # type: ignore[attr-defined]
        if self.delay:
            time.sleep(self.delay)
        gray = crop.mean(axis=2)
        heat = np.clip(np.abs(gray - gray.mean()) / 128.0, 0, 1).astype(np.float32)
        score = float(np.clip((crop[..., 0].mean() - crop[..., 2].mean()) / 64.0 + 0.5, 0.0, 1.0))
        return EngineOutput(heatmap=heat, score=score, meta={"threshold": 0.5})

    def info(self) -> dict[str, object]:
        return {"name": NAME, "version": "test", "weights": {}}


register_engine(NAME, "test-only fake engine")(_FakeEngine)


# ----------------------------------------------------------------------------- test data


def grace_hopper_path() -> str:
    """Public-domain portrait shipped with matplotlib (US Navy photo)."""
    import matplotlib

    return os.path.join(matplotlib.get_data_path(), "sample_data", "grace_hopper.jpg")


def make_faces(folder: os.PathLike[str] | str, n: int, prefix: str = "face", size: int | None = None) -> list[str]:
    """Write ``n`` distinct (by bytes) face photos: crops, flips and JPEG re-encodes of one portrait."""
    from pathlib import Path

    from PIL import Image, ImageOps

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    base = Image.open(grace_hopper_path()).convert("RGB")
    if size:
        base = base.resize((size, int(size * base.height / base.width)))
    paths = []
    for i in range(n):
        dx, dy = (i % 7) * 3, (i // 7 % 5) * 3
        im = base.crop((dx, dy, base.width - (i % 3) * 3, base.height - (i % 4) * 3))
        if i % 2:
            im = ImageOps.mirror(im)
        p = out / f"{prefix}_{i:03d}.jpg"
        im.save(p, quality=70 + i % 25)
        paths.append(str(p))
    return paths


def scan_cli(args: list[str], env: dict[str, str] | None = None) -> tuple[int, dict, str]:
    """Run `forgetalk scan ... --json` in-process with the fake engine; (exit code, summary, stderr)."""
    from click.testing import CliRunner

    from forgetalk.cli import main

    runner = CliRunner()
    res = runner.invoke(main, ["scan", *args, "--engine", NAME, "--preload", __name__, "--json", "--no-progress"], env=env, catch_exceptions=False)
    out = res.stdout.strip().splitlines()
    return res.exit_code, (json.loads(out[-1]) if out else {}), res.stderr

