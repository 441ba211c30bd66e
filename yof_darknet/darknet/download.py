"""Download the pretrained ``yolov3-tiny.weights`` (checked) and make ``yolov3-tiny.conv.15``.

The file is tried from each of ``PRETRAINED_URLS`` in turn (the original, then mirrors; every one
is held to the same SHA-256, so a mirror can only make the download possible, never change what
is trained); ``$YOF_WEIGHTS_URL`` (one URL, or several separated by spaces) replaces the list.
The transfer goes to ``<name>.part`` and resumes from there with an HTTP Range request (after an
interruption, within a call or on the next run); the file gets its real name only after its
SHA-256 matched.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import requests

from yof_darknet.darknet.profiles import TEMPLATE
from yof_darknet.errors import DarknetError
from yof_darknet.fileio import open_output, sha256_file
from yof_darknet.formats.weights import partial
from yof_darknet.progress import Progress

PRETRAINED_URL = "https://pjreddie.com/media/files/yolov3-tiny.weights"
# Mirrors of the same file: pjreddie's own data host, and a copy on GitHub that public Dockerfiles
# and scripts download (e.g. smarthomefans/darknet-test); both are checked against the SHA-256.
PRETRAINED_URLS = (
    PRETRAINED_URL,
    "https://data.pjreddie.com/files/yolov3-tiny.weights",
    "https://github.com/smarthomefans/darknet-test/raw/master/yolov3-tiny.weights",
)
# SHA-256 and size of pjreddie's yolov3-tiny.weights (COCO), as pinned by independent public
# download code, e.g. alianse777/darknet-rust examples/tiny_yolov3_inference.rs
# (WEIGHTS_SHA256_HASH) and the TensorFlow Model Garden's YOLO file manager; the size equals
# the 20-byte header plus the 8,858,734 float32 parameters of cfg/yolov3-tiny.cfg (80 classes).
PRETRAINED_SHA256 = "dccea06f59b781ec1234ddf8d1e94b9519a97f4245748a7d4db75d5b7080a42c"
PRETRAINED_BYTES = 35_434_956
CONV15_NAME = "yolov3-tiny.conv.15"
_CHUNK = 1 << 16
_ATTEMPTS = 3
_TIMEOUT_S = 30
_RETRIED = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,  # the body ended early
)


class SourceFailed(DarknetError):
    """One source did not give the file: ``reason`` says how, the message adds what to do."""

    def __init__(self, reason: str, advice: str) -> None:
        super().__init__(f"{reason}; {advice}")
        self.reason = reason


def _brief(error: Exception) -> str:
    """A network error in a few words (requests' own text runs to several lines of repr)."""
    text = str(error)
    if "NameResolutionError" in text or "Failed to resolve" in text:
        return "host not found"
    if "Connection refused" in text:
        return "connection refused"
    if isinstance(error, requests.Timeout):
        return "timed out"
    return text if len(text) <= 120 else type(error).__name__


def _offline_advice(dest: Path) -> str:
    return (
        f"Offline? Fetch the file elsewhere and put it at {dest} (its SHA-256 is checked), or "
        "set YOF_WEIGHTS_URL to a mirror"
    )


@dataclass(frozen=True)
class Pretrained:
    weights: Path  # yolov3-tiny.weights (checked)
    conv15: Path  # its first 15 layers, seen = 0
    notes: tuple[str, ...] = ()  # files found wrong and moved aside


def _transfer(url: str, part: Path, progress: bool) -> None:
    """Append the rest of ``url`` to ``part`` (Range from its size); raises requests errors."""
    have = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    with requests.get(url, headers=headers, stream=True, timeout=_TIMEOUT_S) as response:
        if response.status_code == 416:  # already complete
            return
        if response.status_code == 404:
            raise SourceFailed(f"{url}: 404 not found", "set YOF_WEIGHTS_URL to a working mirror")
        response.raise_for_status()
        if have and response.status_code != 206:  # the server ignored Range: start over
            have = 0
        total = int(response.headers.get("Content-Length", 0)) + have
        with (
            open_output(part, append=bool(have)) as handle,
            Progress(
                part.name.removesuffix(".part"),
                total=total or None,
                initial=have,
                unit="B",
                unit_scale=True,
                enabled=progress,
            ) as reporter,
        ):
            for block in response.iter_content(_CHUNK):
                handle.write(block)
                reporter.update(len(block))
        if total and part.stat().st_size < total:
            raise requests.ConnectionError(f"transfer ended at {part.stat().st_size} of {total}")


def download(url: str, dest: Path, sha256: str, *, progress: bool = True) -> Path:
    """``url`` → ``dest`` (atomic), resumed from ``dest.part``, refused unless SHA-256 matches."""
    dest = Path(dest)
    if dest.is_file() and sha256_file(dest) == sha256:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    error: Exception | None = None
    for _ in range(_ATTEMPTS):
        try:
            _transfer(url, part, progress)
            error = None
            break
        except _RETRIED as exc:
            error = exc
        except requests.HTTPError as exc:
            raise SourceFailed(f"{url}: {exc}", "set YOF_WEIGHTS_URL to a working mirror") from exc
    if error is not None:
        kept = part.stat().st_size if part.exists() else 0
        resume = (
            f" ({part} keeps the {kept} bytes that arrived; the next run resumes)" if kept else ""
        )
        raise SourceFailed(
            f"cannot download {url} ({_brief(error)}){resume if kept else ''}",
            _offline_advice(dest),
        ) from error
    got = sha256_file(part)
    if got != sha256:
        part.unlink()
        raise SourceFailed(
            f"{url}: SHA-256 {got} does not match the expected {sha256}; the file was deleted",
            "a proxy or mirror served something else: set YOF_WEIGHTS_URL to the original file",
        )
    os.replace(part, dest)
    return dest


def pretrained_urls() -> tuple[str, ...]:
    """``$YOF_WEIGHTS_URL`` (space-separated) when set, else the original and its mirrors."""
    given = os.environ.get("YOF_WEIGHTS_URL", "").split()
    return tuple(given) or PRETRAINED_URLS


def download_first(urls: Sequence[str], dest: Path, sha256: str, *, progress: bool = True) -> Path:
    """``download`` from the first of ``urls`` that works; the error names every failure."""
    failures: list[SourceFailed] = []
    for url in urls:
        try:
            return download(url, dest, sha256, progress=progress)
        except SourceFailed as exc:
            failures.append(exc)
    if len(failures) == 1:
        raise failures[0]
    listed = "; ".join(f"({n}) {failure.reason}" for n, failure in enumerate(failures, 1))
    raise DarknetError(f"no source of {dest.name} worked: {listed}. {_offline_advice(dest)}")


def set_aside(path: Path, why: str) -> str:
    """Move a wrong file out of the way (kept, never deleted: it may be the user's) and say so."""
    aside = path.with_name(f"{path.name}.rejected-{time.strftime('%Y%m%d-%H%M%S')}")
    os.replace(path, aside)
    return f"{path}: {why}; moved aside to {aside}"


def _check_placed(weights: Path, sha256: str) -> str | None:
    """A hand-placed ``yolov3-tiny.weights`` that is not pjreddie's file: moved aside, said."""
    if not weights.is_file():
        return None
    got = sha256_file(weights)
    if got == sha256:
        return None
    size = weights.stat().st_size
    return set_aside(
        weights,
        f"not pjreddie's yolov3-tiny.weights (SHA-256 {got[:16]}..., {size} bytes; expected "
        f"{sha256[:16]}..., {PRETRAINED_BYTES} bytes)",
    )


def fetch_pretrained(
    out_dir: Path,
    *,
    urls: Sequence[str] | None = None,
    sha256: str | None = None,
    progress: bool = True,
) -> Pretrained:
    """``out_dir/yolov3-tiny.weights`` (from ``pretrained_urls()``) and its conv.15.

    A ``yolov3-tiny.weights`` already there with another SHA-256 (a hand-placed file from
    elsewhere) is moved aside and reported, and so is a ``yolov3-tiny.conv.15`` that is not
    the first 15 layers of the checked weights; the right ones are then made.
    """
    out_dir = Path(out_dir)
    sha256 = sha256 or PRETRAINED_SHA256
    dest = out_dir / "yolov3-tiny.weights"
    notes = [note] if (note := _check_placed(dest, sha256)) else []
    try:
        weights = download_first(urls or pretrained_urls(), dest, sha256, progress=progress)
    except DarknetError as exc:
        raise DarknetError(" ".join([*notes, str(exc)])) from exc
    conv15 = out_dir / CONV15_NAME
    expected = out_dir / f".{CONV15_NAME}.expected"
    partial(TEMPLATE, weights, expected, 15)
    if conv15.is_file() and conv15.read_bytes() != expected.read_bytes():
        notes.append(set_aside(conv15, "not the first 15 layers of yolov3-tiny.weights"))
    os.replace(expected, conv15)
    return Pretrained(weights, conv15, tuple(notes))
