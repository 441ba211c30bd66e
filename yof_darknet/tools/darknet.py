"""Find the darknet binary and tell what it is by running it, never from its path.

Three flavors exist in the wild and behave differently (see the fixtures' README):

* ``alexeyab``: AlexeyAB/darknet (``make darknet`` builds it): ``detector map``, ``calc_anchors``,
  ``-dont_show`` and ``-map``; prints `` GPU isn't used`` or `` CUDA-version: ...`` first.
* ``hank-ai``: the maintained continuation ("Darknet V5"): ``darknet version`` names it; a CPU-only
  build asks ``Type "yes"`` on stdin before training.
* ``pjreddie``: the 2018 original (Debian's ``apt install darknet``): no ``map``, no extra flags,
  and an unknown flag silently becomes the weights path.

Usage::

    darknet = find_darknet()            # --darknet / $DARKNET, third_party/darknet, then PATH
    darknet.flavor, darknet.has_map
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from yof_darknet.core.errors import DarknetError
from yof_darknet.formats.cfg import Section
from yof_darknet.formats.trainlog import strip_escapes
from yof_darknet.tools.runner import run

ROOT = Path(__file__).resolve().parents[2]
SUBMODULE_BINARY = ROOT / "third_party" / "darknet" / "darknet"
FLAVORS = ("alexeyab", "hank-ai", "pjreddie")
_PROBE_TIMEOUT_S = 30
INSTALL_HINT = (
    "run `make darknet` (builds AlexeyAB's darknet in third_party/darknet), install the "
    "distribution package (`sudo apt install darknet`, CPU only), or point "
    "DARKNET=/path/to/darknet (or --darknet) at a binary you built"
)


# What pjreddie's 2018 parser knows (src/parser.c string_to_layer_type, src/activations.c
# get_activation): anything else it reads as something else without failing (an unknown
# activation becomes relu, unknown options are ignored), so a newer cfg would train a
# different network than the one written.
_PJREDDIE_LAYERS = frozenset((
    "shortcut", "crop", "cost", "detection", "region", "yolo", "iseg", "local", "conv",
    "convolutional", "deconv", "deconvolutional", "activation", "logistic", "l2norm", "net",
    "network", "crnn", "gru", "lstm", "rnn", "conn", "connected", "max", "maxpool", "reorg", "avg",
    "avgpool", "dropout", "lrn", "normalization", "batchnorm", "soft", "softmax", "route",
    "upsample",
))  # fmt: skip
_PJREDDIE_ACTIVATIONS = frozenset((
    "logistic", "loggy", "relu", "elu", "selu", "relie", "plse", "hardtan", "lhtan", "linear",
    "ramp", "leaky", "tanh", "stair",
))  # fmt: skip
ALEXEYAB_HINT = (
    "AlexeyAB's fork can: `make darknet` builds the pinned third_party/darknet (found first "
    "from then on), or point DARKNET=/path/to/darknet (or --darknet) at an AlexeyAB or hank-ai "
    "build"
)


def flavor_problems(flavor: str, sections: list[Section]) -> list[str]:
    """What in a cfg darknet ``flavor`` cannot run as written (empty: it can)."""
    if flavor != "pjreddie":
        return []
    found: dict[str, None] = {}  # ordered set of reasons
    for section in sections[1:]:
        where = f"line {section.line}" if section.line else f"[{section.name}]"
        if section.name not in _PJREDDIE_LAYERS:
            found[f"layer [{section.name}] ({where})"] = None
        if section.name == "route" and int(section.get("groups", "1") or 1) > 1:
            found[f"grouped [route] groups={section.get('groups')} ({where})"] = None
        activation = section.get("activation")
        if activation is not None and activation not in _PJREDDIE_ACTIVATIONS:
            found[f"activation={activation} ({where})"] = None
        if section.name == "yolo":
            if float(section.get("scale_x_y", "1") or 1) != 1:
                found[f"[yolo] scale_x_y={section.get('scale_x_y')} ({where})"] = None
            if int(float(section.get("new_coords", "0") or 0)):
                found[f"[yolo] new_coords=1 ({where})"] = None
            loss = section.get("iou_loss", "mse")
            if loss != "mse":
                found[f"[yolo] iou_loss={loss} ({where})"] = None
    # one example line per kind keeps the message short
    kinds: dict[str, str] = {}
    for reason in found:
        kinds.setdefault(reason.split(" (")[0], reason)
    return list(kinds.values())


def check_can_run(darknet: Darknet, sections: list[Section], source: str) -> None:
    """Raise, naming what and the build that can, unless ``darknet`` runs ``sections``."""
    problems = flavor_problems(darknet.flavor, sections)
    if problems:
        raise DarknetError(
            f"{source}: {darknet.path} is pjreddie's 2018 darknet (Debian's package), which "
            f"cannot train or run this network: {', '.join(problems)}. {ALEXEYAB_HINT}"
        )


@dataclass(frozen=True)
class Darknet:
    """A darknet binary and what probing it revealed."""

    path: Path
    flavor: str  # one of FLAVORS
    version: str  # as printed, else the git commit or Debian package version, else "unknown"
    has_map: bool  # `detector map`
    has_dont_show: bool  # `-dont_show`
    has_map_flag: bool  # `detector train ... -map`
    has_calc_anchors: bool  # `detector calc_anchors`
    gpu: bool  # built with CUDA
    cudnn: str | None = None  # cuDNN version when built with it ("" if present, version unknown)
    opencv: str | None = None  # OpenCV version when built with it ("" if present, version unknown)

    @property
    def asks_yes_to_train_on_cpu(self) -> bool:
        """hank-ai's CPU builds wait for ``yes`` on stdin before training."""
        return self.flavor == "hank-ai" and not self.gpu


def _run(args: list[str]) -> str:
    """stdout + stderr of a probe run, escapes removed (cwd: an empty temporary folder)."""
    with tempfile.TemporaryDirectory(prefix="yof-probe-") as cwd:
        try:
            done = run(args, cwd=Path(cwd), timeout=_PROBE_TIMEOUT_S)
        except subprocess.TimeoutExpired as exc:
            raise DarknetError(f"{args[0]}: `{' '.join(args[1:])}` hung for 30 s") from exc
        except OSError as exc:
            raise DarknetError(f"{args[0]}: cannot run it ({exc}); {INSTALL_HINT}") from exc
    return strip_escapes(done.stdout + done.stderr)


def _linked_libraries(path: Path) -> str:
    """``ldd`` output (empty when unavailable): tells CUDA/cuDNN/OpenCV of a silent binary."""
    ldd = shutil.which("ldd")
    return "" if ldd is None else run([ldd, str(path)]).stdout


def _version_from_source(path: Path) -> str:
    """The git commit of the checkout holding ``path`` or its Debian package version."""
    git = shutil.which("git")
    if git and (path.parent / ".git").exists():
        done = run([git, "-C", str(path.parent), "describe", "--always", "--tags", "--dirty"])
        if done.returncode == 0 and done.stdout.strip():
            return f"git {done.stdout.strip()}"
    dpkg = shutil.which("dpkg")
    if dpkg:
        owner = run([dpkg, "-S", str(path)])
        if owner.returncode == 0 and ":" in owner.stdout:
            package = owner.stdout.split(":", 1)[0].strip()
            query = run(["dpkg-query", "-W", "-f=${Version}", package])
            if query.returncode == 0 and query.stdout.strip():
                return f"{package} {query.stdout.strip()}"
    return "unknown"


def _library_version(pattern: str, text: str) -> str | None:
    match = re.search(pattern, text)
    return match.group(1) if match else None


def _linked_opencv_version(libraries: str) -> str | None:
    """``4.6.0`` from ldd's ``libopencv_core.so.406 => /lib/.../libopencv_core.so.406``."""
    match = re.search(r"libopencv_core\.so\.(\S+) => (\S+)", libraries)
    if not match:
        return None
    real = Path(match.group(2)).resolve().name
    return real.partition(".so.")[2] or match.group(1)


def probe(path: Path) -> Darknet:
    """Run ``path`` a few harmless ways and tell its flavor and capabilities."""
    path = Path(path).resolve()
    stat = path.stat()
    return _probe_cached(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=8)
def _probe_cached(path_text: str, _mtime_ns: int, _size: int) -> Darknet:
    path = Path(path_text)
    banner = _run([path_text, "version"])
    libraries = _linked_libraries(path)
    hank = re.search(r"Darknet V\d+\S*(?: \"[^\"]*\")? (v[\w.\-]+)", banner)
    if hank:
        gpu = "GPU is disabled" not in banner and "compiled to use the CPU" not in banner
        return Darknet(
            path, "hank-ai", hank.group(1), True, True, True, True, gpu,
            cudnn=_library_version(r"cuDNN[ :v]+(\d[\d.]*)", banner),
            opencv=_library_version(r"OpenCV (\d[\w.]*)", banner),
        )  # fmt: skip
    usage = _run([path_text, "detector"])
    if re.search(r"detector \[train/test/valid[^\]]*\bmap\b", usage):
        anchors = _run([path_text, "detector", "calc_anchors", "/nonexistent/yof-probe.data"])
        gpu = "CUDA-version" in usage
        return Darknet(
            path, "alexeyab", _version_from_source(path), True, True, True,
            "num_of_clusters" in anchors, gpu,
            cudnn=_library_version(r"cuDNN: (\d[\d.]*)", usage),
            opencv=_library_version(r"OpenCV version: (\d[\w.]*)", usage),
        )  # fmt: skip
    if "usage:" not in usage or "detector" not in usage:
        raise DarknetError(
            f"{path}: does not answer like darknet (`{path.name} detector` printed "
            f"{usage.strip()[:120]!r}); {INSTALL_HINT}"
        )
    anchors = _run([path_text, "detector", "calc_anchors", "/nonexistent/yof-probe.data"])
    return Darknet(
        path, "pjreddie", _version_from_source(path), False, False, False,
        "num_of_clusters" in anchors, "libcudart" in libraries,
        cudnn="" if "libcudnn" in libraries else None,
        opencv=_linked_opencv_version(libraries),
    )  # fmt: skip


def _candidates(explicit: Path | None) -> list[tuple[str, Path]]:
    found: list[tuple[str, Path]] = []
    if explicit is not None:
        found.append(("--darknet", Path(explicit)))
    elif os.environ.get("DARKNET"):
        found.append(("DARKNET", Path(os.environ["DARKNET"])))
    else:
        found.append(("third_party/darknet", SUBMODULE_BINARY))
        on_path = shutil.which("darknet")
        if on_path:
            found.append(("PATH", Path(on_path)))
    return found


def find_darknet(explicit: Path | None = None) -> Darknet:
    """The darknet to use: ``explicit``, else ``$DARKNET``, else the submodule build, else PATH.

    An explicit or ``$DARKNET`` path that is not an executable is an error (no silent fallback).
    """
    for origin, candidate in _candidates(explicit):
        binary = candidate / "darknet" if candidate.is_dir() else candidate
        if binary.is_file() and os.access(binary, os.X_OK):
            return probe(binary)
        if origin in ("--darknet", "DARKNET"):
            raise DarknetError(f"{origin}={candidate}: no darknet executable there; {INSTALL_HINT}")
    raise DarknetError(f"darknet not found; {INSTALL_HINT}")
