"""The one safe-name policy: the file names the toolkit writes, and the lines it hands Darknet.

Why names matter to Darknet:

- pjreddie's darknet (Debian's package, built with OpenCV) runs ``system("echo <path> >>
  bad.list")`` with the path of every image it cannot load, so ``$(...)``, backquotes, ``;`` or
  ``${IFS}`` in a listed path are run by the shell; a leading ``-`` is read as an option;
- both forks rewrite ``images``, ``raw``, ``JPEGImages`` and ``.jpg`` anywhere in a path to find
  the label (``formats.labels``);
- a name that is not UTF-8 breaks every text reader (and OpenCV: a ``str`` holding the lone
  surrogate Python decodes such bytes to crashes it);
- a name near the file system's 255-byte limit leaves no room for the temporary name an atomic
  write needs beside it (``.<name>.<pid>.<thread>.tmp<suffix>``).

So every name the toolkit writes for Darknet (converted images, their labels, video folders)
holds only ``SAFE_CHARS`` (ASCII letters, digits, ``. _ + -``), starts with neither ``-`` nor
``.``, has at most ``MAX_NAME`` characters and no substring a fork rewrites; ``safe_stem``
turns any other name into one (recorded by the converters in ``renamed.tsv``). Every line of a
list handed to Darknet passes ``list_line_problem``: the folders above a name (a user's output
folder) may also hold ``, : @ % =`` and non-ASCII letters, none of which a shell interprets.
"""

from __future__ import annotations

import hashlib
import string
from collections.abc import Iterable
from pathlib import Path

from yof_darknet.core.errors import DatasetError, YofError

SAFE_CHARS = frozenset(string.ascii_letters + string.digits + "._+-")
# Characters a POSIX shell reads as themselves anywhere in a word (besides SAFE_CHARS and "/").
_INERT_IN_PATHS = frozenset(",:@%=/")
MAX_NAME = 100  # characters (ASCII: bytes) of a written file name, suffix included
_HASH = 8  # hex digits of the original name's SHA-1 appended to a changed name
# Substrings either fork rewrites inside an image path (formats.labels.pjreddie_label_path).
REWRITTEN = ("JPEGImages", "images", "raw", ".jpg", ".png", ".JPG", ".JPEG")


def name_problem(name: str, limit: int = MAX_NAME) -> str | None:
    """Why ``name`` breaks the policy (or None).

    >>> name_problem("angry_actor_104.jpg") is None
    True
    >>> name_problem("inj$(touch${IFS}X).jpg")
    "holds '$', '(', ')', '{', '}' (only letters, digits and . _ + - are safe)"
    """
    bad = sorted({c for c in name if c not in SAFE_CHARS})
    if bad:
        shown = ", ".join(repr(c) for c in bad[:8])
        return f"holds {shown} (only letters, digits and . _ + - are safe)"
    if not name or name[0] in "-.":
        return "starts with '-' or '.' (read as an option, or hidden)"
    if len(name) > limit:
        return f"longer than {limit} characters"
    return None


def _key_bytes(key: str) -> bytes:
    return key.encode("utf-8", "surrogateescape")


def safe_stem(
    stem: str, key: str | None = None, *, hashed: bool = False, limit: int = MAX_NAME - 4
) -> str:
    """A file or folder name (without suffix) that follows the policy: ``stem`` itself when it
    already does.

    Otherwise every character outside ``SAFE_CHARS`` (bytes that are not UTF-8 included)
    becomes ``_``, a leading ``-`` or ``.`` too, an underscore goes inside each substring a fork
    rewrites (``raw`` as in ``drawing`` → ``r_aw``), the result is cut to ``limit`` characters
    with 8 hex digits of the SHA-1 of ``key`` (default ``stem``; its bytes as on disk) appended,
    so that two originals never meet; ``hashed`` forces that form.

    >>> safe_stem("angry_actor_104")
    'angry_actor_104'
    >>> safe_stem("inj$(touch${IFS}X)")
    'inj__touch__IFS_X__4720acc4'
    """
    if not hashed and name_problem(stem, limit) is None and not any(t in stem for t in REWRITTEN):
        return stem
    safe = "".join(c if c in SAFE_CHARS else "_" for c in stem)
    if safe[:1] in ("-", "."):
        safe = "_" + safe[1:]
    for token in REWRITTEN:
        safe = safe.replace(token, f"{token[0]}_{token[1:]}")
    digest = hashlib.sha1(_key_bytes(stem if key is None else key)).hexdigest()[:_HASH]
    return f"{safe[: limit - _HASH - 1]}_{digest}"


def list_line_problem(line: str) -> str | None:
    """Why Darknet must not be handed ``line`` (an image path in a list), or None.

    >>> list_line_problem("/data/out/expw/angry_actor_104.jpg") is None
    True
    >>> list_line_problem("/data/out/expw/inj$(touch${IFS}X).jpg")[:40]
    "holds '$', '(', ')', '{', '}', which a s"
    """
    bad = sorted(
        {c for c in line if c not in SAFE_CHARS and c not in _INERT_IN_PATHS and ord(c) < 128}
    )
    if bad:
        shown = ", ".join(repr(c) for c in bad[:8])
        return (
            f"holds {shown}, which a shell interprets (darknet passes the paths of images it "
            "cannot load to the shell)"
        )
    if not line or line.startswith("-"):
        return "starts with '-' (darknet's shell would read it as an option)"
    return None


def check_list_lines(
    lines: Iterable[str], where: Path | str, *, error: type[YofError] = DatasetError
) -> None:
    """Raise ``error`` naming ``where`` and the first line that breaks ``list_line_problem``."""
    for number, line in enumerate(lines, start=1):
        problem = list_line_problem(line)
        if problem is not None:
            raise error(
                f"{where}:{number}: {line!r} {problem}; rename the file (`yof-darknet datasets` "
                "renames such images and records it in renamed.tsv) or move it to a folder "
                "whose path has none of these characters"
            )
