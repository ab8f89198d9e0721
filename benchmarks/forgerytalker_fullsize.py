"""Full-size ForgeryTalker without the release files: parameter memory, peak memory, forward + generate time.

Builds the real architecture (EVA ViT-g/14 39 blocks, Q-Former 12 layers, Flan-T5-XL,
Face-ViT ViT-H/14, mask decoder at 224^2) with random weights under the precision policy
of each ``--quant`` mode (see forgetalk/engines/forgerytalker/precision.py): nothing is
downloaded, the T5 config is the built-in Flan-T5-XL config and the tokenizers are
trained on the spot from a small built-in corpus (token counts are printed; the real
tokenizers give similar prompt lengths). Memory depends on shapes and dtypes, not values.

    python benchmarks/forgerytalker_fullsize.py --device cpu --modes nf4 --max-new-tokens 20
    python benchmarks/forgerytalker_fullsize.py --device cuda --modes nf4,bf16 --out table.txt
    python benchmarks/forgerytalker_fullsize.py --tiny --device cpu --modes nf4,bf16   # plumbing check

Each mode runs in a fresh child process, so peak RSS / CUDA peaks are per mode. Generation
is forced to exactly ``--max-new-tokens`` new tokens (random weights would otherwise stop
at an arbitrary point), with the released beam settings (5 beams). Imports only torch,
transformers/tokenizers, numpy and (for nf4/int8) bitsandbytes: no Pillow, MediaPipe, etc.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

GIB = 2**30


def _peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux: KiB


def measure(mode: str, device: str, tiny: bool, max_new_tokens: int, num_beams: int | None, seed: int) -> dict:
    """One mode in this process: build, one forward + generate, memory figures."""
    import torch

    from forgetalk.engines.forgerytalker.config import ForgeryTalkerConfig
    from forgetalk.engines.forgerytalker.fullsize import build_random
    from forgetalk.engines.forgerytalker.quant import precision_record
    from forgetalk.engines.forgerytalker.runtime import ForgeryTalker
    from forgetalk.engines.forgerytalker.tiny import tiny_tokenizers
    from forgetalk.engines.forgerytalker.vocab import REGION_WORDS, build_prompt, mask_label

    cuda = device.startswith("cuda")
    t5_tok, qf_tok = tiny_tokenizers(256, 128) if tiny else tiny_tokenizers(32128, 30523)
    cfg = ForgeryTalkerConfig.tiny(len(t5_tok), len(qf_tok)) if tiny else ForgeryTalkerConfig.official()
    if num_beams:
        cfg.generation.num_beams = num_beams
    rss0 = _peak_rss_gib()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter()
    model, rep = build_random(cfg, mode, device, seed=seed)
    build_s = time.perf_counter() - t
    peak_build = _peak_rss_gib()
    cuda_build = torch.cuda.max_memory_allocated() / GIB if cuda else None
    info = {"quant": mode, "precision": precision_record(rep["components"])}
    ft = ForgeryTalker(model, t5_tok, qf_tok, device=device, quant_info=info)
    s = cfg.vision.image_size
    px = torch.randn(1, 3, s, s, generator=torch.Generator().manual_seed(seed))
    all_words = list(REGION_WORDS)[:3]
    enc = ft.encode_texts([build_prompt(all_words)], [mask_label(all_words)])
    gen = {"max_new_tokens": max_new_tokens, "min_new_tokens": max_new_tokens}
    if cuda:  # kernels / cuBLAS handles: one untimed short pass
        ft.predict_pixels(px, generate_text=True, max_new_tokens=2, min_new_tokens=2)
        torch.cuda.synchronize()
    t = time.perf_counter()
    pred = ft.predict_pixels(px, generate_text=True, **gen)
    if cuda:
        torch.cuda.synchronize()
    total_s = time.perf_counter() - t
    out = {
        "mode": mode, "device": device, "model": "tiny (plumbing only)" if tiny else "official shapes, random weights",
        "components": [{k: r[k] for k in ("component", "label", "summary", "params", "bytes", "dtypes_seen", "quantized_linears", "seconds", "rss_after_gib")
                        if k in r} | ({"cuda_allocated_after_gib": r["cuda_allocated_after_gib"]} if "cuda_allocated_after_gib" in r else {})
                       for r in rep["components"]],
        "param_bytes_total": sum(int(r["bytes"]) for r in rep["components"]),
        "build_s": round(build_s, 1), "peak_rss_gib_before_build": round(rss0, 3), "peak_rss_gib_after_build": round(peak_build, 3),
        "peak_rss_gib": round(_peak_rss_gib(), 3),
        "cuda_max_allocated_gib_build": round(cuda_build, 3) if cuda_build is not None else None,
        "cuda_max_allocated_gib": round(torch.cuda.max_memory_allocated() / GIB, 3) if cuda else None,
        "cuda_max_reserved_gib": round(torch.cuda.max_memory_reserved() / GIB, 3) if cuda else None,
        "timings_s": {k: round(v, 3) for k, v in pred.timings_s.items()}, "forward_generate_s": round(total_s, 3),
        "new_tokens": max_new_tokens, "num_beams": cfg.generation.num_beams, "selected_words": len(pred.selected),
        "t5_prompt_tokens": int(enc["input_ids"].shape[1]), "qformer_prompt_tokens": int(enc["qformer_input_ids"].shape[1]),
    }
    return out


def environment(device: str) -> dict:
    import torch
    import transformers

    env = {"python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__,
           "cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads()}
    try:
        import bitsandbytes as bnb

        env["bitsandbytes"] = bnb.__version__
    except ImportError as exc:
        env["bitsandbytes"] = f"not importable ({exc})"
    if device.startswith("cuda") and torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        env["gpu"] = f"{p.name}, {p.total_memory / GIB:.1f} GiB"
        env["cuda"] = torch.version.cuda
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            env["host_mem_gib"] = round(int(f.readline().split()[1]) / 2**20, 1)
    except OSError:
        pass
    return env


def table(results: list[dict], env: dict) -> str:
    """Plain-text table (also the GPU script's output file)."""
    lines = ["ForgeryTalker full-size benchmark (random weights, official shapes; nothing downloaded)",
             "environment: " + ", ".join(f"{k}={v}" for k, v in env.items()), ""]
    for r in results:
        if "error" in r:
            lines += [f"== mode {r['mode']} on {r['device']}: FAILED: {r['error']}", ""]
            continue
        lines.append(f"== mode {r['mode']} on {r['device']} ({r['model']})")
        lines.append(f"{'component':<10} {'policy':<44} {'params (M)':>11} {'param GiB':>10} {'build s':>8}")
        for c in r["components"]:
            lines.append(f"{c['component']:<10} {c['summary'][:44]:<44} {c['params'] / 1e6:>11.1f} {c['bytes'] / GIB:>10.3f} {c.get('seconds', 0):>8.1f}")
        lines.append(f"{'total':<10} {'':<44} {sum(c['params'] for c in r['components']) / 1e6:>11.1f} {r['param_bytes_total'] / GIB:>10.3f} {r['build_s']:>8.1f}")
        lines.append(f"peak RSS (process, ru_maxrss): {r['peak_rss_gib']:.2f} GiB (after build {r['peak_rss_gib_after_build']:.2f} GiB, "
                     f"interpreter+imports {r['peak_rss_gib_before_build']:.2f} GiB)")
        if r.get("cuda_max_allocated_gib") is not None:
            lines.append(f"CUDA max allocated: {r['cuda_max_allocated_gib']:.2f} GiB (build only {r['cuda_max_allocated_gib_build']:.2f} GiB), "
                         f"max reserved {r['cuda_max_reserved_gib']:.2f} GiB")
        ts = r["timings_s"]
        lines.append(f"one forward + generate: {r['forward_generate_s']:.2f} s = vision {ts.get('vision', 0):.2f} + prompter {ts.get('prompter', 0):.2f} "
                     f"+ mask {ts.get('mask', 0):.2f} + generate {ts.get('generate', 0):.2f} ({r['new_tokens']} new tokens forced, {r['num_beams']} beams; "
                     f"T5 prompt {r['t5_prompt_tokens']} tokens, Q-Former prompt {r['qformer_prompt_tokens']} tokens)")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--modes", default="nf4", help="comma-separated --quant modes (nf4,int8,bf16,fp16,fp32)")
    ap.add_argument("--tiny", action="store_true", help="tiny config (plumbing check of this script in seconds)")
    ap.add_argument("--max-new-tokens", type=int, default=None, help="forced generation length (default 100 on CUDA as released, 20 on CPU)")
    ap.add_argument("--num-beams", type=int, default=None, help="default: the released 5")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads on CPU")
    ap.add_argument("--out", type=Path, help="write the text table here")
    ap.add_argument("--json", type=Path, help="write all numbers as JSON here")
    ap.add_argument("--one", help=argparse.SUPPRESS)  # child-process mode: measure one mode, print JSON
    a = ap.parse_args()
    max_new = a.max_new_tokens or (100 if a.device.startswith("cuda") else 20)
    if a.one:
        import torch

        if a.threads:
            torch.set_num_threads(a.threads)
        try:
            res = measure(a.one, a.device, a.tiny, max_new, a.num_beams, a.seed)
        except Exception as exc:  # noqa: BLE001 - reported in the table, the other modes still run
            res = {"mode": a.one, "device": a.device, "error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"}
        print("RESULT " + json.dumps(res))
        return
    import torch

    if a.device.startswith("cuda") and not torch.cuda.is_available():
        sys.exit("no CUDA device visible to torch")
    results = []
    for mode in a.modes.split(","):
        cmd = [sys.executable, str(Path(__file__).resolve()), "--one", mode, "--device", a.device, "--max-new-tokens", str(max_new), "--seed", str(a.seed)]
        cmd += ["--tiny"] if a.tiny else []
        cmd += ["--num-beams", str(a.num_beams)] if a.num_beams else []
        cmd += ["--threads", str(a.threads)] if a.threads else []
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
        if line is None:
            tail = " | ".join((proc.stderr.strip().splitlines() or ["no output"])[-6:])
            results.append({"mode": mode, "device": a.device, "error": f"child exited {proc.returncode}: {tail[-1500:]}"})
        else:
            results.append(json.loads(line[len("RESULT "):]))
        print(table(results[-1:], {}).split("\n", 3)[-1], flush=True)
    env = environment(a.device)
    text = table(results, env)
    print(text)
    if a.out:
        a.out.write_text(text + "\n", encoding="utf-8")
    if a.json:
        a.json.write_text(json.dumps({"environment": env, "results": results}, indent=2), encoding="utf-8")
    if any("error" in r for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
