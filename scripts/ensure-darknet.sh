#!/usr/bin/env bash
# `make reproduce` and `make test` call this first: make sure a darknet is there, getting one
# when none is found, and say which path was taken (one line on stderr).
#   1. DARKNET=/path (a binary, or a folder holding `darknet`), else third_party/darknet/darknet,
#      else `darknet` on PATH: use it;
#   2. else fetch the pinned AlexeyAB submodule (`git submodule update --init`) and build it
#      (scripts/build-darknet.sh, DARKNET_FLAGS= honoured);
#   3. else install the distribution's package (`apt-get install darknet`, pjreddie's CPU fork)
#      when the package manager can be used: as root, or through `sudo -n`;
#   4. else stop with the one message that says what to do.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
dir=third_party/darknet
say() { echo "darknet: $*" >&2; }

if [ -n "${DARKNET:-}" ]; then
    binary=$DARKNET
    [ -d "$binary" ] && binary=$binary/darknet
    if [ -f "$binary" ] && [ -x "$binary" ]; then
        say "using DARKNET=$DARKNET"
        exit 0
    fi
    say "error: DARKNET=$DARKNET is not a darknet executable (unset it to let make find or get one)"
    exit 1
fi
if [ -x "$dir/darknet" ]; then
    say "using $dir/darknet (AlexeyAB, built by make darknet)"
    exit 0
fi
if found=$(command -v darknet); then
    say "using $found (found on PATH)"
    exit 0
fi

log=$(mktemp "${TMPDIR:-/tmp}/yof-darknet.XXXXXX")
trap 'rm -f "$log"' EXIT
build_failed=""
if [ -f "$dir/Makefile" ] || git submodule update --init -- "$dir" >"$log" 2>&1; then
    say "none found: building the pinned AlexeyAB submodule in $dir (scripts/build-darknet.sh)"
    if scripts/build-darknet.sh; then
        say "took path: built AlexeyAB's darknet from the submodule: $dir/darknet"
        exit 0
    fi
    build_failed="the build of $dir failed (see above)"
    say "error: $build_failed; trying the distribution's package"
fi

sudo=()
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo=(sudo -n); fi
fi
if command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" = 0 ] || [ ${#sudo[@]} -gt 0 ]; }; then
    say "none found and ${build_failed:-the submodule could not be fetched}: installing the distribution's darknet (${sudo[*]:+${sudo[*]} }apt-get install darknet)"
    export DEBIAN_FRONTEND=noninteractive
    if "${sudo[@]}" apt-get install -y -qq darknet >"$log" 2>&1 ||
        { "${sudo[@]}" apt-get update -qq >>"$log" 2>&1 &&
            "${sudo[@]}" apt-get install -y -qq darknet >>"$log" 2>&1; }; then
        say "took path: installed the distribution's package: $(command -v darknet) (pjreddie's fork, CPU only)"
        exit 0
    fi
    say "apt-get install darknet failed: $(tail -n 2 "$log" | tr '\n' ' ')"
fi

pinned=$(git ls-files -s -- "$dir" 2>/dev/null | cut -d" " -f2)
cat >&2 <<MSG
error: no darknet found, and none could be got here: ${build_failed:-the AlexeyAB submodule ($dir) could not be fetched (offline, or no git access to github.com)}, and apt-get cannot be used (not root, no passwordless sudo, or no apt-get).
  Do one of these, then re-run the same make command:
    sudo apt-get install darknet                  (the distribution's darknet: pjreddie's fork, CPU only)
    make reproduce DARKNET=/path/to/darknet       (a darknet you already have; or export DARKNET=...)
    copy a checkout of AlexeyAB/darknet${pinned:+ at $pinned} into $dir   (it is then built for you)
MSG
exit 1
