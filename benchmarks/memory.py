"""Peak memory (RSS) of one `forgetalk analyze` process on very large photos.

    python benchmarks/memory.py [--engine fused] [--cases face150png,noise150png,face150jpg,face16png]

Each case is generated in a temporary folder, then analysed by a fresh
``python -m forgetalk.cli analyze IMG --report R.pdf`` process; its peak resident set
size is the kernel's ``ru_maxrss`` of that child, read by a small fresh interpreter that
starts it (see ``_MEASURE`` for why not straight from this process). The
memory budget documented in the README (at most 1.5 GB for any photo under the 160 MP
pixel limit) is what this measures:

* ``face150png``  the public-domain portrait upscaled to 150 MP, PNG (compresses well)
* ``noise150png`` 150 MP of random noise, PNG (worst case: a ~450 MB file held while decoding)
* ``face150jpg``  the portrait at 150 MP as JPEG (decoded at reduced size by libjpeg)
* ``face16png``   the portrait at 16 MP, just inside the analysis budget (analysed at full size)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

Image.MAX_IMAGE_PIXELS = None  # the benchmark opens its own 150 MP files to print their size

REPO = Path(__file__).resolve().parent.parent
PORTRAIT = REPO / "examples" / "grace_hopper.jpg"
LIMIT_MIB = 1536


def make_portrait(path: Path, megapixels: float) -> Path:
    """The portrait upscaled (bilinear: smooth, so the PNG stays small) to ``megapixels``."""
    img = Image.open(PORTRAIT).convert("RGB")
    h = int((megapixels * 1e6 * img.height / img.width) ** 0.5)
    w = int(h * img.width / img.height)
    big = img.resize((w, h), Image.BILINEAR)
    if path.suffix == ".png":
        big.save(path, compress_level=1)
    else:
        big.save(path, quality=90)
    return path


def make_noise(path: Path, megapixels: float) -> Path:
    side = int((megapixels * 1e6) ** 0.5)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(path, compress_level=0)
    return path


#: Runs ARGV, then prints the peak RSS (KiB) of its children. The measured process is
#: started from this small, fresh interpreter on purpose: Linux carries the RSS high-water
#: mark of the address space a child was forked (or vforked) from into the child's
#: ``ru_maxrss``, so spawning straight from a big parent (pytest, or this script after it
#: generated a 150 MP image) would report the parent's memory, not the child's.
_MEASURE = (
    "import resource, subprocess, sys\n"
    "rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode\n"
    "print(rc, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
)


def peak_rss_mib(cmd: list[str]) -> tuple[int, float, float]:
    """(exit code, peak RSS MiB, wall s) of one child process, measured by the kernel."""
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-c", _MEASURE, *cmd], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    rc_text, kib = res.stdout.split()[-2:]
    rc = int(rc_text)
    if rc not in (0, 4):
        print(res.stderr, file=sys.stderr)
    return rc, int(kib) / 1024.0, wall  # ru_maxrss is KiB on Linux


def analyze_cmd(image: Path, out: Path, engine: str) -> list[str]:
    return [sys.executable, "-m", "forgetalk.cli", "analyze", str(image), "--report", str(out), "--engine", engine, "--no-progress"]


CASES = {
    "face150png": lambda d: make_portrait(d / "face150.png", 150),
    "noise150png": lambda d: make_noise(d / "noise150.png", 150),
    "face150jpg": lambda d: make_portrait(d / "face150.jpg", 150),
    "face16png": lambda d: make_portrait(d / "face16.png", 15.9),
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engine", default="fused")
    ap.add_argument("--cases", default=",".join(CASES))
    args = ap.parse_args()
    print(f"engine {args.engine}, {os.cpu_count()} CPUs; peak RSS of one `forgetalk analyze --report` process (limit {LIMIT_MIB} MiB)")
    print(f"{'case':<12} {'pixels':>14} {'file MB':>8} {'exit':>4} {'peak RSS MiB':>13} {'wall s':>7}")
    worst = 0.0
    with tempfile.TemporaryDirectory(prefix="forgetalk-mem-") as tmp:
        d = Path(tmp)
        for name in args.cases.split(","):
            image = CASES[name](d)
            with Image.open(image) as im:
                w, h = im.size
            code, peak, wall = peak_rss_mib(analyze_cmd(image, d / f"{name}.pdf", args.engine))
            worst = max(worst, peak)
            print(f"{name:<12} {f'{w}x{h}':>14} {image.stat().st_size / 1e6:>8.1f} {code:>4} {peak:>13.1f} {wall:>7.1f}")
            image.unlink()
    print(f"worst peak {worst:.1f} MiB: {'within' if worst <= LIMIT_MIB else 'OVER'} the {LIMIT_MIB} MiB budget")
    return 0 if worst <= LIMIT_MIB else 1


if __name__ == "__main__":
    sys.exit(main())
