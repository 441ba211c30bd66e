"""Download the pretrained ``yolov3-tiny.weights`` (checked) and make ``yolov3-tiny.conv.15``.

The transfer goes to ``<name>.part`` and resumes from there with an HTTP Range request (after an
interruption, within a call or on the next run); the file gets its real name only after its
SHA-256 matched.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import requests
from tqdm import tqdm

from yof_darknet.darknet.profiles import TEMPLATE
from yof_darknet.errors import DarknetError
from yof_darknet.fileio import sha256_file
from yof_darknet.formats.weights import partial

PRETRAINED_URL = "https://pjreddie.com/media/files/yolov3-tiny.weights"
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


@dataclass(frozen=True)
class Pretrained:
    weights: Path  # yolov3-tiny.weights (checked)
    conv15: Path  # its first 15 layers, seen = 0


def _transfer(url: str, part: Path, progress: bool) -> None:
    """Append the rest of ``url`` to ``part`` (Range from its size); raises requests errors."""
    have = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    with requests.get(url, headers=headers, stream=True, timeout=_TIMEOUT_S) as response:
        if response.status_code == 416:  # already complete
            return
        if response.status_code == 404:
            raise DarknetError(f"{url}: 404 not found; set YOF_WEIGHTS_URL to a working mirror")
        response.raise_for_status()
        if have and response.status_code != 206:  # the server ignored Range: start over
            have = 0
        total = int(response.headers.get("Content-Length", 0)) + have
        mode = "ab" if have else "wb"
        with (
            part.open(mode) as handle,
            tqdm(
                total=total or None,
                initial=have,
                unit="B",
                unit_scale=True,
                desc=part.name.removesuffix(".part"),
                disable=not progress,
            ) as bar,
        ):
            for block in response.iter_content(_CHUNK):
                handle.write(block)
                bar.update(len(block))
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
            raise DarknetError(f"{url}: {exc}; set YOF_WEIGHTS_URL to a working mirror") from exc
    if error is not None:
        kept = part.stat().st_size if part.exists() else 0
        resume = (
            f"{part} keeps the {kept} bytes that arrived; the next run resumes. " if kept else ""
        )
        raise DarknetError(
            f"cannot download {url} ({error}); {resume}Offline? Fetch the file elsewhere and "
            f"put it at {dest} (its SHA-256 is checked), or set YOF_WEIGHTS_URL to a mirror"
        ) from error
    got = sha256_file(part)
    if got != sha256:
        part.unlink()
        raise DarknetError(
            f"{url}: SHA-256 {got} does not match the expected {sha256}; the file was deleted. "
            "A proxy or mirror served something else: set YOF_WEIGHTS_URL to the original file"
        )
    os.replace(part, dest)
    return dest


def fetch_pretrained(out_dir: Path, *, progress: bool = True) -> Pretrained:
    """``out_dir/yolov3-tiny.weights`` (from ``$YOF_WEIGHTS_URL`` or pjreddie) and its conv.15."""
    out_dir = Path(out_dir)
    url = os.environ.get("YOF_WEIGHTS_URL") or PRETRAINED_URL
    weights = download(url, out_dir / "yolov3-tiny.weights", PRETRAINED_SHA256, progress=progress)
    conv15 = out_dir / CONV15_NAME
    if not conv15.is_file():
        partial(TEMPLATE, weights, conv15, 15)
    return Pretrained(weights, conv15)
