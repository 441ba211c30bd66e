"""Darknet cfg files: parsing, writing, anchors and validation, on the Table I template."""

from __future__ import annotations

import pytest

from yof_darknet.core.errors import DarknetError
from yof_darknet.formats.cfg import (
    apply_setting,
    dump_cfg,
    parse_cfg,
    read_cfg,
    set_anchors,
    validate_cfg,
    yolo_heads,
)
from yof_darknet.training.profiles import TEMPLATE


def test_parsed_cfg_round_trips_and_parse_errors_name_the_line(tmp_path):
    sections = read_cfg(TEMPLATE)
    assert [(s.name, s.options) for s in parse_cfg(dump_cfg(sections))] == [
        (s.name, s.options) for s in sections
    ]
    bad = tmp_path / "bad.cfg"
    bad.write_text("[net]\nwidth=416\nwidth=320\n")
    with pytest.raises(DarknetError, match=r"bad\.cfg:3: width set twice"):
        read_cfg(bad)
    bad.write_text("[net]\nwidth 416\n")
    with pytest.raises(DarknetError, match=r"bad\.cfg:2: expected 'key=value'"):
        read_cfg(bad)


def test_anchors_spread_over_heads_largest_first():
    sections = read_cfg(TEMPLATE)
    set_anchors(sections, [(50, 50), (10, 10), (30, 30), (20, 20), (60, 60), (40, 40)])
    heads = [sections[i] for i in yolo_heads(sections)]
    assert heads[0].get("anchors") == "10,10,  20,20,  30,30,  40,40,  50,50,  60,60"
    assert [h.get("mask") for h in heads] == ["3,4,5", "0,1,2"]
    with pytest.raises(DarknetError, match="evenly"):
        set_anchors(sections, [(1, 1)] * 5)
    apply_setting(sections, "yolo.num", "5")
    with pytest.raises(DarknetError, match="num=5 needs 10 anchor numbers"):
        validate_cfg(sections)


def test_a_binary_or_utf16_cfg_is_named_for_what_it_is(tmp_path):
    weights = tmp_path / "model.weights"
    weights.write_bytes(b"\0\0\0\0\x02\0\0\0" + bytes(range(256)))
    with pytest.raises(DarknetError, match=r"binary data.*swapped\?"):
        read_cfg(weights)
    utf16 = tmp_path / "utf16.cfg"
    utf16.write_bytes("[net]\nwidth=416\n".encode("utf-16"))
    with pytest.raises(DarknetError, match="UTF-16"):
        read_cfg(utf16)


def test_crlf_and_cr_cfgs_read_as_their_lines(tmp_path):
    text = TEMPLATE.read_text()
    for ending in ("\r\n", "\r"):
        other = tmp_path / "other.cfg"
        other.write_bytes(text.replace("\n", ending).encode())
        assert [(s.name, s.options, s.line) for s in read_cfg(other)] == [
            (s.name, s.options, s.line) for s in read_cfg(TEMPLATE)
        ]
