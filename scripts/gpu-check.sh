#!/usr/bin/env bash
# `make gpu-check`: the prepared check for a machine with an NVIDIA GPU. It builds the pinned
# AlexeyAB darknet in third_party/darknet with CUDA and cuDNN, trains the embedded sample for
# ITERATIONS (default 600) with -map, times the paper profile for PAPER_ITERATIONS (default 100),
# runs `map`, and prints iterations/s, the mAP and detection FPS (also in runs/gpu-check/summary.txt).
# MODEL_ARCH= (default yolov3-tiny) checks another --arch, e.g. MODEL_ARCH=yolov4-tiny.
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
fail() { echo "gpu-check: $*" >&2; exit 1; }
now() { date +%s.%N; }
rate() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%.2f", n / (b - a) }'; }

gpus=$(nvidia-smi -L 2>/dev/null | grep '^GPU' || true)
[ -n "$gpus" ] || fail "no NVIDIA GPU visible (nvidia-smi is missing or lists none): this check needs one; nothing was built"
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
echo "$summary" | tee "$work/summary.txt"
