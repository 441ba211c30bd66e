"""Training profiles: the values a profile sets in the run cfg, written as ``--set`` keys, and
``generate_cfg``, which builds the run cfg from an architecture's template
(``assets/cfg/<arch>.cfg``; the default ``yolov3-tiny.cfg`` is the paper's Table I) for N
classes::

    text = generate_cfg(classes=7, profile="sample", overrides=["net.width=160"])
    text = generate_cfg(classes=7, profile="paper", arch="yolov4-tiny")

A profile's settings are the same for every architecture (they are [net] and every-[yolo]
keys), so two architectures trained with one profile differ only in the network.

A key without a section (``width``) belongs to ``[net]``; ``yolo.random`` sets ``random`` in every
``[yolo]`` section. Each entry is a plain literal so that it can be tuned by hand or by experiment.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from yof_darknet.core.errors import DarknetError
from yof_darknet.formats.cfg import (
    apply_setting,
    dump_cfg,
    parse_setting,
    read_cfg,
    set_anchors,
    set_classes,
    validate_cfg,
)
from yof_darknet.training.archs import DEFAULT_ARCH, get_arch

TEMPLATE = get_arch(DEFAULT_ARCH).template

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
    # Sized for 2 CPU cores: from scratch, as many iterations as ~7 minutes allow (Debian's
    # darknet trains on one core, ~1.2 s an iteration at 96 px). The drawn classes differ only in
    # their strokes (colour, size and place are drawn independently of the class), so the input
    # is as small as still shows them (64 px learned half as much in the same iterations), the
    # crop jitter small (.1) and the learning rate held until 88 %.
    "sample": {
        "width": 96,
        "height": 96,
        "batch": 8,
        "subdivisions": 1,
        "learning_rate": 0.005,
        "momentum": 0.9,
        "decay": 0.0005,
        "burn_in": 50,
        "max_batches": 340,
        "policy": "steps",
        "steps": "300,325",
        "scales": ".1,.1",
        "yolo.jitter": 0.1,
        "yolo.random": 0,
    },
    # Real faces on 2 CPU cores, from scratch (no pretrained weights, by design: COCO weights
    # cannot be had everywhere), with AlexeyAB's darknet built with OpenMP/AVX (`make darknet`).
    # Measured on a 5,408-image public ExpW subset (2,534 training images, 600 held out; 2-core
    # AMD EPYC, 2026-12-07; docs/real-data.md): these values gave mAP 11.36 %, face AP 52.2 %
    # after 2,000 iterations (1.4-3.5 s each); rate 0.001 / burn-in 200 / 1,400 iterations gave
    # mAP 10.6 %, face AP 58.6 %.
    "cpu": {
        "width": 160,
        "height": 160,
        "batch": 16,
        "subdivisions": 1,
        "learning_rate": 0.002,
        "momentum": 0.9,
        "decay": 0.0005,
        "burn_in": 400,
        "max_batches": 2000,
        "policy": "steps",
        "steps": "1600,1800",
        "scales": ".1,.1",
        "yolo.jitter": 0.1,
        "yolo.random": 0,
    },
}

# Profiles that train from scratch by design: `reproduce` fetches no pretrained weights for them.
SCRATCH_PROFILES = frozenset({"cpu"})


# Which weights Table II is made with when `reproduce` is not told (--select): the paper kept the
# final weights; the sample's comes from the checkpoint chosen on its validation list (without
# one, reproduce falls back to the final weights and says so). A new profile adds its row here;
# a profile without one gets SELECT_FALLBACK.
SELECT_DEFAULTS: dict[str, str] = {
    "paper": "final",
    "sample": "best",
    # as the sample's: a short schedule from scratch, whose last checkpoint need not be its
    # best; reproduce draws it a validation list (--val-per-dataset auto)
    "cpu": "best",
}
SELECT_FALLBACK = "best"


def default_select(profile: str) -> str:
    """``best`` or ``final``: the weights a run of ``profile`` reports by default."""
    return SELECT_DEFAULTS.get(profile, SELECT_FALLBACK)


# Where a profile must differ for one architecture (and why), applied after the profile.
# From scratch at the sample's learning rate (0.005 after 50 burn-in iterations), AlexeyAB's
# darknet diverged (loss nan at iterations 40-50) on these three; at 0.001 all five trained
# (README, "Other architectures").
ARCH_SETTINGS: dict[tuple[str, str], dict[str, int | float | str]] = {
    ("sample", "yolov3-tiny-3l"): {"learning_rate": 0.001},
    ("sample", "yolov4-tiny"): {"learning_rate": 0.001},
    ("sample", "yolov4-tiny-3l"): {"learning_rate": 0.001},
}


# Where a profile must differ for the darknet flavor that trains it. From scratch on the
# sample, AlexeyAB's darknet (whose loss differs from pjreddie's) diverged on yolov3-tiny at
# iteration 57, just after the 50-iteration burn-in reached the rate of 0.005; with a burn-in of
# 100 it trained (README, "The embedded sample"). hank-ai's fork is AlexeyAB's code.
FLAVOR_SETTINGS: dict[tuple[str, str], dict[str, int | float | str]] = {
    ("sample", "alexeyab"): {"burn_in": 100},
    ("sample", "hank-ai"): {"burn_in": 100},
}


# What the user of a profile should know about the darknet flavor that trains it (said once, as
# the training starts).
FLAVOR_NOTES: dict[tuple[str, str], str] = {
    ("cpu", "pjreddie"): (
        "profile cpu on pjreddie's darknet: it trains, but on one core without OpenMP or AVX, "
        "much slower than AlexeyAB's (`make darknet` builds it with OpenMP/AVX)"
    ),
}


def profile_settings(
    name: str, arch: str | None = None, flavor: str | None = None
) -> dict[str, str]:
    """The ``--set``-style settings of profile ``name`` (a copy), with the adjustments for
    ``arch`` and for the darknet ``flavor`` that trains it (None: pjreddie's, none)."""
    if name not in PROFILES:
        known = ", ".join(sorted(PROFILES))
        raise DarknetError(f"unknown profile {name!r}; choose one of: {known}")
    settings = {
        **PROFILES[name],
        **ARCH_SETTINGS.get((name, arch or DEFAULT_ARCH), {}),
        **FLAVOR_SETTINGS.get((name, flavor or ""), {}),
    }
    return {key: str(value) for key, value in settings.items()}


def generate_cfg(
    classes: int,
    profile: str = "paper",
    overrides: Sequence[str] = (),
    *,
    template: Path | None = None,
    anchors_wh: Sequence[tuple[int, int]] | None = None,
    arch: str | None = None,
    flavor: str | None = None,
) -> str:
    """The run cfg text: template (``arch``'s, or ``template``) + profile (as ``flavor``'s
    darknet trains it) + classes (+ anchors) + ``--set`` overrides."""
    template = Path(template) if template else get_arch(arch).template
    sections = read_cfg(template)
    for key, value in profile_settings(profile, arch, flavor).items():
        apply_setting(sections, key, value)
    if anchors_wh:
        set_anchors(sections, anchors_wh)
    set_classes(sections, classes)
    for expression in overrides:
        apply_setting(sections, *parse_setting(expression))
    validate_cfg(sections, f"{template.name} + profile {profile}")
    settings = " ".join(overrides)
    header = (
        f"generated by yof-darknet from {template.name}: profile={profile}"
        + (f" (as {flavor}'s darknet trains it)" if (profile, flavor) in FLAVOR_SETTINGS else "")
        + f", classes={classes}"
        + (f", --set {settings}" if settings else "")
    )
    return dump_cfg(sections, header)
