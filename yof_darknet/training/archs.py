"""The detector architectures ``--arch`` chooses, each a template in ``assets/cfg/<arch>.cfg``
written from AlexeyAB's published cfg (the source is named in its header), and what follows from
the name: the run cfg ``<arch>.cfg``, darknet's ``<arch>_final.weights``, the default anchors
(the template's COCO anchors) and the pretrained layers to start from::

    arch = get_arch("yolov4-tiny")
    arch.template, arch.cfg_name, arch.final_weights, arch.pretrained.cut_name
    # assets/cfg/yolov4-tiny.cfg, yolov4-tiny.cfg, yolov4-tiny_final.weights, yolov4-tiny.conv.29

Import-light (the options module imports the names).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from yof_darknet.core.errors import DarknetError

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "cfg"
DEFAULT_ARCH = "yolov3-tiny"  # the paper's (Table I)

_PJREDDIE_URLS = (
    "https://pjreddie.com/media/files/yolov3-tiny.weights",
    # pjreddie's own data host, and a copy on GitHub that public Dockerfiles and scripts download
    "https://data.pjreddie.com/files/yolov3-tiny.weights",
    "https://github.com/smarthomefans/darknet-test/raw/master/yolov3-tiny.weights",
)
_ALEXEYAB_RELEASES = "https://github.com/AlexeyAB/darknet/releases/download"


@dataclass(frozen=True)
class PretrainedCut:
    """COCO weights released with an architecture and how many leading layers to keep (the
    class-independent backbone, AlexeyAB's ``darknet partial`` rule for that model)."""

    weights: str  # the released file, e.g. yolov4-tiny.weights
    source_arch: str  # the architecture those weights belong to (the cut is made with its cfg)
    layers: int
    urls: tuple[str, ...]  # the original first, then mirrors; all held to ``sha256``
    # SHA-256 and size as pinned by public download code; None where no public pin was found:
    # then nothing is downloaded and a file put there by hand is only size-checked.
    sha256: str | None
    size: int | None

    @property
    def cut_name(self) -> str:
        return f"{self.source_arch}.conv.{self.layers}"


_YOLOV3_TINY = PretrainedCut(
    "yolov3-tiny.weights",
    "yolov3-tiny",
    15,
    _PJREDDIE_URLS,
    # alianse777/darknet-rust examples/tiny_yolov3_inference.rs (WEIGHTS_SHA256_HASH) and the
    # TensorFlow Model Garden's YOLO file manager; 20-byte header + 8,858,734 float32 (80 classes)
    "dccea06f59b781ec1234ddf8d1e94b9519a97f4245748a7d4db75d5b7080a42c",
    35_434_956,
)
_YOLOV4_TINY = PretrainedCut(
    "yolov4-tiny.weights",
    "yolov4-tiny",
    29,
    (
        f"{_ALEXEYAB_RELEASES}/darknet_yolo_v4_pre/yolov4-tiny.weights",
        f"{_ALEXEYAB_RELEASES}/yolov4/yolov4-tiny.weights",
    ),
    # openvinotoolkit/open_model_zoo models/public/yolo-v4-tiny-tf/model.yml
    "cf9fbfd0f6d4869b35762f56100f50ed05268084078805f0e7989efe5bb8ca87",
    24_251_276,
)
_YOLOV7_TINY = PretrainedCut(
    "yolov7-tiny.weights",
    "yolov7-tiny",
    87,
    (f"{_ALEXEYAB_RELEASES}/yolov4/yolov7-tiny.weights",),
    None,
    None,
)


@dataclass(frozen=True)
class Arch:
    name: str
    pretrained: PretrainedCut
    summary: str  # one line for --help and the README

    @property
    def template(self) -> Path:
        return ASSETS / f"{self.name}.cfg"

    @property
    def cfg_name(self) -> str:
        """The run cfg's name; darknet names its weights after it (``<stem>_final.weights``)."""
        return f"{self.name}.cfg"

    @property
    def final_weights(self) -> str:
        return f"{self.name}_final.weights"


ARCHS: dict[str, Arch] = {
    arch.name: arch
    for arch in (
        Arch("yolov3-tiny", _YOLOV3_TINY, "the paper's: 2 heads, 6 anchors"),
        Arch("yolov3-tiny-3l", _YOLOV3_TINY, "YOLOv3-tiny + a stride-8 head: 3 heads, 9 anchors"),
        Arch("yolov4-tiny", _YOLOV4_TINY, "CSP, scale_x_y, CIoU: 2 heads, 6 anchors"),
        Arch("yolov4-tiny-3l", _YOLOV4_TINY, "YOLOv4-tiny + a stride-8 head: 3 heads, 9 anchors"),
        Arch("yolov7-tiny", _YOLOV7_TINY, "ELAN, SPPCSP, new_coords: 3 heads, 9 anchors"),
    )
}
ARCH_NAMES = tuple(ARCHS)


def get_arch(name: str | None) -> Arch:
    """The architecture ``name`` (None: the paper's yolov3-tiny)."""
    name = name or DEFAULT_ARCH
    if name not in ARCHS:
        raise DarknetError(f"unknown architecture {name!r}; choose one of: {', '.join(ARCHS)}")
    return ARCHS[name]


def run_arch(run_dir: Path) -> str | None:
    """The architecture of a run folder: the one whose ``<arch>.cfg`` it holds (None: none)."""
    found = [name for name, arch in ARCHS.items() if (Path(run_dir) / arch.cfg_name).is_file()]
    if len(found) > 1:
        raise DarknetError(f"{run_dir} holds the cfgs of {', '.join(found)}: say which with --arch")
    return found[0] if found else None
