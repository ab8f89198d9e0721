"""How the double-compression test behaves on single and double JPEG saves.

    python benchmarks/double_jpeg.py

Sources: the three public-domain photos in examples/ at two scales (Lanczos-resampled, which
removes any earlier JPEG grid) and one synthetic smooth-plus-noise texture. Each is saved once
at qualities 60-95 and twice at seven (first, second) quality pairs; prints one line per file
and the counts of "found" per group. Used for the numbers in docs/provenance.md.
"""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from forgetalk.provenance.double_jpeg import detect  # noqa: E402
from forgetalk.provenance.jpeg import read_jpeg  # noqa: E402

SINGLE = (60, 75, 85, 90, 95)
DOUBLE = ((60, 90), (70, 95), (75, 90), (80, 95), (85, 92), (90, 75), (95, 80))


def sources() -> list[Image.Image]:
    out = []
    for name in ("astronaut.png", "grace_hopper.jpg", "grace_hopper_nose_swap.jpg"):
        im = Image.open(REPO / "examples" / name).convert("RGB")
        for s in (0.71, 0.9):
            out.append(im.resize((round(im.width * s), round(im.height * s)), Image.LANCZOS))
    rng = np.random.default_rng(1)
    x = np.linspace(0, 1, 600)
    base = (np.outer(np.sin(x * 7), np.cos(x * 5)) * 60 + 128)[..., None] + rng.normal(0, 6, (600, 600, 3))
    out.append(Image.fromarray(np.clip(base, 0, 255).astype(np.uint8)))
    return out


def enc(im: Image.Image, q: int) -> bytes:
    b = io.BytesIO()
    im.save(b, "JPEG", quality=q)
    return b.getvalue()


def main() -> None:
    counts: dict[str, list[int]] = {}
    for i, im in enumerate(sources()):
        cases = [(f"single q{q}", enc(im, q)) for q in SINGLE]
        cases += [(f"double q{a}>q{b}", enc(Image.open(io.BytesIO(enc(im, a))), b)) for a, b in DOUBLE]
        for label, data in cases:
            info, _, _ = read_jpeg(data)
            t = time.perf_counter()
            r = detect(data, info.quant_tables[0].values)
            ms = (time.perf_counter() - t) * 1000
            group = "single" if label.startswith("single") else ("double, 2nd quality higher" if int(label.split(">q")[1]) > int(label.split("q")[1].split(">")[0]) else "double, 2nd quality lower")
            c = counts.setdefault(group, [0, 0])
            c[0] += int(r.found)
            c[1] += 1
            print(f"source {i} {label:<16} found={r.found!s:<5} confidence={r.confidence:<8} score={r.score:.2f} {ms:.0f} ms")
    for group, (found, n) in counts.items():
        print(f"{group}: found in {found} of {n}")


if __name__ == "__main__":
    main()
