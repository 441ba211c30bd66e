"""Weights files: header versions, layer byte counts, and `partial` equal to darknet's own."""

from __future__ import annotations

import struct
import subprocess

import pytest

from tests.support.darknet import write_weights
from yof_darknet.core.errors import DarknetError
from yof_darknet.formats.cfg import parse_cfg, read_cfg
from yof_darknet.formats.weights import (
    check_complete,
    check_finite,
    check_fits,
    finished_message,
    layer_param_counts,
    pack_header,
    partial,
    read_header,
    weights_bytes,
)
from yof_darknet.training.download import PRETRAINED_BYTES
from yof_darknet.training.profiles import TEMPLATE, generate_cfg


def test_header_versions(tmp_path):
    new, old = tmp_path / "new.weights", tmp_path / "old.weights"
    new.write_bytes(struct.pack("<3iQ", 0, 2, 5, 2**33 + 7) + b"\0" * 8)
    old.write_bytes(struct.pack("<3iI", 0, 1, 0, 12345) + b"\0" * 8)
    assert (read_header(new).seen, read_header(new).size) == (2**33 + 7, 20)
    assert (read_header(old).seen, read_header(old).size) == (12345, 16)
    assert read_header(new).iterations(64) == (2**33 + 7) // 64
    assert pack_header(0) == struct.pack("<3iQ", 0, 2, 0, 0)
    (tmp_path / "short").write_bytes(b"\0" * 10)
    with pytest.raises(DarknetError, match="too short"):
        read_header(tmp_path / "short")


def test_byte_counts_match_the_released_weights():
    sections = parse_cfg(generate_cfg(80, "paper"))  # COCO's 80 classes, as released
    assert 20 + weights_bytes(sections) == PRETRAINED_BYTES
    assert weights_bytes(read_cfg(TEMPLATE), 15) == 30_973_376  # layers 0..14: class-independent


def test_partial_keeps_the_first_layers_and_resets_seen(tmp_path):
    full = tmp_path / "full.weights"
    body = write_weights(full, TEMPLATE, seen=64 * 500, legacy=True)
    out = partial(TEMPLATE, full, tmp_path / "x.conv.15", 15)
    data = out.read_bytes()
    assert read_header(out).seen == 0 and read_header(out).size == 20
    assert data[20:] == body[: weights_bytes(read_cfg(TEMPLATE), 15)]
    (tmp_path / "cut.weights").write_bytes(full.read_bytes()[:1000])
    with pytest.raises(DarknetError, match="truncated or belongs to another network"):
        partial(TEMPLATE, tmp_path / "cut.weights", tmp_path / "y", 15)


def test_finished_weights_are_reported(tmp_path):
    cfg = tmp_path / "run.cfg"
    cfg.write_text(generate_cfg(7, "sample", ["max_batches=10", "steps=8,9", "batch=4"]))
    weights = tmp_path / "w.weights"
    weights.write_bytes(struct.pack("<3iQ", 0, 2, 0, 40))
    assert "already trained 10 iterations" in finished_message(weights, cfg)
    weights.write_bytes(struct.pack("<3iQ", 0, 2, 0, 36))
    assert finished_message(weights, cfg) is None


@pytest.mark.slow
def test_partial_equals_darknets_own(tmp_path, debian_darknet):
    cfg = tmp_path / "yolov3-tiny.cfg"
    cfg.write_text(generate_cfg(7, "paper"))
    full = tmp_path / "full.weights"
    write_weights(full, cfg, seen=123456, seed=1)
    theirs, ours = tmp_path / "darknet.conv.15", tmp_path / "ours.conv.15"
    done = subprocess.run(
        [str(debian_darknet), "partial", str(cfg), str(full), str(theirs), "15"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    partial(cfg, full, ours, 15)
    assert ours.read_bytes()[20:] == theirs.read_bytes()[read_header(theirs).size :]
    assert read_header(theirs).seen == read_header(ours).seen == 0


def test_weights_must_be_whole_layers_of_the_cfg(tmp_path):
    cfg = tmp_path / "run.cfg"
    cfg.write_text(generate_cfg(7, "paper"))
    sections = read_cfg(cfg)
    fits = tmp_path / "fits.weights"
    for layers in (15, None):
        fits.write_bytes(pack_header(0) + bytes(weights_bytes(sections, layers)))
        check_fits(fits, cfg)
    coco = tmp_path / "yolov3-tiny.weights"  # the released 80-class file: wrong last layers
    coco.write_bytes(pack_header(0) + bytes(PRETRAINED_BYTES - 20))
    with pytest.raises(DarknetError, match=r"not whole layers.*yolov3-tiny\.conv\.15"):
        check_fits(coco, cfg)


def test_non_finite_parameters_are_refused_naming_the_layer(tmp_path):
    cfg = tmp_path / "yolo.cfg"
    cfg.write_text(generate_cfg(7, "paper"))
    sections = read_cfg(cfg)
    weights = tmp_path / "w.weights"
    body = bytearray(write_weights(weights, cfg, seen=0))
    check_complete(weights, sections, cfg)  # finite: fine
    at = sum(layer_param_counts(sections)[:2]) + 5  # a float of layer 2
    for value in (float("nan"), float("inf"), float("-inf")):
        body[4 * at : 4 * at + 4] = struct.pack("<f", value)
        weights.write_bytes(pack_header(0) + bytes(body))
        with pytest.raises(DarknetError, match=r"1 of its parameters are not finite.* layer 2 "):
            check_complete(weights, sections, cfg)
        with pytest.raises(DarknetError, match="diverged"):
            check_finite(weights)
        with pytest.raises(DarknetError, match="not finite"):
            check_fits(weights, cfg)  # train's start weights too


def test_a_cfg_given_as_weights_says_swapped(tmp_path):
    cfg = tmp_path / "yolo.cfg"
    cfg.write_text(generate_cfg(7, "paper"))
    with pytest.raises(DarknetError, match="swapped"):
        read_header(cfg)
