"""Each raw image decoded once at conversion: kept as it is, kept through a derived copy, or left
out under a counted reason, so that every Darknet build and our engines read the same pixels.

Darknet builds decode differently: Debian's darknet uses OpenCV 4.6 (no GIF; a truncated JPEG
comes back grey-padded; EXIF orientation applied), AlexeyAB's without OpenCV uses stb_image
(baseline and progressive Huffman JPEG of 1, 3 or 4 components at 8 bits, PNG of any depth, GIF,
BMP...; no EXIF), and an image neither can load becomes a 10x10 black stand-in, trained on and
scored as if real. So ``inspect_image`` decodes every image fully (Pillow, which refuses a
truncated file) and answers:

- ``missing_image``: no such file;
- ``unreadable_image``: not a regular file, not readable, or not an image Pillow knows (a
  header-only PNG included);
- ``undecodable_image``: a known header whose pixel data does not decode (truncated JPEG or PNG);
- ``animated_image``: several frames (GIF, WebP...): which one a box belongs to is unknown, and
  OpenCV 4.6 reads no GIF at all;
- else an ``ImageInfo`` with the stored size, the EXIF orientation and, where the decoders could
  disagree, why a derived copy must be written (``recode``: another format than JPEG/PNG, a
  JPEG stb_image cannot read such as arithmetic-coded or 12-bit).

``ImageChecks`` keeps the answers in ``OUT/<dataset>/image_checks.json`` keyed by the raw file's
size and modification time, so a re-run decodes only new or changed images.
"""

from __future__ import annotations

import errno
import io
import json
import os
import stat
from dataclasses import asdict, dataclass
from pathlib import Path

from yof_darknet.core.fileio import atomic_write_text
from yof_darknet.formats.imagefiles import EXIF_ORIENTATION

CHECKS_FILE = "image_checks.json"
CHECKS_VERSION = 1
IMAGE_REASONS = ("missing_image", "unreadable_image", "undecodable_image", "animated_image")
# JPEG start-of-frame markers stb_image reads: baseline, extended and progressive Huffman.
_STB_JPEG_FRAMES = (0xC0, 0xC1, 0xC2)
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # DHT, JPG and DAC are not frames


@dataclass(frozen=True)
class ImageInfo:
    """A usable image: stored size (pixels as saved, before any EXIF turn), EXIF orientation
    (1..8) and why it must be re-encoded for Darknet (None: its bytes can be used as they are)."""

    width: int
    height: int
    format: str = "JPEG"  # as Pillow names it
    orientation: int = 1
    recode: str | None = None

    @property
    def copy_suffix(self) -> str:
        """The suffix of a derived copy: ``.jpg`` for a JPEG source, else lossless ``.png``."""
        return ".jpg" if self.format in ("JPEG", "MPO") else ".png"


@dataclass(frozen=True)
class ImageProblem:
    reason: str  # one of IMAGE_REASONS
    why: str


def _jpeg_frame(data: bytes) -> tuple[int, int, int] | None:
    """(start-of-frame marker, sample precision, components) of a JPEG, None if not found."""
    index = 2
    while index + 4 <= len(data):
        if data[index] != 0xFF:
            return None
        marker = data[index + 1]
        if marker == 0xFF:  # fill byte
            index += 1
            continue
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:  # markers without a length
            index += 2
            continue
        if marker in _SOF and index + 10 <= len(data):
            return marker, data[index + 4], data[index + 9]
        if marker == 0xDA:  # scan data before any frame header
            return None
        index += 2 + int.from_bytes(data[index + 2 : index + 4], "big")
    return None


def _jpeg_recode(data: bytes) -> str | None:
    frame = _jpeg_frame(data)
    if frame is None:
        return "JPEG without a frame header stb_image finds"
    marker, precision, components = frame
    if marker not in _STB_JPEG_FRAMES:
        return f"JPEG frame type 0x{marker:02X} (arithmetic or lossless): stb_image cannot read it"
    if precision != 8 or components not in (1, 3):
        return f"JPEG of {components} components at {precision} bits"
    return None


def _orientation(image) -> int:
    try:
        value = image.getexif().get(EXIF_ORIENTATION, 1)
    except Exception:  # Pillow raises assorted errors on broken EXIF: taken as stored pixels
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _regular_bytes(path: Path) -> bytes | ImageProblem:
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return ImageProblem("missing_image", "no such file")
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:  # no file can have such a name
            return ImageProblem("missing_image", "name longer than the file system allows")
        return ImageProblem("unreadable_image", exc.strerror or str(exc))
    if not stat.S_ISREG(info.st_mode):
        return ImageProblem("unreadable_image", "not a regular file")
    try:
        return path.read_bytes()
    except OSError as exc:
        return ImageProblem("unreadable_image", exc.strerror or str(exc))


def inspect_image(path: Path) -> ImageInfo | ImageProblem:
    """Decode the image at ``path`` once and say how Darknet may use it (module docstring)."""
    from PIL import Image, UnidentifiedImageError

    data = _regular_bytes(path)
    if isinstance(data, ImageProblem):
        return data
    try:
        image = Image.open(io.BytesIO(data))
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return ImageProblem("unreadable_image", "not an image (no header Pillow knows)")
    with image:
        fmt, (width, height) = image.format or "?", image.size
        if width < 1 or height < 1:
            return ImageProblem("unreadable_image", f"{fmt} header gives size {width}x{height}")
        frames = getattr(image, "n_frames", 1)
        if fmt not in ("JPEG", "MPO") and frames > 1:
            return ImageProblem("animated_image", f"{fmt} of {frames} frames")
        orientation = _orientation(image)
        if fmt in ("JPEG", "MPO"):
            recode = _jpeg_recode(data)
            image.draft(image.mode, (max(1, width // 8), max(1, height // 8)))  # still reads all
        else:
            recode = None if fmt == "PNG" else f"{fmt} (Darknet builds disagree on it)"
        try:
            image.load()
        except (OSError, ValueError, SyntaxError, EOFError) as exc:
            return ImageProblem("undecodable_image", f"{fmt} pixel data does not decode ({exc})")
    return ImageInfo(width, height, fmt, orientation, recode)


def _key(path: Path) -> list[int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return [info.st_size, info.st_mtime_ns]


class ImageChecks:
    """``inspect_image`` answers of one dataset's raw images, kept in ``folder/CHECKS_FILE``."""

    def __init__(self, folder: Path) -> None:
        self.path = Path(folder) / CHECKS_FILE
        self.known: dict[str, list] = {}
        self.changed = False
        try:
            record = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        if isinstance(record, dict) and record.get("version") == CHECKS_VERSION:
            self.known = record.get("images", {})

    def check(self, image_dir: Path, name: str) -> ImageInfo | ImageProblem:
        """The answer for ``image_dir/name`` (stored one reused while the file is unchanged)."""
        path = Path(image_dir) / name
        key = _key(path)
        entry = self.known.get(name)
        if key is not None and entry is not None and entry[0] == key:
            kind, fields = entry[1], entry[2]
            return ImageInfo(**fields) if kind == "ok" else ImageProblem(**fields)
        answer = inspect_image(path)
        if key is not None and (answer_key := _key(path)) == key:  # unchanged while read
            kind = "ok" if isinstance(answer, ImageInfo) else "problem"
            self.known[name] = [answer_key, kind, asdict(answer)]
            self.changed = True
        return answer

    def save(self, names: set[str] | None = None) -> None:
        """Write the answers (only those of ``names`` when given) if any is new."""
        if not self.changed:
            return
        keep = self.known if names is None else {n: e for n, e in self.known.items() if n in names}
        record = {"version": CHECKS_VERSION, "images": keep}
        atomic_write_text(self.path, json.dumps(record, separators=(",", ":")) + "\n")
        self.changed = False
