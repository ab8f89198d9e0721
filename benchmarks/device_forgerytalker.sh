python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD
# ForgeryTalker full-size benchmark on a GPU machine (issue 10). Run from the repository root:
#   bash benchmarks/device_forgerytalker.sh
# Needs: python3 with torch (CUDA), transformers, safetensors, numpy; the bitsandbytes wheel in .whl/
# (installed above into /tmp/site, nothing from the network). Random weights with the released
# shapes: nothing is downloaded. Every step runs under `timeout`; the whole script ends within
# ~6 minutes. Results: $OUT/forgerytalker_gpu.txt (tables), $OUT/*.json, $OUT/*.log.
# Local plumbing check without a GPU: DEVICE=cpu TINY=1 OUT=/tmp/o bash benchmarks/device_forgerytalker.sh
OUT="${OUT:-$PWD/device-out}"
DEVICE="${DEVICE:-cuda}"
TINYFLAG=""
if [ -n "${TINY:-}" ]; then TINYFLAG="--tiny"; fi
mkdir -p "$OUT"
SUMMARY="$OUT/forgerytalker_gpu.txt"
{
  echo "# benchmarks/device_forgerytalker.sh, $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  timeout 15 nvidia-smi || echo "nvidia-smi: not available"
  timeout 45 python3 -c "import torch, transformers, bitsandbytes as b; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'transformers', transformers.__version__, 'bitsandbytes', b.__version__, 'gpu', torch.cuda.get_device_name(0) if torch.cuda.is_available() else None)" 2>&1 | tail -3
} > "$OUT/header.txt"
cat "$OUT/header.txt"

# 1. tiny config, every mode: checks the CUDA paths (EVA fp16 + autocast, nf4/int8 kernels) in seconds
timeout 90 python3 benchmarks/forgerytalker_fullsize.py --tiny --device "$DEVICE" --modes nf4,int8,bf16,fp16,fp32 --max-new-tokens 4 \
  --out "$OUT/tiny.txt" > "$OUT/tiny.log" 2>&1
echo "tiny check: rc=$?"
# 2. full size, nf4 (the default on a GPU): released generation settings (5 beams, 100 new tokens forced)
timeout 150 python3 benchmarks/forgerytalker_fullsize.py $TINYFLAG --device "$DEVICE" --modes nf4 \
  --out "$OUT/nf4.txt" --json "$OUT/forgerytalker_gpu_nf4.json" > "$OUT/nf4.log" 2>&1
echo "full-size nf4: rc=$?"
# 3. full size, bf16 (T5 in bf16 as released; reference for the nf4 memory saving)
timeout 100 python3 benchmarks/forgerytalker_fullsize.py $TINYFLAG --device "$DEVICE" --modes bf16 \
  --out "$OUT/bf16.txt" --json "$OUT/forgerytalker_gpu_bf16.json" > "$OUT/bf16.log" 2>&1
echo "full-size bf16: rc=$?"

{
  cat "$OUT/header.txt"
  for part in nf4 bf16 tiny; do
    echo; echo "######## $part"
    if [ -s "$OUT/$part.txt" ]; then cat "$OUT/$part.txt"; else echo "(no table: timed out or failed; last log lines:)"; tail -15 "$OUT/$part.log" 2>/dev/null; fi
  done
} > "$SUMMARY"
cat "$SUMMARY"
