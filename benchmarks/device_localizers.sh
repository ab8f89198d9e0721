#!/bin/bash
# Train localizer ensemble candidates side by side on a lent GPU machine, in one call (issue 9).
# Run from the repository root:
#   MEMBERS="256:81 256:82 256:83" MINUTES=8 bash benchmarks/device_localizers.sh
#   MEMBERS="192:91:liquify 192:92:inpaint 192:93" MINUTES=4 bash benchmarks/device_localizers.sh   # leave-one-family-out
#   HOST_DRAW=source BEAUTY=0.3 RETOUCH_BRUSH=local MEMBERS="256:81 256:82" CONTROLS="256:83" MINUTES=8 bash benchmarks/device_localizers.sh   # options, with a control
#
# Why one script: a task is lent a GPU rarely and for 15 device minutes in all, of which a machine
# start costs about one. Each earlier session (docs/localizer_history.md) rebuilt this command by hand.
# Every member starts from the 3DDFA_V2 encoder with the shipped members' recipe (all 8 families,
# lr 1.5e-3, the same frozen blocks, batch 32, time-scheduled cosine) and differs only in
# input size and seed, or, for a leave-one-family-out model, also in the one family it never sees
# (issue 9 asks for such runs family by family; only part swaps had one, lofo-part_swap). The
# benchmark scores a model named lofo-<family> on that family
# (localization.py --variant lofo-<family>=DIR), so compare it with an all-family member of the
# same size, seed budget and minutes from the same call. The training rate is set by the forging workers, not by the GPU (seventh
# session: 12 steps/s with 7 workers, 22 with 14), so the machine's cores are split between the
# members: WORKERS per member defaults to (cores - 2) / members.
#
# MEMBERS   space-separated SIZE:SEED or SIZE:SEED:FAMILY (input size in px, training seed, the
#           family left out of training); default "256:81 256:82". A fourth field sets this
#           member's own options over the variables below, e.g. "256:81::beauty=0.3" or
#           "256:82::draw=source,beauty=0,brush=all" (keys draw, beauty, brush), so that one call
#           can tell the options' effects apart
# MINUTES   training minutes per member, all members at once (default 8)
# WORKERS   forging processes per member (default: (nproc - 2) / number of members, at least 1)
#           (twenty-second session, H200 with 16 cores: one 256 px member with 14 workers drew 28.6
#           steps of 32 a second, two members with 7 each 13.2 each; so on a warm machine a
#           3.8-minute call for one member matches a 7.8-minute call's two in samples per member)
# DEVICE    cuda (default) or cpu (plumbing check only)
# HOST_DRAW uniform (default, the shipped members' recipe) or source: each photo source (web photos,
#           parsing set) forges an equal share of the hosts (--host-draw; docs/localizer_history.md, the
#           unpaired AUC)
# BEAUTY    share of hosts retouched as a whole before the edit, twins alike (--beauty; default 0, the
#           shipped recipe; docs/localizer_history.md, sixteenth session)
# RETOUCH_BRUSH all (default, the shipped recipe) or local: the retouch family smooths one skin
#           area, never all of the skin (--retouch-brush; goes with BEAUTY)
# CONTROLS  more SIZE:SEED[:FAMILY] members trained in the same call with the shipped recipe
#           (uniform host draw, no retouch, all-skin brush) whatever HOST_DRAW, BEAUTY and RETOUCH_BRUSH say: the control,
#           on the same machine and minutes; each comes back as m<SIZE>_<SEED>[_no-<FAMILY>]_ctrl.tgz
# OUT       where results go (the device tool's $OUT); each member as OUT/m<SIZE>_<SEED>.tgz
#           or OUT/m<SIZE>_<SEED>_no-<FAMILY>.tgz (localizer.safetensors, .onnx, recipe.json,
#           manifest.json) plus its log.
#
# What the call must carry (run tool, `carry`): .devdata/train_bundle.npz (python -m
# forgetalk.train.bundle --split train; 56 MB) and .devdata/3ddfa_mb05_encoder.pth (a copy of
# ../shared/pretrained/3ddfa_mb05_120x120.pth, 3.7 MB, does: load_mobile_pretrained takes the same
# 102 encoder tensors from it as from the trimmed file the shipped members used). Bundle, encoder
# and the tracked tree exceed the call's 64 MiB, so move weights/localizer/localizer.{onnx,safetensors}
# (15 MB, not used here) out of the working tree for the call and back afterwards.
# Then, on the VM: screen the candidates with benchmarks/localizer_screen.py (validation faces only),
# combine with python -m forgetalk.train.ensemble, calibrate (--families part_swap,region_swap, as the
# shipped ensemble; without it every trained family), benchmark (docs/localizer.md). A
# leave-one-family-out model is benchmarked alone: calibrate it into its own weights root (10 min on
# the VM each) and pass that root as --variant lofo-<family>=ROOT.
#
# Local plumbing check without a GPU (about a minute):
#   DEVICE=cpu MEMBERS="64:1" CONTROLS="64:2" BEAUTY=0.5 RETOUCH_BRUSH=local MINUTES=0.3 WORKERS=1 OUT=/tmp/o bash benchmarks/device_localizers.sh
set -u
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
PY="${PY:-python3}"
MEMBERS="${MEMBERS:-256:81 256:82}"
MINUTES="${MINUTES:-8}"
DEVICE="${DEVICE:-cuda}"
HOST_DRAW="${HOST_DRAW:-uniform}"
BEAUTY="${BEAUTY:-0}"
RETOUCH_BRUSH="${RETOUCH_BRUSH:-all}"
CONTROLS="${CONTROLS:-}"
OUT="${OUT:-$PWD/device-out}"
WORK="$(mktemp -d)"
mkdir -p "$OUT"
n=$(echo $MEMBERS $CONTROLS | wc -w)
WORKERS="${WORKERS:-$(( ($(nproc) - 2) / n ))}"
[ "$WORKERS" -ge 1 ] || WORKERS=1
{
  echo "# benchmarks/device_localizers.sh, $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "members: $MEMBERS (host draw $HOST_DRAW, beauty $BEAUTY, retouch brush $RETOUCH_BRUSH); controls: ${CONTROLS:-none} (shipped recipe); $MINUTES min each; $WORKERS workers each; device $DEVICE; $(nproc) cores"
  timeout 15 nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "nvidia-smi: not available"
  sha256sum .devdata/train_bundle.npz .devdata/3ddfa_mb05_encoder.pth 2>&1
} | tee "$OUT/header.txt"
for f in .devdata/train_bundle.npz .devdata/3ddfa_mb05_encoder.pth; do
  [ -f "$f" ] || { echo "missing $f: carry it (see the header of this script)"; exit 2; }
done

name_of() {  # SIZE:SEED[:FAMILY[:OPTIONS]] -> the member's directory and tarball name
  IFS=: read -r size seed fam opts <<< "$1"
  echo "m${size}_${seed}${fam:+_no-$fam}"
}

train() {  # size seed dir [family] [host draw] [beauty] [retouch brush]: the shipped members' recipe at one input size and seed, without family
  local exclude=()
  [ -n "${4:-}" ] && exclude=(--exclude-family "$4")
  "$PY" -c 'import sys; sys.argv[0] = "forgetalk"; from forgetalk.cli import main; main()' train localizer \
    --bundle .devdata/train_bundle.npz --pretrained .devdata/3ddfa_mb05_encoder.pth --families all --device "$DEVICE" \
    --workers "$WORKERS" --threads 1 --arch mobile_unet --batch-size 32 --freeze conv1,bn1,dw2_,dw3_1 --no-calibrate \
    --schedule time --steps 1000000 --minutes "$MINUTES" --lr 0.0015 --input-size "$1" --seed "$2" --out "$3" --host-draw "${5:-uniform}" --beauty "${6:-0}" --retouch-brush "${7:-all}" "${exclude[@]}"
}

limit=$(awk -v m="$MINUTES" 'BEGIN { printf "%d", m * 60 + 120 }')  # training time plus start-up and writing
member_options() {  # OPTIONS host-draw beauty brush -> "draw beauty brush" with OPTIONS applied; exit 2 on an unknown key
  local draw="$2" beauty="$3" brush="$4" kv
  for kv in ${1//,/ }; do
    case "$kv" in
      draw=*) draw="${kv#draw=}" ;;
      beauty=*) beauty="${kv#beauty=}" ;;
      brush=*) brush="${kv#brush=}" ;;
      *) echo "unknown member option '$kv' (keys: draw, beauty, brush)" >&2; return 2 ;;
    esac
  done
  echo "$draw $beauty $brush"
}
for m in $MEMBERS; do
  IFS=: read -r _ _ _ opts <<< "$m"
  member_options "$opts" "$HOST_DRAW" "$BEAUTY" "$RETOUCH_BRUSH" > /dev/null || exit 2
done

launch() {  # SIZE:SEED[:FAMILY[:OPTIONS]] name host-draw beauty retouch-brush
  IFS=: read -r size seed fam opts <<< "$1"
  read -r draw beauty brush <<< "$(member_options "$opts" "$3" "$4" "$5")"
  echo "$2: host draw $draw, beauty $beauty, retouch brush $brush" >> "$OUT/header.txt"
  timeout "$limit" bash -c "$(declare -f train); PY='$PY' DEVICE='$DEVICE' WORKERS='$WORKERS' MINUTES='$MINUTES' train $size $seed '$WORK/$2' '$fam' '$draw' '$beauty' '$brush'" \
    > "$OUT/$2.log" 2>&1 &
}
for m in $MEMBERS; do launch "$m" "$(name_of "$m")" "$HOST_DRAW" "$BEAUTY" "$RETOUCH_BRUSH"; done
for c in $CONTROLS; do launch "$c" "$(name_of "$c")_ctrl" uniform 0 all; done
wait
for name in $(for m in $MEMBERS; do name_of "$m"; done) $(for c in $CONTROLS; do echo "$(name_of "$c")_ctrl"; done); do
  if [ -f "$WORK/$name/localizer.safetensors" ]; then
    tar czf "$OUT/$name.tgz" -C "$WORK" "$name" && echo "$name: weights in $name.tgz"
  else
    echo "$name: no weights (see $name.log)"
  fi
  grep -E '"step"' "$OUT/$name.log" | tail -1
  tail -2 "$OUT/$name.log"
done | tee "$OUT/summary.txt"
rm -rf "$WORK"
