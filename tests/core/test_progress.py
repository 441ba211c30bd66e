from __future__ import annotations

from yof_darknet.core.progress import Progress


def test_a_bar_counts_items_positions_and_notes(capsys):
    with Progress("work", total=10, unit="img") as progress:
        assert list(progress.iterate("abc")) == ["a", "b", "c"]
        progress.advance_to(7)
        progress.advance_to(5)  # behind: ignored
        progress.note("loss 0.5")
        progress.update(2)
        progress.write("a line for the user")
    out, err = capsys.readouterr()
    assert "a line for the user" in out
    final = err.replace("\r", "\n").strip().splitlines()[-1]
    assert final.startswith("work:") and "9/10" in final and "img" in final
    assert "loss 0.5" in final


def test_a_disabled_or_tty_only_bar_prints_no_bar_but_still_the_lines(capsys):
    for kwargs in ({"enabled": False}, {"show": "tty"}):  # pytest's stderr is no terminal
        with Progress("quiet", total=3, **kwargs) as progress:
            progress.update(3)
            progress.write("still said")
        out, err = capsys.readouterr()
        assert out == "still said\n" and err == ""
