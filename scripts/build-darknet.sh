#!/usr/bin/env bash
# `make darknet`: fetch the third_party/darknet submodule (AlexeyAB/darknet, pinned commit) and
# build it with the flags scripts/darknet-flags.sh detects. DARKNET_FLAGS="GPU=0 OPENCV=1 ..."
# replaces the detected flags; JOBS= sets make's parallelism (default: all cores).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
dir=third_party/darknet

if [ ! -f "$dir/Makefile" ]; then
    if ! git submodule update --init -- "$dir"; then
        cat >&2 <<MSG
error: could not fetch AlexeyAB/darknet into $dir (offline, or no git access to github.com).
  Either use a darknet you already have:   make <target> DARKNET=/path/to/darknet
                                            (or: export DARKNET=/path/to/darknet)
  or install the distribution package:     sudo apt install darknet   (pjreddie's fork, CPU only)
  or copy a checkout of AlexeyAB/darknet at $(git ls-files -s -- "$dir" 2>/dev/null | cut -d" " -f2) into $dir and re-run make darknet.
MSG
        exit 1
    fi
fi

if [ -n "${DARKNET_FLAGS:-}" ]; then
    read -r -a flags <<<"$DARKNET_FLAGS"
else
    mapfile -t flags < <(scripts/darknet-flags.sh)
fi
echo "building $dir with: ${flags[*]}" >&2
make -C "$dir" -j"${JOBS:-$(nproc 2>/dev/null || echo 2)}" "${flags[@]}"
test -x "$dir/darknet"
echo "built $root/$dir/darknet" >&2
