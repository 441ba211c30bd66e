"""Training profiles: the values a profile sets in the run cfg, written as ``--set`` keys.

A key without a section (``width``) belongs to ``[net]``; ``yolo.random`` sets ``random`` in every
``[yolo]`` section. Each entry is a plain literal so that it can be tuned by hand or by experiment.
"""

from __future__ import annotations

from yof_darknet.errors import DarknetError

PROFILES: dict[str, dict[str, int | float | str]] = {
    # The paper's settings (section III): 416x416, batch 64 in 16 subdivisions, 14000 iterations,
    # learning rate 0.001 divided by 10 at 80 % and 90 %, pretrained yolov3-tiny.conv.15.
    "paper": {
        "width": 416,
        "height": 416,
        "batch": 64,
        "subdivisions": 16,
        "learning_rate": 0.001,
        "momentum": 0.9,
        "decay": 0.0005,
        "burn_in": 1000,
        "max_batches": 14000,
        "policy": "steps",
        "steps": "11200,12600",
        "scales": ".1,.1",
        "yolo.random": 1,
    },
    # Sized for 2 CPU cores: from scratch, as many iterations as ~8 minutes allow. The drawn
    # classes differ only in their strokes (colour, size and place are drawn independently of
    # the class), so the input is as small as still shows them (96 px: ~22 % cheaper an
    # iteration than 128 px), the crop jitter small (.1) and the learning rate held until 85 %.
    "sample": {
        "width": 96,
        "height": 96,
        "batch": 8,
        "subdivisions": 1,
        "learning_rate": 0.005,
        "momentum": 0.9,
        "decay": 0.0005,
        "burn_in": 50,
        "max_batches": 500,
        "policy": "steps",
        "steps": "425,475",
        "scales": ".1,.1",
        "yolo.jitter": 0.1,
        "yolo.random": 0,
    },
}


def profile_settings(name: str) -> dict[str, str]:
    """The ``--set``-style settings of profile ``name`` (a copy)."""
    if name not in PROFILES:
        known = ", ".join(sorted(PROFILES))
        raise DarknetError(f"unknown profile {name!r}; choose one of: {known}")
    return {key: str(value) for key, value in PROFILES[name].items()}
