#!/usr/bin/env bash
# `make darknet`: fetch the third_party/darknet submodule (AlexeyAB/darknet, pinned commit) and
# build it with the flags scripts/darknet-flags.sh detects. DARKNET_FLAGS="GPU=0 OPENCV=1 ..."
# replaces the detected flags; a word that starts with an upper-case NAME= starts a variable and
# every other word continues the previous value, so ARCH=-gencode arch=compute_80,code=sm_80
# reaches make whole. JOBS= sets make's parallelism (default: all cores).
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
    flags=()
    read -r -a words <<<"$DARKNET_FLAGS"
    for word in "${words[@]}"; do
        if [[ $word =~ ^[A-Z_][A-Z0-9_]*= ]] || [ ${#flags[@]} -eq 0 ]; then
            flags+=("$word")
        else
            flags[-1]+=" $word"
        fi
    done
else
    mapfile -t flags < <(scripts/darknet-flags.sh)
fi
printf -v shown " %q" "${flags[@]}"
echo "building $dir with:$shown" >&2
make -C "$dir" -j"${JOBS:-$(nproc 2>/dev/null || echo 2)}" "${flags[@]}"
test -x "$dir/darknet"
echo "built $root/$dir/darknet" >&2
