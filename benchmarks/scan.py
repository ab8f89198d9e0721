"""Scan throughput and memory: images per second for 1 and 2 workers, and peak memory.

    .venv/bin/python benchmarks/scan.py                 # 200 generated variants of grace_hopper
    .venv/bin/python benchmarks/scan.py --folder DIR --workers 1,2,4 --engine fused

Each worker count runs a real `forgetalk scan` subprocess into a fresh results folder,
while this script samples the resident memory of the whole process tree (scan parent +
workers) from /proc. Reported rates:

* end-to-end: analysed images / wall time of the command (model start-up, index and
  summary PDF included);
* steady: images / time between the first and the last finished image (journal
  timestamps), i.e. throughput once the workers have loaded their models.

The machine's load average and the CPU time the scan consumed are printed: on a shared
machine other jobs steal cores, and "cores obtained" (CPU seconds / wall seconds) shows
how much of the machine the scan actually got; the scaling figure is then a lower bound.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path


def make_variants(folder: Path, n: int) -> None:
    """``n`` byte-distinct crops/flips/re-encodes of matplotlib's public-domain grace_hopper.jpg."""
    import matplotlib
    from PIL import Image, ImageOps

    base = Image.open(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg").convert("RGB")
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        dx, dy = (i % 7) * 3, (i // 7 % 5) * 3
        im = base.crop((dx, dy, base.width - (i % 3) * 3, base.height - (i // 35 % 4) * 3))
        if i % 2:
            im = ImageOps.mirror(im)
        im.save(folder / f"variant_{i:04d}.jpg", quality=70 + i % 25)


def _tree_rss(root: int) -> tuple[int, int]:
    """(sum of RSS over root and its descendants, largest single RSS) in bytes."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])
        rss[int(entry)] = int(fields[21]) * page
    members = {root}
    changed = True
    while changed:
        changed = False
        for pid, ppid in parents.items():
            if ppid in members and pid not in members:
                members.add(pid)
                changed = True
    vals = [rss.get(p, 0) for p in members]
    return sum(vals), max(vals, default=0)


def _steady_rate(journal: Path) -> float | None:
    stamps = []
    for line in journal.read_text().splitlines():
        rec = json.loads(line)
        if rec.get("type") == "item" and rec.get("finished_at"):
            stamps.append(datetime.fromisoformat(rec["finished_at"]).timestamp())
    if len(stamps) < 3:
        return None
    stamps.sort()
    return (len(stamps) - 1) / max(stamps[-1] - stamps[0], 1e-9)


def run_once(folder: Path, out: Path, workers: int, engine: str, extra: list[str]) -> dict[str, float | int | None]:
    cmd = [sys.executable, "-m", "forgetalk.cli", "scan", str(folder), "--out", str(out), "--workers", str(workers),
           "--engine", engine, "--no-progress", "--json", *extra]
    t0 = time.perf_counter()
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    peak_total = peak_single = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak_total, peak_single
        while not stop.is_set():
            total, single = _tree_rss(proc.pid)
            peak_total, peak_single = max(peak_total, total), max(peak_single, single)
            time.sleep(0.2)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    stdout, _ = proc.communicate()
    wall = time.perf_counter() - t0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)  # scan parent + all its workers
    stop.set()
    th.join()
    summary = json.loads(stdout.decode().strip().splitlines()[-1])
    if "counts" not in summary:
        raise SystemExit(f"scan failed: {summary}")
    n = summary["counts"]["analysed_this_run"]
    return {"workers": workers, "images": n, "wall_s": round(wall, 2), "end_to_end_ips": round(n / wall, 3),
            "steady_ips": round(_steady_rate(out / "journal.jsonl") or 0.0, 3),
            "peak_tree_rss_mib": round(peak_total / 2**20, 1), "peak_process_rss_mib": round(peak_single / 2**20, 1),
            "cpu_s": round(cpu, 1), "cores_used": round(cpu / wall, 2), "exit_code": proc.returncode}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--folder", type=Path, help="Folder of photos (default: generate --n variants of grace_hopper).")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--workers", default="1,2", help="Comma-separated worker counts.")
    ap.add_argument("--engine", default="evidence", help="Engine (default evidence: CPU, no weights download needed).")
    ap.add_argument("--pdf", action="store_true", help="Also render per-image PDFs.")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="forgetalk-bench-") as tmp:
        folder = args.folder
        if folder is None:
            folder = Path(tmp) / "images"
            make_variants(folder, args.n)
        rows = []
        for w in (int(x) for x in args.workers.split(",")):
            rows.append(run_once(folder, Path(tmp) / f"results-{w}", w, args.engine, ["--pdf"] if args.pdf else []))
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    load = os.getloadavg()
    print(f"forgetalk scan benchmark: {rows[0]['images']} images, engine {args.engine}, {os.cpu_count()} CPUs, "
          f"load average {load[0]:.2f}/{load[1]:.2f}/{load[2]:.2f} (1/5/15 min) at the end")
    print("| workers | images | wall s | end-to-end img/s | steady img/s | CPU s (all processes) | cores obtained (CPU s / wall s) "
          "| peak RSS, all processes (MiB) | peak RSS, largest process (MiB) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['workers']} | {r['images']} | {r['wall_s']} | {r['end_to_end_ips']} | {r['steady_ips']} | {r['cpu_s']} | {r['cores_used']} "
              f"| {r['peak_tree_rss_mib']} | {r['peak_process_rss_mib']} |")
    base = rows[0]
    for r in rows[1:]:
        print(f"scaling {base['workers']} -> {r['workers']} workers: end-to-end x{r['end_to_end_ips'] / base['end_to_end_ips']:.2f}, "
              f"steady x{r['steady_ips'] / max(base['steady_ips'], 1e-9):.2f}")


if __name__ == "__main__":
    main()
