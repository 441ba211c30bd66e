"""make hygiene: both Table IIs side by side (on real Darknet map logs; training is not run)."""

from __future__ import annotations

from pathlib import Path

from yof_darknet.evaluate.table import Table2
from yof_darknet.formats.maplog import read_map_log
from yof_darknet.hygiene import side_by_side


def _table(folder: Path, combined: str, expw: str, affwild2: str) -> Table2:
    logs = {name: read_map_log(folder / f"{log}.stdout.txt") for name, log in
            (("combined", combined), ("expw", expw), ("affwild2", affwild2))}  # fmt: skip
    datasets = {"expw": logs["expw"], "affwild2": logs["affwild2"]}
    return Table2(logs["combined"], "Darknet's own `detector map`", "alexeyab", datasets)


def test_side_by_side_per_subset_with_differences(darknet_fixtures: Path) -> None:
    folder = darknet_fixtures / "alexeyab"
    keep = _table(folder, "map_default", "map_points11", "map_points101")
    mask = _table(folder, "map_iou075", "map_default", "map_points11")
    text = side_by_side({"keep": keep, "mask": mask})
    sections = text.split("### ")[1:]
    assert [s.splitlines()[0] for s in sections] == ["Combined test set", "ExpW", "Aff-Wild2"]
    assert "| Expression | keep AP (%) | mask AP (%) | mask − keep (pp) |" in sections[0]
    pairs = {
        "Combined test set": (keep.combined, mask.combined),
        "ExpW": (keep.datasets["expw"], mask.datasets["expw"]),
        "Aff-Wild2": (keep.datasets["affwild2"], mask.datasets["affwild2"]),
    }
    for section in sections:
        before, after = pairs[section.splitlines()[0]]
        for old, new in zip(before.classes, after.classes, strict=True):
            row = f"| {old.name} | {old.ap * 100:.2f} | {new.ap * 100:.2f} | "
            assert row + f"{(new.ap - old.ap) * 100:+.2f} |" in section
        mean = f"| **mAP** | {before.map * 100:.2f} | {after.map * 100:.2f} | "
        assert mean + f"{(after.map - before.map) * 100:+.2f} |" in section
    assert text.rstrip().endswith("Numbers: Darknet's own `detector map`")


def test_only_subsets_of_both_tables_are_shown(darknet_fixtures: Path) -> None:
    folder = darknet_fixtures / "alexeyab"
    keep = _table(folder, "map_default", "map_points11", "map_points101")
    combined_only = Table2(read_map_log(folder / "map_iou075.stdout.txt"), "ours")
    text = side_by_side({"keep": keep, "mask": combined_only})
    assert text.count("### ") == 1 and "ExpW" not in text
    assert "Numbers: Darknet's own `detector map`; ours" in text
