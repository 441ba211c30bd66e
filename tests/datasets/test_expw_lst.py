"""label.lst read right whatever its line ends and encoding; separators inside a row add none."""

from __future__ import annotations

import pytest

from tests.support.expw import tree_digest
from tests.support.hostile import jpeg_bytes, real_pixels, write_expw
from yof_darknet.core.errors import DatasetError
from yof_darknet.datasets.expw import convert_expw
from yof_darknet.datasets.expw_lst import read_label_lst
from yof_darknet.datasets.stats import ConversionStats

ROWS = ["a.jpg 0 5 5 40 40 90.0 3", "b.jpg 0 10 10 50 50 80.0 4", "b.jpg 1 5 60 90 50 70.0 0"]


def _read(tmp_path, data: bytes):
    path = tmp_path / "label.lst"
    path.write_bytes(data)
    stats = ConversionStats("expw", str(tmp_path))
    return read_label_lst(path, stats), stats


@pytest.mark.parametrize(
    ("data", "note"),
    [
        ("\n".join(ROWS).encode() + b"\n", {}),
        ("\r\n".join(ROWS).encode() + b"\r\n", {}),
        ("\r".join(ROWS).encode() + b"\r", {"label_file_line_ends": "CR"}),
        ("\n".join(ROWS).encode("utf-16"), {"label_file_encoding": "utf-16"}),
        ("\r\n".join(ROWS).encode("utf-16-be").join([b"\xfe\xff", b""]),
         {"label_file_encoding": "utf-16"}),
    ],
    ids=["lf", "crlf", "cr-only", "utf-16-le", "utf-16-be"],
)  # fmt: skip
def test_line_ends_and_encodings_are_read_right(tmp_path, data, note):
    frame, stats = _read(tmp_path, data)
    assert frame["name"].tolist() == ["a.jpg", "b.jpg", "b.jpg"]
    assert frame["line"].tolist() == [1, 2, 3]
    assert frame["label"].tolist() == [3, 4, 0]
    assert stats.read == 0  # nothing malformed
    assert {k: v for k, v in stats.details.items() if k.startswith("label_file")} == note


def test_separators_inside_a_row_never_start_another_row(tmp_path):
    """A form feed, U+2028, U+0085 or a lone CR inside a row: str.splitlines() would cut it in
    two and shift every later line number. Rows end at "\\n" only."""
    rows = [ROWS[0], "b.jpg 0 10 10 50\x0c50 80.0 4", "c\u2028d.jpg 0 5 5 40 40 90.0 1",
            "e\x85f.jpg 0 5 5 40 40 90.0 2", "g.jpg 0 5 5\r40 40 90.0 5"]  # fmt: skip
    frame, stats = _read(tmp_path, "\n".join(rows).encode() + b"\n")
    assert frame["line"].tolist() == [1, 2, 3, 4, 5]
    assert frame["name"].tolist() == ["a.jpg", "b.jpg", "c\u2028d.jpg", "e\x85f.jpg", "g.jpg"]
    assert stats.read == 0


def test_utf16_without_its_mark_gets_a_message_that_points_the_right_way(tmp_path):
    path = tmp_path / "label.lst"
    path.write_bytes("\n".join(ROWS).encode("utf-16-le"))
    with pytest.raises(DatasetError, match=r"label\.lst: holds NUL bytes .*save it as UTF-8"):
        read_label_lst(path, ConversionStats("expw", str(tmp_path)))


def test_a_cr_only_label_lst_converts_like_the_lf_one(tmp_path):
    photo = jpeg_bytes(real_pixels()[:100, :100])
    images = {"a.jpg": photo, "b.jpg": photo}
    lf = write_expw(tmp_path / "lf", images, ROWS)
    cr = write_expw(tmp_path / "cr", images, [])
    (cr / "label" / "label.lst").write_bytes("\r".join(ROWS).encode() + b"\r")
    before = tree_digest(cr)
    want = convert_expw(lf, tmp_path / "out-lf")
    got = convert_expw(cr, tmp_path / "out-cr")
    assert got.stats.counts == want.stats.counts and got.stats.kept == 3
    for name in ("a.txt", "b.txt"):
        assert (tmp_path / "out-cr" / name).read_text() == (tmp_path / "out-lf" / name).read_text()
    assert tree_digest(cr) == before
