"""The names of the inference engines, the same in every command (``--engine``).

``darknet``: the darknet binary; ``ort``: ONNX Runtime; ``opencv``: OpenCV DNN. ``benchmark``'s
rows build on them (``opencv``, ``ort-fp32``, ``ort-int8``...). ``map`` called the last two
``onnx`` and ``python`` before: ``RENAMED_ENGINES`` maps those spellings for one more release.
"""

from __future__ import annotations

DARKNET = "darknet"
ORT = "ort"
OPENCV = "opencv"
ENGINES = (DARKNET, ORT, OPENCV)
# the engines that run a network in this process (``detect``, the cascade's classifier)
NETWORK_ENGINES = (ORT, OPENCV)

# old spelling -> name (accepted with a warning; see cli/params.py)
RENAMED_ENGINES = {"python": OPENCV, "onnx": ORT}
