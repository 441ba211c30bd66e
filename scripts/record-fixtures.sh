#!/usr/bin/env bash
# Record the Darknet fixtures the tests read (tests/fixtures/darknet, model, classifier):
# build the pinned AlexeyAB darknet (the commit of the third_party/darknet submodule) and the
# pinned hank-ai darknet from source snapshots OUTSIDE the repository, then let
# tests/support/recorder.py run them and Debian's darknet on a synthetic shapes dataset it draws.
#
#   scripts/record-fixtures.sh [--alexeyab-src DIR] [--hankai-src DIR] [--build DIR] [STEP...]
#
# DIR of a source: any git clone (or bare mirror) that holds the pinned commit; without one the
# submodule checkout is used for AlexeyAB, else both are cloned from GitHub into the build folder.
# The builds go to --build (default ${XDG_CACHE_HOME:-~/.cache}/yof-darknet/fixtures) and are
# reused while their commit and flags are the same. STEPs (default: all): dataset alexeyab hankai
# debian model classifier. Needs git, make, cmake, a C/C++ compiler, libopencv-dev (hank-ai requires OpenCV;
# AlexeyAB is built with it too so that both decode the images alike) and Debian's `darknet`.
# Environment: ALEXEYAB_SRC, HANKAI_SRC, FIXTURE_BUILD (the same as the options), JOBS (make -j).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

HANKAI_COMMIT=f684e1d75d4594298c8e73acc727ba6cf2e81c60  # hank-ai master, v5.1-104-gf684e1d7
ALEXEYAB_COMMIT=$(git ls-files -s -- third_party/darknet | cut -d" " -f2)
ALEXEYAB_FLAGS=(GPU=0 CUDNN=0 CUDNN_HALF=0 OPENCV=1 AVX=1 OPENMP=1 LIBSO=0 DEBUG=0)
HANKAI_FLAGS=(-DCMAKE_BUILD_TYPE=Release -DDARKNET_TRY_CUDA=OFF -DDARKNET_TRY_ROCM=OFF
    -DDARKNET_TRY_OPENBLAS=OFF -DDARKNET_TRY_ONNX=OFF)
alexeyab_src=${ALEXEYAB_SRC:-}
hankai_src=${HANKAI_SRC:-}
build=${FIXTURE_BUILD:-${XDG_CACHE_HOME:-$HOME/.cache}/yof-darknet/fixtures}
jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}
steps=()
while [ $# -gt 0 ]; do
    case $1 in
        --alexeyab-src) alexeyab_src=$2; shift 2 ;;
        --hankai-src) hankai_src=$2; shift 2 ;;
        --build) build=$2; shift 2 ;;
        -h | --help) sed -n '2,17p' "$0"; exit 0 ;;
        -*) echo "record-fixtures: unknown option $1 (see --help)" >&2; exit 2 ;;
        *) steps+=("$1"); shift ;;
    esac
done
[ -n "$ALEXEYAB_COMMIT" ] || { echo "record-fixtures: no third_party/darknet pin in git" >&2; exit 1; }
case $build in "$root" | "$root"/*)
    echo "record-fixtures: --build $build is inside the repository; give a folder outside it" >&2
    exit 1 ;;
esac
pkg-config --exists opencv4 || {
    echo "record-fixtures: OpenCV's headers are missing (apt install libopencv-dev)" >&2; exit 1; }
command -v darknet >/dev/null || {
    echo "record-fixtures: Debian's darknet is missing (apt install darknet)" >&2; exit 1; }
mkdir -p "$build"
build=$(cd "$build" && pwd)

# checkout NAME URL SRC COMMIT: a clone of SRC (else URL) at COMMIT in $build/NAME-src
checkout() {
    local name=$1 url=$2 src=$3 commit=$4 dir=$build/$1-src
    if [ "$(git -C "$dir" rev-parse HEAD 2>/dev/null)" != "$commit" ]; then
        rm -rf "$dir"
        echo "record-fixtures: cloning ${src:-$url} at $commit into $dir" >&2
        git clone -q --no-checkout "${src:-$url}" "$dir"
        git -C "$dir" -c advice.detachedHead=false checkout -q "$commit" || {
            echo "record-fixtures: ${src:-$url} does not hold $name's pinned commit $commit" >&2
            exit 1; }
    fi
    echo "$dir"
}

# build_alexeyab: darknet + the map-detections dump (scripts/fixtures/dump_map_dets.c)
build_alexeyab() {
    local src=$alexeyab_src
    if [ -z "$src" ] && [ -f third_party/darknet/Makefile ]; then src=third_party/darknet; fi
    local dir stamp
    dir=$(checkout alexeyab https://github.com/AlexeyAB/darknet.git "$src" "$ALEXEYAB_COMMIT")
    stamp="$ALEXEYAB_COMMIT ${ALEXEYAB_FLAGS[*]} $(sha256sum scripts/fixtures/dump_map_dets.c)"
    if [ "$(cat "$dir/.yof-stamp" 2>/dev/null)" != "$stamp" ]; then
        echo "record-fixtures: building AlexeyAB ($dir): make ${ALEXEYAB_FLAGS[*]}" >&2
        make -C "$dir" -j"$jobs" "${ALEXEYAB_FLAGS[@]}" >"$dir/.yof-build.log" 2>&1 || {
            tail -20 "$dir/.yof-build.log" >&2; exit 1; }
        # the dump links AlexeyAB's own objects (everything but main) with the same defines
        local objects=()
        for o in "$dir"/obj/*.o; do [ "$(basename "$o")" = darknet.o ] || objects+=("$o"); done
        # shellcheck disable=SC2046
        gcc -O2 -DOPENCV -I"$dir/include" -I"$dir/src" scripts/fixtures/dump_map_dets.c \
            "${objects[@]}" -o "$dir/dump_map_dets" -fopenmp -lstdc++ -lm -pthread \
            $(pkg-config --libs opencv4)
        echo "$stamp" >"$dir/.yof-stamp"
    fi
    echo "$dir"
}

build_hankai() {
    local dir stamp
    dir=$(checkout hankai https://github.com/hank-ai/darknet.git "$hankai_src" "$HANKAI_COMMIT")
    stamp="$HANKAI_COMMIT ${HANKAI_FLAGS[*]}"
    if [ "$(cat "$dir/.yof-stamp" 2>/dev/null)" != "$stamp" ]; then
        echo "record-fixtures: building hank-ai ($dir): cmake ${HANKAI_FLAGS[*]}" >&2
        # in the clone: its CMake takes the version from `git describe` in the current folder
        (cd "$dir" && cmake -S . -B build "${HANKAI_FLAGS[@]}" && make -C build -j"$jobs" darknetcli) \
            >"$dir/.yof-build.log" 2>&1 || {
            tail -20 "$dir/.yof-build.log" >&2; exit 1; }
        echo "$stamp" >"$dir/.yof-stamp"
    fi
    echo "$dir"
}

want() { [ ${#steps[@]} -eq 0 ] || [[ " ${steps[*]} " == *" $1 "* ]]; }
args=(--work "$build/work")
if want alexeyab; then
    dir=$(build_alexeyab)
    args+=(--alexeyab "$dir/darknet" --dump "$dir/dump_map_dets"
        --alexeyab-build "commit $ALEXEYAB_COMMIT; make ${ALEXEYAB_FLAGS[*]}")
fi
if want hankai; then
    dir=$(build_hankai)
    args+=(--hankai "$dir/build/src-cli/darknet"
        --hankai-build "commit $HANKAI_COMMIT; cmake ${HANKAI_FLAGS[*]}; make darknetcli")
fi
[ -x .venv/bin/python ] || make setup
exec nice -n 10 .venv/bin/python -m tests.support.recorder "${args[@]}" --debian "$(command -v darknet)" \
    "${steps[@]}"
