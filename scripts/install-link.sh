#!/usr/bin/env bash
# `make install` / `make uninstall`: put yof-darknet on PATH as a link BINDIR/yof-darknet to the
# project's .venv/bin/yof-darknet (TARGET), or take that link away. A file there that is not a
# link, or a link to another program, is never replaced or removed: it says so and stops.
set -euo pipefail
action=${1:?usage: install-link.sh install|uninstall}
: "${BINDIR:?BINDIR= the folder for the link}" "${TARGET:?TARGET= the .venv command}"
link=$BINDIR/yof-darknet

ours() { [ -L "$link" ] && [ "$(readlink "$link")" = "$TARGET" ]; }

case $action in
install)
    [ -x "$TARGET" ] || { echo "install: $TARGET is missing: run make first" >&2; exit 1; }
    if [ -e "$link" ] || [ -L "$link" ]; then
        if ! ours && ! { [ -L "$link" ] && [[ "$(readlink "$link")" == */.venv/bin/yof-darknet ]]; }; then
            echo "install: $link exists and is not a link to a yof-darknet .venv: move it away first" >&2
            exit 1
        fi
    fi
    mkdir -p "$BINDIR"
    ln -sfn "$TARGET" "$link"
    echo "yof-darknet: $link -> $TARGET"
    case ":$PATH:" in
    *":$BINDIR:"*) ;;
    *) echo "note: $BINDIR is not on PATH; add this line to ~/.profile (or ~/.bashrc), then open a new shell:"
       echo "  export PATH=\"$BINDIR:\$PATH\"" ;;
    esac
    ;;
uninstall)
    if ours; then
        rm -f "$link"
        echo "removed $link"
    elif [ -e "$link" ] || [ -L "$link" ]; then
        echo "uninstall: $link is not this project's link: left alone" >&2
        exit 1
    else
        echo "nothing to remove: no $link"
    fi
    ;;
*) echo "usage: install-link.sh install|uninstall" >&2; exit 2 ;;
esac
