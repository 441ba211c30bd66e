#!/usr/bin/env bash
# `make gpu-check`: the prepared check for a machine with an NVIDIA GPU. It builds the pinned
# AlexeyAB darknet in third_party/darknet with CUDA and cuDNN, trains the embedded sample for
# ITERATIONS (default 600) with -map, times the paper profile for PAPER_ITERATIONS (default 100),
# runs `map`, and prints iterations/s, the mAP and detection FPS (also in runs/gpu-check/summary.txt).
# MODEL_ARCH= (default yolov3-tiny) checks another --arch, e.g. MODEL_ARCH=yolov4-tiny.
# EXPW=DIR (`make gpu-check EXPW=DIR`) adds a real-data stage: ExpW in DIR converted once with
# its images shrunk to a long side of 640 (600 held out), the paper profile shortened to about
# REAL_SECONDS (default 480) of this GPU (its iterations from the paper timing above; burn-in
# and steps scaled with them), from weights/<arch cut> when present (`make weights` fetches it;
# else from scratch, said), then Table II, the face AP and the time per iteration
# (REAL_ITERATIONS= fixes the count).
# No network is needed once the darknet source is in third_party/darknet (training starts from
# scratch). Stops with one clear line when there is no GPU, no nvcc or no cuDNN.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
dir=third_party/darknet
yof=${YOF:-.venv/bin/yof-darknet}
iterations=${ITERATIONS:-600}
paper_iterations=${PAPER_ITERATIONS:-100}
arch=${MODEL_ARCH:-yolov3-tiny}
work=${GPU_CHECK_DIR:-runs/gpu-check}
expw=${EXPW:-}
real_seconds=${REAL_SECONDS:-480}
fail() { echo "gpu-check: $*" >&2; exit 1; }
now() { date +%s.%N; }
rate() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%.2f", n / (b - a) }'; }

if [ -n "$expw" ]; then
    [ -d "$expw" ] || fail "EXPW=$expw: no such folder (give ExpW's folder: label/label.lst, image/origin/)"
    [ -n "$(find "$expw" -maxdepth 2 -name label.lst -print -quit)" ] ||
        fail "EXPW=$expw: no label.lst in it or in its label/ folder (give ExpW's folder)"
    expw=$(cd "$expw" && pwd)
fi
gpus=$(nvidia-smi -L 2>/dev/null | grep '^GPU' || true)
[ -n "$gpus" ] || fail "no NVIDIA GPU visible (nvidia-smi is missing or lists none): this check needs one; nothing was built${expw:+ (nor the real-data stage on EXPW=$expw)}"
command -v nvcc >/dev/null 2>&1 || [ -x /usr/local/cuda/bin/nvcc ] ||
    fail "nvcc not found (install the CUDA toolkit, or put /usr/local/cuda/bin on PATH)"
mapfile -t flags < <(scripts/darknet-flags.sh)
printf '%s\n' "${flags[@]}" | grep -qx 'GPU=1' ||
    fail "no compute capability from nvidia-smi --query-gpu=compute_cap (driver too old?)"
printf '%s\n' "${flags[@]}" | grep -qx 'CUDNN=1' ||
    fail "cuDNN not found (no cudnn.h in /usr/include or /usr/local/cuda/include; set CUDNN_HOME)"
if [ ! -f "$dir/Makefile" ]; then
    git submodule update --init -- "$dir" ||
        fail "no darknet source in $dir and it could not be fetched: copy a checkout of AlexeyAB/darknet at $(git ls-files -s -- "$dir" | cut -d' ' -f2) there"
fi

echo "gpu-check: $gpus" >&2
if [ -x "$dir/darknet" ] && ! "$dir/darknet" detector 2>&1 | grep -q 'CUDA-version'; then
    echo "gpu-check: $dir/darknet is a CPU build: rebuilding it with CUDA" >&2
    make -C "$dir" clean >/dev/null
fi
DARKNET_FLAGS="${flags[*]}" scripts/build-darknet.sh
darknet=$root/$dir/darknet
"$darknet" detector 2>&1 | grep -q 'CUDA-version' || fail "$darknet was built without CUDA"

mkdir -p "$work"
"$yof" sample "$work/sample" >/dev/null
"$yof" datasets --expw "$work/sample/ExpW" --affwild2 "$work/sample/AffWild2" \
    --out "$work/data" --test-per-dataset 80 >/dev/null
rm -rf "$work/train" "$work/paper"

start=$(now)
"$yof" train --data "$work/data/obj.data" --profile sample --max-batches "$iterations" \
    --arch "$arch" --runs "$work" --name train --darknet "$darknet"
end=$(now)
train_rate=$(rate "$iterations" "$start" "$end")

"$yof" map --data "$work/data/obj.data" --weights "$work/train/weights/${arch}_final.weights" \
    --cfg "$work/train/$arch.cfg" --out "$work/train/map" --darknet "$darknet" >/dev/null
map=$(.venv/bin/python -c 'import json,sys; print(f"{json.load(open(sys.argv[1]))["map"]:.4f}")' \
    "$work/train/map/table2.json")

start=$(now)
"$yof" train --data "$work/data/obj.data" --profile paper --max-batches "$paper_iterations" \
    --arch "$arch" --runs "$work" --name paper --darknet "$darknet"
end=$(now)
paper_rate=$(rate "$paper_iterations" "$start" "$end")

fps() {
    "$yof" detect "$work/data/test.txt" --weights "$work/train/weights/${arch}_final.weights" \
        --cfg "$work/train/$arch.cfg" --json /dev/null "$@" 2>&1 | grep -o '[0-9.]* FPS ([^)]*)'
}
size=$(grep -m 1 '^width=' "$work/train/$arch.cfg" | cut -d= -f2)
real_summary=""
if [ -n "$expw" ]; then
    real_iterations=${REAL_ITERATIONS:-$(awk -v r="$paper_rate" -v s="$real_seconds" \
        'BEGIN { n = int(r * s / 100) * 100; print (n < 200 ? 200 : n) }')}
    burn_in=$(awk -v n="$real_iterations" 'BEGIN { b = int(n * 1000 / 14000); print (b < 100 ? 100 : b) }')
    cut=weights/$(.venv/bin/python -c 'import sys; from yof_darknet.training.archs import get_arch
print(get_arch(sys.argv[1]).pretrained.cut_name)' "$arch")
    if [ -f "$cut" ]; then start_from=(--weights "$cut"); started="from $cut (COCO)"; else
        start_from=(); started="FROM SCRATCH (no $cut here: \`make weights\` fetches it)"; fi
    echo "gpu-check: real data: $expw, $real_iterations iterations, $started" >&2
    "$yof" datasets --expw "$expw" --out "$work/real-data" --max-side 640 \
        --test-per-dataset 600 >/dev/null
    rm -rf "$work/real"
    start=$(now)
    "$yof" train --data "$work/real-data/obj.data" --profile paper --arch "$arch" \
        --max-batches "$real_iterations" --set "burn_in=$burn_in" "${start_from[@]}" \
        --runs "$work" --name real --darknet "$darknet"
    end=$(now)
    "$yof" map --data "$work/real-data/obj.data" --out "$work/real/map" --darknet "$darknet" \
        --weights "$work/real/weights/${arch}_final.weights" --cfg "$work/real/$arch.cfg" >/dev/null
    real_summary=$(
        .venv/bin/python - "$work/real" "$real_iterations" "$start" "$end" "$started" <<'PY'
import csv, json, statistics, sys
from pathlib import Path
run, iterations, start, end, started = Path(sys.argv[1]), int(sys.argv[2]), *map(float, sys.argv[3:5]), sys.argv[5]
table = json.loads((run / "map" / "table2.json").read_text())
face = table.get("face_ap")  # newer `map` versions only
face_text = f"{100 * face:.2f} %" if face is not None else "n/a (this map writes no face_ap)"
seconds = [float(r["seconds"]) for r in csv.DictReader((run / "results.csv").open())]
print(f"real train:   {iterations} iterations of the paper profile (416x416, batch 64), {started}")
print(f"real s/it:    {(end - start) / iterations:.3f} s per iteration wall-clock (with -map), "
      f"{statistics.median(seconds):.3f} s median as darknet timed it")
print(f"real mAP:     {100 * table['map']:.2f} % (Table II, held-out real ExpW images); face AP {face_text}")
print((run / "map" / "table2.md").read_text().rstrip())
PY
    )
fi
summary=$(
    cat <<TXT
gpu-check on: $gpus
darknet:      $("$darknet" detector 2>&1 | grep -o 'CUDA-version: [^,]*, cuDNN: [0-9.]*' | head -n 1)
sample train: $iterations iterations in $(awk -v r="$train_rate" -v n="$iterations" 'BEGIN { printf "%.0f", n / r }') s = $train_rate iterations/s (profile sample, ${size}x${size}, batch 8, -map)
sample mAP:   $map (mAP@0.50, darknet detector map on the held-out sample images)
paper train:  $paper_rate iterations/s (profile paper, 416x416, batch 64) = $(awk -v r="$paper_rate" 'BEGIN { printf "%.1f", 14000 / r / 3600 }') h for 14000 iterations
detect FPS:   $(fps) at ${size}x${size}; $(fps --size 416) at 416x416
TXT
)
[ -z "$real_summary" ] || summary+=$'\n'$real_summary
echo "$summary" | tee "$work/summary.txt"
