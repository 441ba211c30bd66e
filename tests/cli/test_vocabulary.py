"""The help walk: every command and subcommand's ``--help`` (click's command tree), every option
with help text, no ``None`` in a help page, one meaning per option name, and ``--help`` without
the heavy libraries."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator

import click
import pytest
from click.testing import CliRunner

from yof_darknet.cli import main
from yof_darknet.cli.params import FiniteFloat, SizeType
from yof_darknet.core.engines import ENGINES

HEAVY = ("cv2", "onnxruntime", "onnx", "matplotlib", "pandas")


def walk(
    command: click.Command, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    """Every command under ``command`` (itself first), with the words that call it."""
    yield path, command
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            if not sub.hidden:
                yield from walk(sub, (*path, name))


COMMANDS = list(walk(main))
OPTIONS = [
    (" ".join(path), option)
    for path, command in COMMANDS
    for option in command.params
    if isinstance(option, click.Option) and option.name not in ("help", "version")
]


def test_the_walk_sees_every_command():
    names = {path[0] for path, _ in COMMANDS if path}
    assert {"detect", "map", "reproduce", "datasets", "crops", "export", "benchmark"} <= names
    assert len(OPTIONS) > 200


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=lambda p: " ".join(p) or "main")
def test_every_help_page_shows_without_none(path):
    result = CliRunner().invoke(main, [*path, "--help"], terminal_width=100)
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    assert not re.search(r"\bNone\b", result.output), result.output


def test_every_option_has_help():
    bare = [
        f"{where} {option.opts[0]}" for where, option in OPTIONS if not (option.help or "").strip()
    ]
    assert bare == []


def _names(flag: str) -> list[tuple[str, click.Option]]:
    return [(where, option) for where, option in OPTIONS if flag in option.opts]


def test_out_is_a_folder_and_out_file_a_file():
    outs, files = _names("--out"), _names("--out-file")
    assert len(outs) >= 8 and len(files) == 2
    for where, option in outs:
        assert isinstance(option.type, click.Path) and not option.type.file_okay, where
    for where, option in files:
        assert isinstance(option.type, click.Path) and option.type.file_okay, where


def test_data_is_an_obj_data_file_and_data_dir_a_folder():
    datas, dirs = _names("--data"), _names("--data-dir")
    assert len(datas) >= 8 and {w for w, _ in dirs} == {"reproduce", "hygiene"}
    for where, option in datas:
        assert isinstance(option.type, click.Path) and not option.type.dir_okay, where
        assert "obj.data" in (option.help or ""), where
    for where, option in dirs:
        assert isinstance(option.type, click.Path) and not option.type.file_okay, where


def test_size_is_always_the_network_size():
    sizes = _names("--size")
    assert {w for w, _ in sizes} >= {"detect", "export", "serve", "anchors", "compare-archs"}
    for where, option in sizes:
        assert isinstance(option.type, (SizeType, click.IntRange)), where
        assert "network" in (option.help or "").lower(), where
    assert [w for w, _ in _names("--crop-size")] == ["crops"]


def test_engine_names_are_the_same_everywhere():
    engines = _names("--engine")
    assert {w for w, _ in engines} >= {"detect", "map", "reproduce", "hygiene", "benchmark"}
    for where, option in engines:
        choices = list(option.type.choices)
        if where == "benchmark":  # rows: ENGINE-PRECISION, each engine by its one name
            engines_used = {c.split("-")[0] for c in choices}
            assert {"ort", "opencv"} <= engines_used and not {"python", "onnx"} & engines_used
        else:
            assert set(choices) <= set(ENGINES), (where, choices)


def test_match_iou_is_the_one_matching_threshold():
    assert _names("--iou") == []
    matches = _names("--match-iou")
    assert {w for w, _ in matches} >= {"map", "reproduce", "hygiene", "evaluate-video"}
    for where, option in matches:
        assert isinstance(option.type, click.FloatRange) and option.type.max == 1, where


def test_an_unbounded_number_has_no_range_in_its_help():
    assert FiniteFloat()._describe_range() == ""
    assert FiniteFloat(0, 1)._describe_range() == "0<=x<=1"


def test_help_imports_no_heavy_library():
    # every help page in one fresh interpreter, then what it imported
    pages = [[*path, "--help"] for path, _ in COMMANDS]
    script = (
        "import sys\n"
        "from yof_darknet.cli import main\n"
        f"for args in {pages!r}:\n"
        "    try:\n"
        "        main.main(args, prog_name='yof-darknet', standalone_mode=False)\n"
        "    except SystemExit:\n"
        "        pass\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] == "[]"
