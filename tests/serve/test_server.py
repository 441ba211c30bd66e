"""The server of `yof-darknet serve`, without a browser: what it serves, with which headers,
what it refuses (paths outside what it serves, other methods), and its errors."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys

import pytest
from click.testing import CliRunner

from yof_darknet.cli import main
from yof_darknet.core.errors import InferenceError, ServeError
from yof_darknet.core.fileio import sha256_file
from yof_darknet.serve.runtime import FILES, VENDOR, find_runtime, pinned_version
from yof_darknet.serve.server import DemoServer
from yof_darknet.serve.site import WEB
from yof_darknet.tools.netinput import resize_graph


def get(url: str, path: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    """One request with ``path`` sent exactly as given (http.client does not normalise it)."""
    host, port = url.removeprefix("http://").rstrip("/").rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.putrequest(method, path, skip_accept_encoding=True)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


@pytest.fixture(scope="module")
def demo(serving, exported):
    return serving(model=exported["fp32"])


def test_the_page_its_scripts_runtime_and_model_are_served(demo, exported):
    status, headers, body = get(demo.server.url, "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert b'<script type="module" src="/app/app.js">' in body
    for name in ("app.js", "yolo.js", "runtime.js", "draw.js", "run.js", "style.css"):
        status, _, body = get(demo.server.url, f"/app/{name}")
        assert status == 200 and body == (WEB / name).read_bytes()
    status, headers, body = get(demo.server.url, "/ort/ort-wasm-simd-threaded.wasm")
    assert status == 200 and headers["Content-Type"] == "application/wasm"
    assert body == (VENDOR / "ort-wasm-simd-threaded.wasm").read_bytes()
    assert headers["Cache-Control"] == "max-age=86400"
    status, headers, _ = get(demo.server.url, "/ort/ort.wasm.min.mjs")
    assert headers["Content-Type"].startswith("text/javascript")
    status, _, body = get(demo.server.url, "/model.onnx")
    assert status == 200 and body == exported["fp32"].read_bytes()
    status, _, body = get(demo.server.url, "/resize.onnx")  # the page's pre-processing
    assert status == 200 and body == resize_graph("rgba").SerializeToString()
    status, _, body = get(demo.server.url, "/config.json?x=1")
    config = json.loads(body)
    assert config["model"]["precision"] == "fp32"
    assert (config["model"]["width"], config["model"]["height"]) == (96, 96)
    assert len(config["model"]["heads"]) == 2 and config["model"]["outputs"] == [
        "conv_15",
        "conv_22",
    ]
    assert config["thresh"] == 0.25 and config["nms"] == 0.45 and config["run"] is None
    assert config["resize_url"] == "/resize.onnx"


def test_every_answer_isolates_the_page(demo):
    """COOP + COEP make the page cross-origin isolated (WebAssembly threads need it); the CSP
    keeps every script, worker and fetch on this server."""
    for path in ("/", "/app/app.js", "/ort/ort.wasm.min.mjs", "/model.onnx", "/nothing"):
        _, headers, _ = get(demo.server.url, path)
        assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
        assert headers["Cross-Origin-Embedder-Policy"] == "require-corp"
        assert headers["X-Content-Type-Options"] == "nosniff"
        policy = headers["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "script-src 'self' 'wasm-unsafe-eval'" in policy


OUTSIDE = [
    "/../../../../etc/passwd",
    "/app/../../../../etc/passwd",
    "/app/../site.py",
    "/app/%2e%2e/site.py",
    "/app/%2E%2E/%2E%2E/errors.py",
    "/app/..%2f..%2ferrors.py",
    "/app/..%5c..%5cerrors.py",
    "/ort/%2e%2e/%2e%2e/server.py",
    "/app/./app.js",
    "/app//app.js",
    "/app\\..\\site.py",
    "/model.onnx%00.png",
    "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/app/%ff%fe",
    "http://127.0.0.1/../../etc/passwd",
    "*",
]
NOT_SERVED = [
    "/app/package.json",
    "/app/package-lock.json",
    "/app/index.html",
    "/app/node_modules/onnxruntime-web/package.json",
    "/ort/version.json",
    "/ort/",
    "/app/",
    "/etc/passwd",
    "//etc/passwd",  # the standard library's handler reads a leading // as /
    "/run/results.png",
    "/model.onnx/x",
    "/server.py",
]


@pytest.mark.parametrize("path", OUTSIDE)
def test_paths_that_step_outside_are_refused(demo, path):
    status, _, body = get(demo.server.url, path)
    assert status == 400, (path, status)
    assert body.startswith(b"400 Bad Request: refused")
    assert b"root:" not in body and b"import" not in body


@pytest.mark.parametrize("path", NOT_SERVED)
def test_files_beside_the_served_ones_are_not_found(demo, path):
    status, _, body = get(demo.server.url, path)
    assert status == 404, (path, status)
    assert body == b"404 Not Found: not found\n"


def test_only_get_and_head(demo, exported):
    status, headers, body = get(demo.server.url, "/model.onnx", "HEAD")
    assert status == 200 and body == b""
    assert int(headers["Content-Length"]) == exported["fp32"].stat().st_size
    for method in ("POST", "PUT", "DELETE", "OPTIONS", "PATCH"):
        status, headers, _ = get(demo.server.url, "/model.onnx", method)
        assert status == 405 and headers["Allow"] == "GET, HEAD"


def test_serving_leaves_the_model_untouched(serving, exported):
    before = sha256_file(exported["int8"])
    demo = serving(model=exported["int8"])
    for _ in range(3):
        assert get(demo.server.url, "/model.onnx")[2] == exported["int8"].read_bytes()
    assert json.loads(get(demo.server.url, "/config.json")[2])["model"]["precision"] == "int8"
    assert sha256_file(exported["int8"]) == before


def test_cfg_and_weights_are_exported_once_beside_the_weights(serving, tiny_model, tmp_path):
    cfg, weights = tmp_path / "tiny.cfg", tmp_path / "w" / "tiny.weights"
    weights.parent.mkdir()
    shutil.copyfile(tiny_model.cfg, cfg)
    shutil.copyfile(tiny_model.weights, weights)
    demo = serving(cfg=cfg, weights=weights, size=64, thresh=0.3)
    (cached,) = (weights.parent / ".yof-onnx").glob("*.onnx")
    assert demo.model.path == cached and demo.model.source == f"{cfg} + {weights}"
    config = json.loads(get(demo.server.url, "/config.json")[2])
    assert (config["model"]["width"], config["model"]["height"]) == (64, 64)
    assert config["thresh"] == 0.3
    assert get(demo.server.url, "/model.onnx")[2] == cached.read_bytes()


def test_a_run_without_map_says_which_command_makes_it(serving, tiny_model, tmp_path):
    run = tmp_path / "runs" / "tiny"
    (run / "weights").mkdir(parents=True)
    shutil.copyfile(tiny_model.cfg, run / "yolov3-tiny.cfg")
    with pytest.raises(ServeError, match=r"yolov3-tiny_final.weights: not there"):
        serving(run=run)
    shutil.copyfile(tiny_model.weights, run / "weights" / "yolov3-tiny_final.weights")
    demo = serving(run=run)
    config = json.loads(get(demo.server.url, "/config.json")[2])
    assert config["run"]["table"] == []
    assert "run `yof-darknet map`" in config["run"]["table_hint"]
    assert config["run"]["figures"] == {
        "results.png": False, "pr_curves.png": False, "confusion_matrix.png": False
    }  # fmt: skip
    assert get(demo.server.url, "/run/results.png")[0] == 404


def test_models_it_cannot_serve_are_one_line_errors(serving, exported, tiny_model, tmp_path):
    with pytest.raises(ServeError, match=r"give --model M.onnx, or --cfg C and --weights W"):
        serving()
    with pytest.raises(ServeError, match=r"give --model alone"):
        serving(model=exported["fp32"], cfg=tiny_model.cfg)
    bare = tmp_path / "bare.onnx"
    import onnx

    proto = onnx.load(str(exported["fp32"]))
    del proto.metadata_props[:]
    bare.write_bytes(proto.SerializeToString())
    with pytest.raises(InferenceError, match=r"no yof-darknet metadata; make the model with"):
        serving(model=bare)
    with pytest.raises(ServeError, match=r"no run cfg"):
        serving(run=tmp_path)


def test_a_taken_port_is_a_clear_error(demo, exported):
    result = CliRunner().invoke(
        main, ["serve", "--model", str(exported["fp32"]), "--port", str(demo.server.port)]
    )
    assert result.exit_code == 1
    assert f"127.0.0.1:{demo.server.port} is in use" in result.output
    assert "pick another --port" in result.output


def test_a_host_that_is_not_this_machine_is_a_clear_error():
    with pytest.raises(ServeError, match=r"--host 192.0.2.1: not an address of this machine"):
        DemoServer({}, "192.0.2.1", 0)


def test_the_runtime_must_be_complete_and_the_pinned_version(tmp_path):
    runtime = find_runtime()
    assert runtime.version == pinned_version() == "1.31.1"
    notes = (WEB / "THIRD_PARTY.md").read_text()  # the licences noted for the pinned version
    assert f"| {runtime.version} |" in notes and f"v{runtime.version}" in notes
    copy = tmp_path / "ort"
    shutil.copytree(VENDOR, copy)
    (copy / FILES[1]).unlink()
    with pytest.raises(ServeError, match=rf"{FILES[1]}\); run `make setup`"):
        find_runtime(copy)
    shutil.copyfile(VENDOR / FILES[1], copy / FILES[1])
    (copy / "version.json").write_text('{"version": "1.0.0"}')
    with pytest.raises(ServeError, match=r"ONNX Runtime Web 1.0.0, but .* pins 1.31.1"):
        find_runtime(copy)


def test_the_command_prints_where_to_open_it_and_stops_on_ctrl_c(exported):
    process = subprocess.Popen(
        [sys.executable, "-m", "yof_darknet", "serve", "--model", str(exported["fp32"]),
         "--port", "0"],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        lines = [process.stderr.readline() for _ in range(3)]
        assert lines[0].startswith(f"serve: {exported['fp32']} (fp32, 96x96, 7 classes)")
        url = lines[1].split("open ", 1)[1].split()[0]
        assert url.startswith("http://127.0.0.1:")
        port = url.rstrip("/").rsplit(":", 1)[1]
        assert f"ssh -L {port}:127.0.0.1:{port} {socket.gethostname()}" in lines[2]
        assert get(url, "/")[0] == 200
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
        assert "serve: stopped" in process.stderr.read()
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
