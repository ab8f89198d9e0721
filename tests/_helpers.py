"""Small builders shared by tests (importable because pytest puts tests/ on sys.path)."""

from __future__ import annotations

import importlib.util
import struct
import sys
import zlib
from pathlib import Path
from types import ModuleType

#: The console script itself (forgetalk.entry.run): what an analyst's shell runs, with its own
#: Ctrl-C and warning handling (a subprocess; ``run_cli`` runs the click group in-process).
ENTRY = [sys.executable, "-c", "import sys; sys.argv[0] = 'forgetalk'; from forgetalk.entry import run; run()"]

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def load_benchmark(name: str) -> ModuleType:
    """The script ``benchmarks/<name>.py`` imported as a module (the benchmarks are scripts, not a
    package). It is registered in ``sys.modules`` before it runs, because dataclasses look their
    module up there; the name is prefixed so it cannot shadow an installed module."""
    spec = importlib.util.spec_from_file_location(f"forgetalk_bench_{name}", BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose IHDR declares ``width`` x ``height`` but carries almost no data (a bomb header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def run_cli(*args: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of the CLI run in-process; a crash (not a SystemExit) is re-raised."""
    from click.testing import CliRunner

    from forgetalk.cli import main

    res = CliRunner().invoke(main, list(args))
    if res.exception and not isinstance(res.exception, SystemExit):
        raise res.exception
    return res.exit_code, res.stdout, res.stderr


# ----------------------------------------------------------------------------- scan tests: fake engine and face photos
#
# A tiny deterministic engine: score and heatmap come from the crop's pixels, so different
# variants of one photo get different, reproducible scores, and analysis costs milliseconds.
# Scan workers load it by importing this module (``--preload _helpers``), which registers it.
# ``FORGETALK_FAKE_DELAY`` (seconds) slows each face down so a test can kill a scan mid-way.

#: Name of the fake engine, and the module scan workers import to get it (``--preload``).
FAKE_ENGINE = "scantest"
FAKE_ENGINE_MODULE = __name__


class _FakeEngine:
    name = FAKE_ENGINE

    def __init__(self, **_: object) -> None:
        import os

        self.delay = float(os.environ.get("FORGETALK_FAKE_DELAY", "0") or 0)

    def analyze_face(self, face: object):  # type: ignore[no-untyped-def]
        import time

        import numpy as np

        from forgetalk.engines.base import EngineOutput

        crop = np.asarray(face.crop, dtype=np.float32)  # type: ignore[attr-defined]
        if self.delay:
            time.sleep(self.delay)
        gray = crop.mean(axis=2)
        heat = np.clip(np.abs(gray - gray.mean()) / 128.0, 0, 1).astype(np.float32)
        score = float(np.clip((crop[..., 0].mean() - crop[..., 2].mean()) / 64.0 + 0.5, 0.0, 1.0))
        return EngineOutput(heatmap=heat, score=score, meta={"threshold": 0.5})

    def info(self) -> dict[str, object]:
        return {"name": FAKE_ENGINE, "version": "test", "weights": {}}


def _register_fake_engine() -> None:
    from forgetalk.engines.base import register_engine

    register_engine(FAKE_ENGINE, "test-only fake engine")(_FakeEngine)


_register_fake_engine()

def grace_hopper_path() -> str:
    """Public-domain portrait (US Navy photo) shipped in the repository's examples/."""
    import os

    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples", "grace_hopper.jpg")


def make_faces(folder: object, n: int, prefix: str = "face", size: int | None = None) -> list[str]:
    """Write ``n`` distinct (by bytes) face photos into ``folder`` (a str or Path): crops, flips and
    JPEG re-encodes of one portrait."""
    from pathlib import Path

    from PIL import Image, ImageOps

    out = Path(folder)  # type: ignore[arg-type]
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
    import json

    from click.testing import CliRunner

    from forgetalk.cli import main

    res = CliRunner().invoke(main, ["scan", *args, "--engine", FAKE_ENGINE, "--preload", FAKE_ENGINE_MODULE, "--json", "--no-progress"], env=env,
                             catch_exceptions=False)
    out = res.stdout.strip().splitlines()
    return res.exit_code, (json.loads(out[-1]) if out else {}), res.stderr
