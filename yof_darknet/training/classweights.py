"""``train --class-weights``: AlexeyAB's ``counters_per_class`` in every ``[yolo]`` layer.

AlexeyAB's darknet (and hank-ai's, which kept its parser) reads ``counters_per_class=N0,N1,...``
in a ``[yolo]`` layer and multiplies each class's loss by ``max(N) / N_c`` (capped by the
layer's ``max_delta``), so a rare class weighs as much as a common one. We write the faces per
class of the training list as Darknet will read it: one count per line of ``train.txt``
(an image that ``datasets --balance`` repeats counts each time). pjreddie's 2018 darknet does
not know the key: it would print ``Unused field`` and train unweighted, so it is refused.
"""

from __future__ import annotations

from pathlib import Path

from yof_darknet.core.errors import DarknetError
from yof_darknet.formats.labels import read_labels
from yof_darknet.formats.objdata import read_obj_data
from yof_darknet.tools.darknet import Darknet
from yof_darknet.training.anchors import find_label

SUPPORTED = ("alexeyab", "hank-ai")


def check_flavor(darknet: Darknet) -> None:
    """Refuse ``--class-weights`` on a darknet that would ignore ``counters_per_class``."""
    if darknet.flavor not in SUPPORTED:
        raise DarknetError(
            f"--class-weights: {darknet.path} is {darknet.flavor}'s darknet, which does not read "
            "counters_per_class in [yolo] (it would print 'Unused field' and train unweighted); "
            "build AlexeyAB's with `make darknet`, or balance the data instead with "
            "`datasets --balance oversample`"
        )


def train_class_counts(obj_data: Path) -> tuple[list[int], int]:
    """Boxes per class over the lines of the train list of ``obj_data``, and the lines whose
    label file is missing."""
    obj = read_obj_data(obj_data)
    counts = [0] * obj.classes
    missing = 0
    for image in obj.read_list("train"):
        path = find_label(image if image.is_absolute() else obj.train.parent / image)
        if path is None:
            missing += 1
            continue
        for label in read_labels(path, obj.classes, error=DarknetError):
            counts[label.class_id] += 1
    return counts, missing


def counters_setting(counts: list[int]) -> str:
    """The ``--set`` expression for every ``[yolo]`` layer (a class without faces counts 1, as
    darknet itself would make it).

    >>> counters_setting([508, 0, 10272])
    'yolo.counters_per_class=508,1,10272'
    """
    return "yolo.counters_per_class=" + ",".join(str(max(1, n)) for n in counts)
