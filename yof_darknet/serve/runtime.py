"""ONNX Runtime Web, the page's runtime: which of its files the page loads, and how they get into
the package.

The npm package ``onnxruntime-web`` is pinned in ``web/package.json`` and ``web/package-lock.json``
(integrity hashes). ``make setup`` runs ``python -m yof_darknet.serve.runtime``: ``npm ci`` into
``web/node_modules`` (git-ignored), then only the files below are copied into ``web/vendor/``
(git-ignored, shipped as package data): two builds, each an ES module and its WebAssembly binary,

* ``ort.wasm.min.mjs`` + ``ort-wasm-simd-threaded.{mjs,wasm}`` (~15 MB): the CPU build, WASM
  with SIMD and threads; what most browsers run, and every int8 model;
* ``ort.webgpu.min.mjs`` + ``ort-wasm-simd-threaded.asyncify.{mjs,wasm}`` (~29 MB): WebGPU, for
  fp32 models where the browser has it.

The page fetches the build it uses from this server only: nothing comes from a CDN.
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from yof_darknet.core.errors import ServeError
from yof_darknet.tools.runner import run

WEB = Path(__file__).resolve().parent / "web"
VENDOR = WEB / "vendor" / "onnxruntime-web"
PACKAGE = "onnxruntime-web"
BUILDS = {
    "wasm": ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm"),
    "webgpu": (
        "ort.webgpu.min.mjs",
        "ort-wasm-simd-threaded.asyncify.mjs",
        "ort-wasm-simd-threaded.asyncify.wasm",
    ),
}
FILES = tuple(name for files in BUILDS.values() for name in files)
VERSION_FILE = "version.json"
SETUP_HINT = "run `make setup` (it installs the pinned onnxruntime-web with npm)"


@dataclass(frozen=True)
class Runtime:
    """The vendored ONNX Runtime Web: its folder and version."""

    folder: Path
    version: str


def pinned_version(web: Path = WEB) -> str:
    """The onnxruntime-web version ``web/package.json`` pins."""
    return json.loads((web / "package.json").read_text())["dependencies"][PACKAGE]


def find_runtime(folder: Path = VENDOR, web: Path = WEB) -> Runtime:
    """The vendored runtime, checked complete and of the pinned version."""
    missing = [name for name in (*FILES, VERSION_FILE) if not (folder / name).is_file()]
    if missing:
        raise ServeError(
            f"{folder}: ONNX Runtime Web is missing ({', '.join(missing)}); {SETUP_HINT}"
        )
    version = json.loads((folder / VERSION_FILE).read_text())["version"]
    if version != pinned_version(web):
        raise ServeError(
            f"{folder}: ONNX Runtime Web {version}, but {web / 'package.json'} pins "
            f"{pinned_version(web)}; {SETUP_HINT}"
        )
    return Runtime(folder, version)


def install_runtime(web: Path = WEB, folder: Path = VENDOR) -> Runtime:
    """``npm ci`` the pinned package into ``web/node_modules`` and copy the page's files into
    ``folder`` (replaced as a whole). Nothing is run when ``folder`` already holds the pinned
    version."""
    try:
        return find_runtime(folder, web)
    except ServeError:
        pass
    npm = shutil.which("npm")
    if npm is None:
        raise ServeError(
            "npm not found: install Node.js and npm (Debian: apt-get install npm), then "
            "run `make setup` again"
        )
    done = run([npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=web, timeout=900)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise ServeError(
            f"{web}: npm ci failed (exit {done.returncode}: {' / '.join(tail)}); is the npm "
            "registry reachable? Then run `make setup` again"
        )
    dist = web / "node_modules" / PACKAGE / "dist"
    version = json.loads((web / "node_modules" / PACKAGE / "package.json").read_text())["version"]
    staging = folder.with_name(folder.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for name in FILES:
        shutil.copyfile(dist / name, staging / name)
    # the folder appears whole (renamed): fileio's atomic writes refuse the package's own files
    (staging / VERSION_FILE).write_text(
        json.dumps({"package": PACKAGE, "version": version, "license": "MIT"}) + "\n"
    )
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)
    return find_runtime(folder, web)


def main() -> None:
    runtime = install_runtime()
    print(f"onnxruntime-web {runtime.version}: {runtime.folder}", file=sys.stderr)


if __name__ == "__main__":
    main()
