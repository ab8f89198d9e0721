"""Benchmark ForgeryTalker quantization modes: peak memory, seconds per face, nf4-vs-reference agreement.

Usage (GPU, real weights in weights/forgerytalker/):
    python benchmarks/forgerytalker.py --device cuda --modes nf4,bf16 --faces 20 --images DIR --out bench.json
Plumbing check on CPU with the tiny random model (numbers mean nothing about the real model):
    python benchmarks/forgerytalker.py --tiny --device cpu --modes nf4,bf16 --faces 3

Memory: ``torch.cuda.max_memory_allocated`` on CUDA (weights + activations, after a
reset per mode); on CPU the process peak RSS, which only grows across modes. Agreement
is measured against the first mode that is not nf4/int8 (the reference, normally bf16):
mean mask IoU at 0.5, region-word selection agreement, and ROUGE-L / exact-match of text.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _faces(images: Path | None, n: int) -> list[np.ndarray]:
    from PIL import Image

    if images:
        files = sorted(p for p in images.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))[:n]
        return [np.asarray(Image.open(p).convert("RGB").resize((512, 512), Image.BICUBIC)) for p in files]
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (512, 512, 3), dtype=np.uint8) for _ in range(n)]


def _load(mode: str, device: str, tiny_dir: Path | None, model_dir: Path | None):  # noqa: ANN202
    if tiny_dir or model_dir:
        from forgetalk.engines.forgerytalker.runtime import load_pretrained

        return load_pretrained(tiny_dir or model_dir, device=device, quant=mode)
    from forgetalk.engines.forgerytalker.engine import resolve_official

    return resolve_official(device, mode)[0]


def run(modes: list[str], device: str, faces: list[np.ndarray], tiny_dir: Path | None, model_dir: Path | None) -> dict:
    import torch

    from forgetalk.metrics_text import rouge_l

    results: dict[str, dict] = {}
    preds: dict[str, list] = {}
    for mode in modes:
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        t = time.perf_counter()
        ft = _load(mode, device, tiny_dir, model_dir)
        load_s = time.perf_counter() - t
        ft.predict(faces[0])  # warm-up (kernels, caches); not timed
        times, outs = [], []
        for rgb in faces:
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            t = time.perf_counter()
            outs.append(ft.predict(rgb))
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t)
        mem = torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        results[mode] = {"load_s": round(load_s, 3), "s_per_face_mean": round(float(np.mean(times)), 4), "s_per_face_p90": round(float(np.quantile(times, 0.9)), 4),
                         "peak_memory_gib": round(mem, 3), "memory_kind": "cuda max_memory_allocated" if device.startswith("cuda") else "process peak RSS",
                         "quantized_linears": ft.quant_info.get("quantized_linears")}
        preds[mode] = outs
        del ft
    ref = next((m for m in modes if m not in ("nf4", "int8")), None)
    if ref:
        for mode in modes:
            if mode == ref:
                continue
            ious, words, exact = [], [], []
            for a, b in zip(preds[mode], preds[ref], strict=True):
                ma, mb = a.mask > 0.5, b.mask > 0.5
                union = np.logical_or(ma, mb).sum()
                ious.append(1.0 if union == 0 else np.logical_and(ma, mb).sum() / union)
                words.append(float(a.selected == b.selected))
                exact.append(float(a.text == b.text))
            hyp = {str(i): p.text for i, p in enumerate(preds[mode])}
            refs = {str(i): [p.text] for i, p in enumerate(preds[ref])}
            results[mode]["agreement_vs_" + ref] = {"mask_iou": round(float(np.mean(ious)), 4), "region_words_equal": round(float(np.mean(words)), 4),
                                                    "text_rouge_l": round(rouge_l(refs, hyp), 4), "text_exact": round(float(np.mean(exact)), 4)}
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--modes", default="nf4,bf16")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--faces", type=int, default=10)
    ap.add_argument("--images", type=Path, help="Folder of aligned face crops (default: random noise crops).")
    ap.add_argument("--tiny", action="store_true", help="Use the tiny random model (plumbing check only).")
    ap.add_argument("--model-dir", type=Path, help="Converted ForgeryTalker folder instead of weights/forgerytalker.")
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    import torch

    if a.device.startswith("cuda") and not torch.cuda.is_available():
        sys.exit("no CUDA device visible; use --device cpu (with --tiny for a quick plumbing check)")
    faces = _faces(a.images, a.faces)
    with tempfile.TemporaryDirectory() as tmp:
        tiny_dir = None
        if a.tiny:
            from forgetalk.engines.forgerytalker.tiny import tiny_forgerytalker

            tiny_dir = tiny_forgerytalker(seed=0).save_pretrained(Path(tmp) / "tiny")
        res = run(a.modes.split(","), a.device, faces, tiny_dir, a.model_dir)
    env = {"device": torch.cuda.get_device_name(0) if a.device.startswith("cuda") else "cpu", "torch": torch.__version__,
           "model": "tiny random (plumbing only)" if a.tiny else str(a.model_dir or "weights/forgerytalker"), "faces": len(faces)}
    report = {"environment": env, "results": res}
    print(json.dumps(report, indent=2))
    if a.out:
        a.out.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
