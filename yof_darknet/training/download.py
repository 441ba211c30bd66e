"""Download an architecture's released COCO weights (checked) and cut its pretrained layers.

``fetch_pretrained(out, arch="yolov4-tiny")`` gives ``yolov4-tiny.weights`` and
``yolov4-tiny.conv.29`` (the cut rule of each architecture is in :mod:`.archs`; the default
yolov3-tiny gives ``yolov3-tiny.conv.15``, which yolov3-tiny-3l shares). The file is tried from
each of the architecture's URLs in turn (the original, then mirrors; every one is held to the
same SHA-256, so a mirror can only make the download possible, never change what is trained);
``$YOF_WEIGHTS_URL`` (one URL, or several separated by spaces) replaces the list. The transfer
goes to ``<name>.part`` and resumes from there with an HTTP Range request (after an
interruption, within a call or on the next run); the file gets its real name only after its
SHA-256 matched. Weights without a publicly pinned SHA-256 (yolov7-tiny) are never downloaded:
a copy put there by hand is checked against the architecture's size and cut.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import requests

from yof_darknet.core.errors import DarknetError
from yof_darknet.core.fileio import commit, open_output, sha256_file
from yof_darknet.core.progress import Progress
from yof_darknet.formats.cfg import read_cfg, set_classes
from yof_darknet.formats.weights import partial, weights_bytes
from yof_darknet.training.archs import DEFAULT_ARCH, PretrainedCut, get_arch

_PAPER = get_arch(DEFAULT_ARCH).pretrained
PRETRAINED_URLS = _PAPER.urls
PRETRAINED_URL = PRETRAINED_URLS[0]
PRETRAINED_SHA256 = _PAPER.sha256
PRETRAINED_BYTES = _PAPER.size
CONV15_NAME = _PAPER.cut_name
COCO_CLASSES = 80  # what the released weights were trained on
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
    weights: Path  # the released COCO weights (checked), e.g. yolov3-tiny.weights
    cut: Path  # their first layers, seen = 0, e.g. yolov3-tiny.conv.15
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
    commit(part, dest)  # renamed (a stream at dest gets the bytes)
    return dest


def pretrained_urls(spec: PretrainedCut = _PAPER) -> tuple[str, ...]:
    """``$YOF_WEIGHTS_URL`` (space-separated) when set, else the original and its mirrors."""
    given = os.environ.get("YOF_WEIGHTS_URL", "").split()
    return tuple(given) or spec.urls


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


def coco_bytes(spec: PretrainedCut) -> int:
    """Size of the released file: the 20-byte header and every layer of the 80-class cfg."""
    sections = read_cfg(get_arch(spec.source_arch).template)
    set_classes(sections, COCO_CLASSES)
    return 20 + weights_bytes(sections)


def _check_placed(weights: Path, spec: PretrainedCut, sha256: str | None) -> str | None:
    """A hand-placed weights file that is not the released one: moved aside, said."""
    if not weights.is_file():
        return None
    size = weights.stat().st_size
    if sha256 is None:
        expected = coco_bytes(spec)
        if size == expected:
            return None
        return set_aside(
            weights,
            f"not the released {spec.weights} ({size} bytes; its {COCO_CLASSES}-class cfg "
            f"needs {expected})",
        )
    got = sha256_file(weights)
    if got == sha256:
        return None
    return set_aside(
        weights,
        f"not the released {spec.weights} (SHA-256 {got[:16]}..., {size} bytes; expected "
        f"{sha256[:16]}..., {coco_bytes(spec)} bytes)",
    )


def fetch_pretrained(
    out_dir: Path,
    *,
    arch: str = DEFAULT_ARCH,
    urls: Sequence[str] | None = None,
    sha256: str | None = None,
    progress: bool = True,
) -> Pretrained:
    """``out_dir/<released weights>`` of ``arch`` (from ``pretrained_urls()``) and their cut.

    A weights file already there with another SHA-256 (a hand-placed file from elsewhere) is
    moved aside and reported, and so is a cut that is not the first layers of the checked
    weights; the right ones are then made.
    """
    out_dir = Path(out_dir)
    spec = get_arch(arch).pretrained
    sha256 = sha256 or spec.sha256
    dest = out_dir / spec.weights
    notes = [note] if (note := _check_placed(dest, spec, sha256)) else []
    if sha256 is None:
        if not dest.is_file():
            unpinned = (
                f"no SHA-256 of {spec.weights} is pinned by public code, so it is not "
                f"downloaded: fetch it yourself ({spec.urls[0]}), put it at {dest} (its size is "
                f"checked against the {COCO_CLASSES}-class {spec.source_arch} cfg) and run again"
            )
            raise DarknetError(" ".join([*notes, unpinned]))
        weights = dest
    else:
        try:
            weights = download_first(urls or pretrained_urls(spec), dest, sha256, progress=progress)
        except DarknetError as exc:
            raise DarknetError(" ".join([*notes, str(exc)])) from exc
    cut = out_dir / spec.cut_name
    expected = out_dir / f".{spec.cut_name}.expected"
    partial(get_arch(spec.source_arch).template, weights, expected, spec.layers)
    if cut.is_file() and cut.read_bytes() != expected.read_bytes():
        notes.append(set_aside(cut, f"not the first {spec.layers} layers of {spec.weights}"))
    commit(expected, cut)
    return Pretrained(weights, cut, tuple(notes))
