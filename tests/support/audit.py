"""The files this process opens, as Python's audit hook sees them (``open`` events: ``open()``,
``os.open``, ``Path.read_bytes``...; not the C++ reads of OpenCV or ONNX Runtime)."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

_recording: list[list[str]] = []
_installed = False


def _hook(event: str, args: tuple) -> None:
    if event == "open" and _recording and isinstance(args[0], (str, bytes, os.PathLike)):
        _recording[-1].append(os.path.abspath(os.fsdecode(args[0])))


@contextlib.contextmanager
def opened_files() -> Iterator[list[str]]:
    """The absolute paths opened inside the block, in order (an audit hook cannot be removed,
    so one hook is installed once and records only inside such a block)."""
    global _installed
    if not _installed:
        sys.addaudithook(_hook)
        _installed = True
    log: list[str] = []
    _recording.append(log)
    try:
        yield log
    finally:
        _recording.remove(log)
