"""The measured results of the docs, from records that say how each was made.

Every number on ``docs/results.md`` and in the README's Table II comes from one JSON record in
``results/`` (the command that made it, the machine, the date, the commit), and this script
writes both from the records, so a number cannot be edited by hand and go stale unseen:

    python scripts/results.py render            # docs/results.md + the README's Table II
    python scripts/results.py render --check    # exit 1 when either differs from the records
    python scripts/results.py record-run runs/sample --id sample-reproduce \\
        --title "..." --command "make reproduce"  # re-read a run folder's map/table2.json
    python scripts/results.py bench bench_eval   # re-run a benchmark and record what it prints
    python scripts/results.py rerun sample-reproduce   # run the record's command, re-read it

A ``table2`` record holds ``map``'s ``table2.json`` as written (fractions 0..1); a ``bench``
record the text a benchmark printed and the load average around it; a ``table`` record a
markdown table of a command's printed result (``compare``, ``hygiene``, ``compare-archs``); a
``benchmark`` record the ``benchmark.json`` of ``yof-darknet benchmark`` (what ``make bench``'s
``bench_engines`` writes), rendered by the command's own table code. The speed table of the
detection guide (docs/guides/detection.md, between its ``results.py: speed`` markers) is the
``bench-engines`` record's.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RECORDS = ROOT / "results"
PAGE = ROOT / "docs" / "results.md"
README = ROOT / "README.md"
BEGIN = "<!-- results.py: table2 begin -->"
END = "<!-- results.py: table2 end -->"
README_RECORDS = ("sample-reproduce", "sample-control")  # the README's rows, in order
TABLE2_FILE = "map/table2.json"
SPEED_PAGE = ROOT / "docs" / "guides" / "detection.md"
SPEED_RECORD = "bench-engines"
SPEED_BEGIN = "<!-- results.py: speed begin -->"
SPEED_END = "<!-- results.py: speed end -->"
# benchmarks that also write a benchmark.json: recorded as a ``benchmark`` record
BENCH_REPORTS = {"bench_engines": ROOT / "runs" / "bench-engines" / "benchmark.json"}


# ---- records --------------------------------------------------------------------------------


def load_records(folder: Path = RECORDS) -> list[dict[str, Any]]:
    """Every ``*.json`` record of ``folder``, sorted by ``order`` then id; each must name its
    command, machine and date (a record without them is an error naming the file)."""
    records = []
    for path in sorted(folder.glob("*.json")):
        record = json.loads(path.read_text())
        missing = [
            k for k in ("id", "kind", "title", "command", "machine", "date") if k not in record
        ]
        if missing:
            raise SystemExit(f"{path}: record without {', '.join(missing)}")
        if record["id"] != path.stem:
            raise SystemExit(f"{path}: id {record['id']!r} differs from the file name")
        records.append(record)
    return sorted(records, key=lambda r: (r.get("order", 100), r["id"]))


def machine() -> str:
    """The CPU model, the cores this process may use and the system, in one line."""
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{model}, {cores} cores, {platform.system()} {platform.release()}"


def commit() -> str:
    """The short commit of the work tree, with ``+changes`` when it has uncommitted changes."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    return head + ("+changes" if git("status", "--porcelain", "--untracked-files=no") else "")


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def write_record(record: dict[str, Any], folder: Path = RECORDS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{record['id']}.json"
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    tmp.replace(path)
    return path


def run_record(run: Path, record_id: str, title: str, command: str, order: int = 100) -> dict:
    """A ``table2`` record from ``run``'s ``map/table2.json`` (and ``results.csv``: the last
    iteration trained), with this machine, the date and the commit."""
    table = run / TABLE2_FILE
    if not table.is_file():
        raise SystemExit(f"{table}: not found: train and score the run first ({command})")
    record: dict[str, Any] = {
        "id": record_id, "kind": "table2", "order": order, "title": title, "command": command,
        "run": _relative(run), "machine": machine(), "date": now(), "commit": commit(),
        "table2": json.loads(table.read_text()),
    }  # fmt: skip
    results = run / "results.csv"
    if results.is_file():
        rows = results.read_text().strip().splitlines()
        if len(rows) > 1:
            record["iterations"] = int(rows[-1].split(",")[0])
    return record


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path.resolve())


def bench_record(module: str, order: int = 200) -> dict[str, Any]:
    """Run ``python -m benchmarks MODULE`` and record what it printed (or, for a module of
    :data:`BENCH_REPORTS`, the ``benchmark.json`` it wrote)."""
    command = [sys.executable, "-m", "benchmarks", module]
    load_before = os.getloadavg()[0]
    started = dt.datetime.now().timestamp()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{module} failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    report = BENCH_REPORTS.get(module)
    if report is not None and report.is_file() and report.stat().st_mtime >= started:
        return benchmark_record(report, module.replace("_", "-"), f"make bench: {module}",
                                f"python -m benchmarks {module}", order)  # fmt: skip
    return {
        "id": module.replace("_", "-"), "kind": "bench", "order": order,
        "title": f"make bench: {module}", "command": f"python -m benchmarks {module}",
        "machine": machine(), "date": now(), "commit": commit(),
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "output": done.stdout.strip(),
    }  # fmt: skip


def benchmark_record(
    report: Path, record_id: str, title: str, command: str, order: int = 30
) -> dict[str, Any]:
    """A ``benchmark`` record of a ``benchmark.json`` written by ``yof-darknet benchmark``."""
    data = json.loads(report.read_text())
    load = data["load"]
    return {
        "id": record_id, "kind": "benchmark", "order": order, "title": title, "command": command,
        "machine": data["machine"], "date": data["date"], "commit": commit(),
        "load_average": [round(load["before"], 2), round(load["after"], 2)], "report": data,
    }  # fmt: skip


def benchmark_markdown(record: dict[str, Any]) -> str:
    """A ``benchmark`` record's table, as ``yof-darknet benchmark`` prints it."""
    from yof_darknet.workflows.benchmark.report import Report, RowResult, render_markdown

    data = dict(record["report"])
    data["rows"] = [RowResult(**row) for row in data["rows"]]
    return render_markdown(Report(**data))


# ---- rendering ------------------------------------------------------------------------------


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.2f}"


def _provenance(record: dict[str, Any]) -> list[str]:
    lines = [
        f"- command: `{record['command']}`",
        f"- machine: {record['machine']}",
        f"- date: {record['date']}"
        + (f", commit `{record['commit']}`" if "commit" in record else ""),
    ]
    if "load_average" in record:
        before, after = record["load_average"]
        lines.append(f"- load average: {before} before, {after} after")
    if "iterations" in record:
        lines.append(f"- iterations trained: {record['iterations']}")
    if record.get("source"):
        lines.append(f"- source: {record['source']}")
    return lines


def _table2_markdown(table: dict[str, Any]) -> list[str]:
    paper = table.get("paper", {}).get("ap", {})
    if not table.get("classes"):
        return [f"mAP: **{_pct(table['map'])} %** (per-class APs not recorded)."]
    lines = [
        "| Expression | Paper AP (%) | Our AP (%) | TP | FP | GT |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for c in table.get("classes", []):
        gt = "" if c.get("gt") is None else c["gt"]
        lines.append(
            f"| {c['name']} | {_pct(paper.get(c['name']))} | {_pct(c['ap'])} | "
            f"{c.get('tp', '')} | {c.get('fp', '')} | {gt} |"
        )
    paper_map = table.get("paper", {}).get("map")
    lines.append(f"| **mAP** | {_pct(paper_map)} | **{_pct(table['map'])}** | | | |")
    if table.get("method"):
        lines += ["", f"How: {table['method']}."]
    if table.get("precision") is not None:
        lines.append(
            f"At confidence {table.get('conf_thresh', 0.25):.2f}: precision "
            f"{_pct(table['precision'])} %, recall {_pct(table.get('recall'))} %, "
            f"TP {table.get('tp')}, FP {table.get('fp')}, FN {table.get('fn')}."
        )
    for note in table.get("notes", []):
        lines.append(f"Note: {note}")
    return lines


def render_page(records: list[dict[str, Any]]) -> str:
    """``docs/results.md``: a summary table, then each record with how it was made."""
    out = [
        "# Results",
        "",
        "<!-- Generated by scripts/results.py render from results/*.json: do not edit. -->",
        "",
        "Every number here is read from a record in `results/` that names the command that made",
        "it, the machine and the date; `python scripts/results.py render` writes this page (and",
        "the README's Table II) from the records, and `make test` fails when they differ.",
        "To measure again: `python scripts/results.py rerun ID` runs the record's command and",
        "re-reads its output (`record-run RUN_DIR` re-reads a run you made, `bench MODULE`",
        "re-runs a benchmark). Darknet's training is not deterministic: repeat a run before",
        "reading a difference of a few points.",
        "",
        "| Record | What | mAP (%) | Date |",
        "|---|---|---:|---|",
    ]
    for r in records:
        value = _pct(r["table2"]["map"]) if r["kind"] == "table2" else ""
        out.append(f"| [{r['id']}](#{r['id']}) | {r['title']} | {value} | {r['date']} |")
    for r in records:
        out += ["", f"## {r['id']}", "", f"**{r['title']}**", "", *_provenance(r)]
        if r.get("summary"):
            out += ["", r["summary"]]
        if r["kind"] == "table2":
            out += ["", *_table2_markdown(r["table2"])]
        elif r["kind"] == "table":
            out += ["", r["markdown"].rstrip()]
        elif r["kind"] == "benchmark":
            table = benchmark_markdown(r).split("\n", 1)[1]  # its title is the record's
            out += ["", table.replace("\n# ", "\n### ").rstrip()]
        else:
            out += ["", "```text", r["output"], "```"]
    return "\n".join(out) + "\n"


def render_readme_table(records: list[dict[str, Any]]) -> str:
    """The README's Table II block: the paper's row, then one row per README record."""
    by_id = {r["id"]: r for r in records}
    first = by_id[README_RECORDS[0]]["table2"]
    names = [c["name"] for c in first["classes"]]
    paper = first["paper"]
    lines = [
        BEGIN,
        "| AP (%) | " + " | ".join(names) + " | mAP |",
        "|---|" + "---:|" * (len(names) + 1),
        "| paper, Table II | "
        + " | ".join(_pct(paper["ap"][n]) for n in names)
        + f" | **{_pct(paper['map'])}** |",
    ]
    for record_id in README_RECORDS:
        r = by_id[record_id]
        aps = {c["name"]: c["ap"] for c in r["table2"].get("classes", [])}
        cells = [_pct(aps.get(n)) for n in names]
        lines.append(
            f"| {r['row']} | " + " | ".join(cells) + f" | **{_pct(r['table2']['map'])}** |"
        )
    first = by_id[README_RECORDS[0]]
    made = ", ".join(f"`{by_id[i]['command']}` (`results/{i}.json`)" for i in README_RECORDS)
    lines += ["", f"Ours: {made}; {first['machine']}; {first['date']}.", END]
    return "\n".join(lines)


def render_speed_block(records: list[dict[str, Any]]) -> str:
    """The detection guide's speed table: the ``bench-engines`` record, with how it was made."""
    by_id = {r["id"]: r for r in records}
    lines = [SPEED_BEGIN]
    r = by_id.get(SPEED_RECORD)
    if r is None:
        lines.append(f"No `{SPEED_RECORD}` record yet: run `python scripts/results.py bench "
                     "bench_engines`.")  # fmt: skip
    else:
        table = benchmark_markdown(r) if r["kind"] == "benchmark" else r["markdown"]
        if r["kind"] == "benchmark":
            table = table.split("\n", 1)[1].lstrip("\n")  # the page has its own heading
        lines += [table.rstrip(), "", f"Made by `{r['command']}` on {r['machine']}, {r['date']} "
                  f"([record](../results.md#{r['id']}))."]  # fmt: skip
        if r.get("summary"):
            lines += ["", r["summary"]]
    lines.append(SPEED_END)
    return "\n".join(lines)


def replace_block(text: str, block: str, begin: str = BEGIN, end_marker: str = END) -> str:
    start, end = text.find(begin), text.find(end_marker)
    if start < 0 or end < start:
        raise SystemExit(f"no '{begin}' ... '{end_marker}' block to replace")
    return text[:start] + block + text[end + len(end_marker) :]


def render(check: bool) -> int:
    records = load_records()
    wanted = {
        PAGE: render_page(records),
        README: replace_block(README.read_text(), render_readme_table(records)),
        SPEED_PAGE: replace_block(
            SPEED_PAGE.read_text(), render_speed_block(records), SPEED_BEGIN, SPEED_END
        ),
    }
    stale = [p for p, text in wanted.items() if not p.is_file() or p.read_text() != text]
    if check:
        for path in stale:
            print(f"{path.relative_to(ROOT)}: differs from results/*.json: run "
                  "`python scripts/results.py render`", file=sys.stderr)  # fmt: skip
        return 1 if stale else 0
    for path in stale:
        path.write_text(wanted[path])
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


# ---- command line ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="action", required=True)
    r = sub.add_parser("render", help="write docs/results.md and the README's Table II")
    r.add_argument("--check", action="store_true", help="only say whether they are current")
    rr = sub.add_parser("record-run", help="record RUN's map/table2.json")
    rr.add_argument("run", type=Path)
    rr.add_argument("--id", required=True)
    rr.add_argument("--title", required=True)
    rr.add_argument("--command", required=True, help="the command that made the run")
    b = sub.add_parser("bench", help="re-run benchmark modules and record their output")
    b.add_argument("modules", nargs="+")
    bm = sub.add_parser("benchmark", help="record a benchmark.json of yof-darknet benchmark")
    bm.add_argument("report", type=Path)
    bm.add_argument("--id", required=True)
    bm.add_argument("--title", required=True)
    bm.add_argument("--command", required=True, help="the command that wrote it")
    again = sub.add_parser("rerun", help="run each record's command again and re-read it")
    again.add_argument("ids", nargs="+")
    args = parser.parse_args(argv)

    if args.action == "render":
        return render(args.check)
    if args.action == "record-run":
        old = {r["id"]: r for r in load_records()}.get(args.id, {})
        record = run_record(args.run, args.id, args.title, args.command, old.get("order", 100))
        for key in ("row", "summary"):
            if key in old:
                record[key] = old[key]
        print(f"wrote {write_record(record).relative_to(ROOT)}")
    elif args.action == "benchmark":
        record = benchmark_record(args.report, args.id, args.title, args.command)
        print(f"wrote {write_record(record).relative_to(ROOT)}")
    elif args.action == "bench":
        orders = {r["id"]: r.get("order", 200) for r in load_records()}
        for module in args.modules:
            record = bench_record(module, orders.get(module.replace("_", "-"), 200))
            print(f"wrote {write_record(record).relative_to(ROOT)}")
    else:
        records = {r["id"]: r for r in load_records()}
        for record_id in args.ids:
            old = records[record_id]
            if old["kind"] in ("bench", "benchmark"):
                record = bench_record(old["command"].split()[-1], old.get("order", 200))
            else:
                subprocess.run(shlex.split(old["command"]), cwd=ROOT, check=True)
                record = run_record(ROOT / old["run"], record_id, old["title"], old["command"],
                                    old.get("order", 100))  # fmt: skip
                for key in ("row", "summary"):
                    if key in old:
                        record[key] = old[key]
            print(f"wrote {write_record(record).relative_to(ROOT)}")
    return render(check=False)


if __name__ == "__main__":
    sys.exit(main())
