"""One exception type per failure a user can fix; the CLI prints the message and exits 1."""

from __future__ import annotations


class YofError(Exception):
    """Base class: the message names the file (and line) at fault and says how to fix it."""


class DatasetError(YofError):
    """Raw or converted dataset files are missing, malformed or would be misread by Darknet."""


class DarknetError(YofError):
    """Darknet is missing, of the wrong flavor, or failed in a known way."""


class EvaluationError(YofError):
    """Detections, logs or lists cannot be scored honestly (no mAP line, nan, missing image...)."""


class InferenceError(YofError):
    """A model, image, video or camera cannot be used for detection."""


class ClusterError(YofError):
    """A scheduler's variables (SLURM array, CPUs, GPUs) do not say what the task was given."""


class ExportError(YofError):
    """A Darknet model cannot be converted (layer not supported, weights of another cfg...)."""


class ServeError(YofError):
    """The browser demo cannot start (runtime missing, port taken, no model to serve...)."""


class BenchmarkError(YofError):
    """A benchmark cannot run as asked (an engine not installed, a size not a multiple of 32...)."""
