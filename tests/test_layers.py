"""The one rule of dependencies: a module imports only from its own folder or a layer below.

The folder is the layer (docs/developer/architecture.md), top to bottom:

- ``cli/``, ``workflows/``, ``serve/``: the commands, what runs several stages, the browser demo;
- the stages, one folder each: ``datasets/``, ``samples/``, ``training/``, ``evaluate/``,
  ``infer/``, ``export/``; a stage never imports another, except where one really runs
  another (``ACROSS``);
- ``tools/``: the programs and engines the stages run (darknet, subprocesses, SLURM, the face
  detector, ONNX Runtime's pre-processing);
- ``formats/``: Darknet's files;
- ``core/``: errors, the classes, option specs, atomic file I/O, ownership, progress.

And no import cycle inside a package, lazy imports included (``graphlib`` finds one).
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "yof_darknet"
LAYERS = (
    ("top", {"cli", "workflows", "serve", "__main__"}),
    ("stage", {"datasets", "samples", "training", "evaluate", "infer", "export"}),
    ("tools", {"tools"}),
    ("formats", {"formats"}),
    ("core", {"core", "__init__"}),
)

# Stage -> stage imports that run another stage, each named in docs/developer/architecture.md.
ACROSS = {
    ("evaluate", "infer"),  # map --engine opencv|ort runs the detector
    ("infer", "export"),  # detect exports cfg + weights to the ONNX model it runs (the cache)
}


def layer_of(part: str) -> int:
    for rank, (_, parts) in enumerate(LAYERS):
        if part in parts:
            return rank
    raise AssertionError(
        f"yof_darknet/{part}: in no layer; add it to LAYERS and docs/developer/architecture.md"
    )


def _part(package: Path, name: str) -> str:
    """``name`` imported from the package itself: a module or package, else ``__init__``'s."""
    is_module = (package / f"{name}.py").is_file() or (package / name).is_dir()
    return name if is_module else "__init__"


def imported_names(package: Path, path: Path) -> set[tuple[str, int]]:
    """(dotted name, line) of every import in ``path``, lazy and TYPE_CHECKING included:
    ``yof_darknet.a.b`` for ``import yof_darknet.a.b``, ``yof_darknet.a.b.name`` for ``from
    yof_darknet.a.b import name`` (relative imports made absolute)."""
    rel = path.relative_to(package).with_suffix("")
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = [node.module] if node.module else []
            if node.level:
                module = ["yof_darknet", *rel.parts[: len(rel.parts) - node.level], *module]
            names = [".".join([*module, alias.name]) for alias in node.names]
        else:
            continue
        found |= {(name, node.lineno) for name in names}
    return found


def imported_parts(package: Path, path: Path) -> set[tuple[str, int]]:
    """(part of yof_darknet, line) of every import in ``path``."""
    found = set()
    for name, line in imported_names(package, path):
        parts = name.split(".")
        if parts[0] == "yof_darknet" and len(parts) > 1:
            # `from yof_darknet import pipeline, __version__`: a module, else __init__'s
            found.add((parts[1] if len(parts) > 2 else _part(package, parts[1]), line))
    return found


def violations(package: Path = PACKAGE) -> list[str]:
    problems = []
    for path in sorted(package.rglob("*.py")):
        source = path.relative_to(package).with_suffix("").parts[0]
        rank = layer_of(source)
        for target, line in sorted(imported_parts(package, path)):
            if target == source:
                continue
            to = layer_of(target)
            where = f"yof_darknet/{path.relative_to(package)}:{line}: {source} imports {target}"
            if to < rank:
                problems.append(f"{where} (upward: {LAYERS[to][0]} is above {LAYERS[rank][0]})")
            elif to == rank and LAYERS[rank][0] == "stage" and (source, target) not in ACROSS:
                problems.append(f"{where} (across stages)")
    return problems


def test_every_import_goes_down_or_stays_in_its_package():
    assert violations() == []


@pytest.mark.parametrize(
    ("source", "code", "message"),
    [
        ("formats/fake.py", "from yof_darknet.training.train import train\n", "upward"),
        ("datasets/fake.py", "from yof_darknet.evaluate import ap\n", "across stages"),
        ("infer/fake.py", "if True:\n    from ..datasets.faces import Face\n", "across stages"),
        ("core/fake.py", "from yof_darknet.workflows import pipeline\n", "upward"),
        ("formats/fake.py", "from yof_darknet.tools.runner import run\n", "upward"),
    ],
)
def test_the_check_sees_upward_and_cross_stage_imports(tmp_path, source, code, message):
    root = tmp_path / "yof_darknet"
    (root / source).parent.mkdir(parents=True, exist_ok=True)
    (root / "workflows").mkdir()
    (root / "workflows" / "pipeline.py").write_text("")
    (root / source).write_text(code)
    (found,) = violations(root)
    assert message in found and source in found


def test_test_modules_share_helpers_only_through_tests_support():
    tests = Path(__file__).resolve().parent
    support = tests / "support"
    problems = []
    for path in sorted(tests.rglob("*.py")):
        if support in path.parents:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and (node.level or node.module == "tests"):
                problems.append(f"{path.relative_to(tests)}:{node.lineno}: {ast.unparse(node)}")
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                if name.startswith("tests.") and not name.startswith("tests.support"):
                    problems.append(f"{path.relative_to(tests)}:{node.lineno}: imports {name}")
    assert problems == []


def module_of(package: Path, dotted: str) -> str | None:
    """The module of the package ``dotted`` names (``a.b`` of ``yof_darknet.a.b.name``)."""
    parts = dotted.split(".")[1:]
    while parts:
        base = package.joinpath(*parts)
        if base.with_suffix(".py").is_file() or (base / "__init__.py").is_file():
            return ".".join(parts)
        parts = parts[:-1]
    return None


def module_imports(package: Path, path: Path) -> set[str]:
    """The package's modules ``path`` imports."""
    found = set()
    for name, _ in imported_names(package, path):
        module = module_of(package, name) if name.startswith("yof_darknet.") else None
        if module:
            found.add(module)
    return found


def cycles(package: Path = PACKAGE) -> list[str]:
    """One import cycle per package that has one (modules of one folder importing in a ring)."""
    graphs: dict[str, dict[str, set[str]]] = {}
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package).with_suffix("")
        module = ".".join(rel.parts).removesuffix(".__init__")
        folder = ".".join(rel.parts[:-1])
        same = {m for m in module_imports(package, path) if m.rpartition(".")[0] == folder}
        graphs.setdefault(folder, {})[module] = same - {module}
    found = []
    for folder, graph in sorted(graphs.items()):
        try:
            tuple(graphlib.TopologicalSorter(graph).static_order())
        except graphlib.CycleError as error:
            found.append(f"yof_darknet/{folder.replace('.', '/')}: " + " -> ".join(error.args[1]))
    return found


def test_no_import_cycle_inside_a_package():
    assert cycles() == []


def test_the_cycle_check_sees_a_lazy_cycle(tmp_path):
    root = tmp_path / "yof_darknet"
    (root / "datasets").mkdir(parents=True)
    (root / "datasets" / "a.py").write_text("from yof_darknet.datasets.b import f\n")
    (root / "datasets" / "b.py").write_text("def f():\n    from yof_darknet.datasets import a\n")
    (found,) = cycles(root)
    assert found.startswith("yof_darknet/datasets:") and "a" in found and "b" in found
