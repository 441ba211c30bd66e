"""`yof-darknet benchmark` on the tests' tiny model: one well-formed table, JSON and plot, a row
per engine x precision x size, mAP from `map`'s path, the stream test (no timing asserted)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.support.model import TinyModel
from yof_darknet.cli import main
from yof_darknet.core.errors import BenchmarkError
from yof_darknet.core.fileio import sha256_file
from yof_darknet.evaluate.options import MapOptions
from yof_darknet.evaluate.run import run_map
from yof_darknet.workflows.benchmark.options import BenchmarkOptions

ENGINES = ("ort-fp32", "ort-int8")


@pytest.fixture(scope="module")
def benchmarked(tiny_model: TinyModel, tmp_path_factory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("bench") / "out"
    before = [sha256_file(p) for p in (tiny_model.cfg, tiny_model.weights, tiny_model.data)]
    args = ["benchmark", "--cfg", str(tiny_model.cfg), "--weights", str(tiny_model.weights),
            "--data", str(tiny_model.data), "--sizes", "96,64", "--rounds", "3", "--pause-ms",
            "0", "--streams", "1,2", "--stream-frames", "4", "--out", str(out)]  # fmt: skip
    for engine in ENGINES:
        args += ["--engine", engine]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    after = [sha256_file(p) for p in (tiny_model.cfg, tiny_model.weights, tiny_model.data)]
    assert after == before
    return out, result.output


def test_one_row_per_engine_and_size(benchmarked):
    out, _ = benchmarked
    report = json.loads((out / "benchmark.json").read_text())
    rows = report["rows"]
    assert [(r["engine"], r["size"]) for r in rows] == [(e, s) for s in (96, 64) for e in ENGINES]
    for row in rows:
        assert row["precision"] == row["engine"].split("-")[1]
        assert 0 < row["median_ms"] <= row["p95_ms"]
        assert min(row["pre_ms"], row["forward_ms"], row["post_ms"]) > 0
        assert row["fps"] == pytest.approx(1000 / row["median_ms"])
        assert row["cpu_ms"] > 0 and row["memory_mib"] >= 0
        assert row["gmac"] > 0 and row["share_cpu"] > 0
        assert 0 <= row["others"] <= 1
    # the forward pass at 64 does (64/96)^2 of the work at 96
    gmac = {r["size"]: r["gmac"] for r in rows}
    assert gmac[64] == pytest.approx(gmac[96] * (64 / 96) ** 2, rel=0.01)
    assert set(report["peaks"]) == {"fp32", "int8"}
    assert report["threads"] >= 1 and report["machine"] and report["flags"] is not None


def test_map_comes_from_the_map_path(benchmarked, tiny_model: TinyModel):
    out, _ = benchmarked
    rows = {
        (r["engine"], r["size"]): r
        for r in json.loads((out / "benchmark.json").read_text())["rows"]
    }
    model = out / "models" / "int8-96.onnx"
    expected = run_map(MapOptions(data=tiny_model.data, engine="ort", model=model))
    assert rows["ort-int8", 96]["map"] == pytest.approx(expected.table.combined.map)
    assert expected.table.face is not None  # map's class-agnostic face AP, the same number
    assert rows["ort-int8", 96]["face_ap"] == pytest.approx(expected.table.face.face_ap)
    for row in rows.values():
        assert 0 <= row["map"] <= 1 and 0 <= row["face_ap"] <= 1


def test_markdown_table_and_plot(benchmarked):
    out, printed = benchmarked
    table = (out / "benchmark.md").read_text()
    assert printed.endswith(table)  # progress lines (stderr) come first
    lines = [line for line in table.splitlines() if line.startswith("| ort-")]
    assert len(lines) == 4 and all(line.count("|") == 16 for line in lines)
    assert "measured peaks" in table and "load during the timed rounds" in table
    assert "avx2" in table or "flags: none" in table
    assert (out / "benchmark.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_streams_count_every_frame(benchmarked):
    out, _ = benchmarked
    streams = json.loads((out / "benchmark.json").read_text())["streams"]
    assert sorted({s["streams"] for s in streams}) == [1, 2]
    for s in streams:
        assert s["frames"] == 4 * s["streams"] and s["workers"] in (1, 2)
        assert s["fps"] > 0 and 0 < s["latency_ms"] <= s["latency_p95_ms"]


def test_bad_options_are_clear_errors(tiny_model: TinyModel):
    with pytest.raises(BenchmarkError, match="multiples of 32"):
        BenchmarkOptions(tiny_model.cfg, tiny_model.weights, sizes="416,100")
    result = CliRunner().invoke(main, ["benchmark", "--cfg", str(tiny_model.cfg), "--weights",
                                       str(tiny_model.weights), "--streams", "two"])  # fmt: skip
    assert result.exit_code == 1 and "--streams 'two'" in result.output
