"""The page in a real browser (Debian's headless Chromium, its camera fed from the sample's video):
its detections equal `detect`'s on the same frames, fp32 and int8; dropped images and videos;
the run's results; the errors a user can act on; nothing fetched from elsewhere."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from tests.support.boxes import iou_xyxy
from tests.support.browser import Chromium, Page, frame_pixels
from tests.support.model import TinyModel
from yof_darknet.cli import main
from yof_darknet.formats.trainlog import records
from yof_darknet.training.results import plot_results

# a low threshold: the 20-iteration tiny model scores the sample's faces low, and many
# detections per frame make the comparison with `detect` worth something
THRESH = 0.05
NMS = 0.45
READY = "window.yofPage && ['ready', 'error'].includes(yofPage.state())"


def open_page(browser: Chromium, url: str) -> Page:
    """A new tab on ``url`` (its requests recorded), the model loaded; it may use the camera."""
    browser.allow_camera(url.split("?")[0])
    page = browser.new_page()
    page.send("Network.enable")
    page.goto(url)
    page.wait_for(READY, timeout=120)
    assert page.evaluate("yofPage.state()") == "ready", page.evaluate("document.body.innerText")
    return page


def detect_json(image_path: Path, model: Path, tmp_path: Path) -> dict:
    """`yof-darknet detect IMAGE --model M --json` on one image: its record."""
    out = tmp_path / f"{image_path.stem}.detect.jsonl"
    result = CliRunner().invoke(
        main,
        ["detect", str(image_path), "--model", str(model), "--json", str(out),
         "--thresh", str(THRESH), "--nms", str(NMS)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (line,) = out.read_text().splitlines()
    return json.loads(line)


def _explained(det: dict, side: list[dict]) -> bool:
    """A detection only one side reports is allowed at a decision boundary: its score at the
    threshold, or its overlap with a better box of its class at the NMS IoU."""
    if abs(det["score"] - THRESH) <= 1e-3:
        return True
    return any(
        other is not det and other["class"] == det["class"]
        and other["score"] >= det["score"] - 1e-3
        and abs(iou_xyxy(other["box"], det["box"]) - NMS) <= 0.01
        for other in side
    )  # fmt: skip


def assert_same_detections(page: dict, detect: dict) -> None:
    """Scores within 1e-3 and boxes within 1 px, detection by detection."""
    unpaired = list(page["detections"])
    alone = []
    for det in detect["detections"]:
        match = next(
            (
                p for p in unpaired
                if p["class"] == det["class"] and abs(p["score"] - det["score"]) <= 1e-3
                and all(abs(a - b) <= 1.0 for a, b in zip(p["box"], det["box"], strict=True))
            ),
            None,
        )  # fmt: skip
        if match is None:
            alone.append(("detect", det))
        else:
            unpaired.remove(match)
    alone += [("page", p) for p in unpaired]
    for where, det in alone:
        side = detect["detections"] if where == "detect" else page["detections"]
        assert _explained(det, side), f"only {where} has {det}\npage: {page}\ndetect: {detect}"
    assert len(alone) <= max(1, len(detect["detections"]) // 10), alone


def camera_frames(page: Page, count: int) -> list[dict]:
    """``count`` snapshots of different camera frames (pixels + JSON line of one frame)."""
    page.send("Page.bringToFront")  # the tab the user looks at: a hidden one gets few frames
    page.evaluate("document.getElementById('camera-start').click()")
    snapshots: list[dict] = []
    while len(snapshots) < count:
        seen = snapshots[-1]["line"] if snapshots else None
        page.wait_for(f"yofPage.lastFrame() && yofPage.lastFrame().line !== {json.dumps(seen)}")
        snapshots.append(page.evaluate("yofPage.lastFrame()"))
    page.evaluate("yofPage.stop()")
    return snapshots


@pytest.fixture(scope="module")
def pages(browser, serving, exported) -> dict[str, Page]:
    """One tab per model (fp32, int8), each on its own server, opened once for the module:
    loading ONNX Runtime Web is what takes time."""
    opened = {}
    for precision in ("fp32", "int8"):
        demo = serving(model=exported[precision])
        opened[precision] = open_page(browser, f"{demo.server.url}?thresh={THRESH}")
    return opened


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_camera_detections_equal_detect_on_the_same_frames(precision, pages, exported, tmp_path):
    page = pages[precision]
    backend = page.evaluate("yofPage.backend()")
    assert backend["backend"] == "wasm" and backend["isolated"] and backend["threads"] >= 2
    note = page.evaluate("document.getElementById('backend-note').textContent")
    if precision == "fp32":  # --disable-gpu: no adapter; the page falls back and says so
        assert "WebGPU" in note and "running on WebAssembly instead" in note, note
    else:
        assert "int8 model runs on WebAssembly" in note, note
    checked = 0
    for index, snapshot in enumerate(camera_frames(page, 4)):
        record = json.loads(snapshot["line"])
        assert record["source"] == "camera0"
        assert (snapshot["width"], snapshot["height"]) == (240, 180)
        path = tmp_path / f"frame{index}.png"  # lossless: detect reads the page's pixels
        cv2.imwrite(str(path), frame_pixels(snapshot))
        expected = detect_json(path, exported[precision], tmp_path)
        assert_same_detections(record, expected)
        checked += len(expected["detections"])
    assert checked >= 10, "too few detections for the comparison to mean anything"
    shown = json.loads(page.evaluate("document.getElementById('detections').textContent"))
    assert set(shown) == {"source", "frame", "detections"}


def test_camera_permission_refused_says_how_to_allow_it(browser, pages):
    page = pages["fp32"]
    origin = page.evaluate("location.origin")
    browser.allow_camera(origin, allowed=False)
    try:
        assert "Camera permission denied: allow the camera" in _camera_error(page)
    finally:
        browser.allow_camera(origin)
        page.evaluate("document.getElementById('error').textContent = ''")


def test_dropped_image_is_annotated_and_downloads_detects_json(
    browser, pages, exported, sample_frames, tmp_path
):
    page = pages["fp32"]
    page.send("Page.bringToFront")
    image = tmp_path / "face.png"
    cv2.imwrite(str(image), sample_frames[5])
    page.drop_files("#drop-zone", [image])
    line = page.wait_for(
        "(() => { const t = document.getElementById('detections').textContent;"
        " return t.includes('face.png') && t; })()"
    )
    record = json.loads(line)
    expected = detect_json(image, exported["fp32"], tmp_path)
    assert record["source"] == "face.png" and record["frame"] == 0
    assert_same_detections(record, expected)
    assert len(expected["detections"]) >= 3
    downloads = tmp_path / "downloads"
    behavior = {"behavior": "allow", "downloadPath": str(downloads), "eventsEnabled": True}
    browser.send("Browser.setDownloadBehavior", behavior)
    page.evaluate("document.getElementById('download-json').click()")
    browser.wait_event("Browser.downloadProgress", lambda p: p.get("state") == "completed")
    (saved,) = downloads.glob("*.jsonl")
    assert saved.name == "face.detections.jsonl"
    assert saved.read_text() == line + "\n"
    # annotated: the canvas shows the image with the boxes and labels drawn over it, and
    # nothing elsewhere (draw.js at this frame size: 1-px strokes; a label at most 14 px high
    # and, for names and 2-decimal scores, under 110 px wide, above the box's top-left corner
    # or just below it, shifted left to stay in the frame)
    canvas = page.canvas_pixels("#view")
    changed = (canvas != sample_frames[5]).any(axis=2)
    width = changed.shape[1]
    drawn = np.zeros_like(changed)
    for det in expected["detections"]:
        x1, y1, x2, y2 = (round(v) for v in det["box"])
        for y in (y1, y2):  # the box's outline
            drawn[max(0, y - 2) : y + 3, max(0, x1 - 2) : x2 + 3] = True
        for x in (x1, x2):
            drawn[max(0, y1 - 2) : y2 + 3, max(0, x - 2) : x + 3] = True
        left = max(0, min(x1 - 1, width - 110))
        drawn[max(0, y1 - 16) : y1 + 17, left : left + 112] = True  # its label
    assert changed.mean() > 0.01 and drawn.mean() < 0.95
    assert not (changed & ~drawn).any(), np.argwhere(changed & ~drawn)[:5]


def test_dropped_video_is_read_frame_by_frame(pages, exported, sample_frames, tmp_path):
    video = tmp_path / "clip.webm"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"VP80"), 10, (240, 180))
    assert writer.isOpened()
    for frame in sample_frames[:12]:
        writer.write(frame)
    writer.release()
    page = pages["int8"]
    page.send("Page.bringToFront")  # a hidden tab shows no video frames
    page.set_files("#file-input", [video])
    page.wait_for("document.body.dataset.done === '1' || document.body.dataset.error === '1'", 120)
    assert not page.evaluate("document.getElementById('error').textContent")
    lines = page.evaluate("yofPage.jsonLines()").splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["frame"] for r in records] == list(range(12))
    assert {r["source"] for r in records} == {"clip.webm"}
    assert sum(len(r["detections"]) for r in records) > 0
    last = page.evaluate("yofPage.lastFrame()")
    image = tmp_path / "last.png"
    cv2.imwrite(str(image), frame_pixels(last))
    assert_same_detections(json.loads(last["line"]), detect_json(image, exported["int8"], tmp_path))


def test_the_run_shows_table_ii_and_its_figures(browser, serving, tiny_model: TinyModel, tmp_path):
    run = tmp_path / "runs" / "tiny"
    (run / "weights").mkdir(parents=True)
    shutil.copyfile(tiny_model.cfg, run / "yolov3-tiny.cfg")
    shutil.copyfile(tiny_model.weights, run / "weights" / "yolov3-tiny_final.weights")
    shutil.copyfile(tiny_model.names, run / "obj.names")
    log = (tiny_model.root / "train.log").read_text(errors="replace").splitlines()
    plot_results(run / "results.png", list(records(log)), "tiny")
    result = CliRunner().invoke(
        main,
        ["map", "--data", str(tiny_model.data), "--weights", str(run / "weights" /
         "yolov3-tiny_final.weights"), "--cfg", str(run / "yolov3-tiny.cfg"), "--engine",
         "opencv", "--out", str(run / "map")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    demo = serving(run=run)
    assert (
        demo.model.source
        == f"{run / 'yolov3-tiny.cfg'} + {run / 'weights'}/yolov3-tiny_final.weights"
    )
    page = open_page(browser, demo.server.url)
    rows = page.evaluate(
        "[...document.querySelectorAll('#table2 tr')]"
        ".map(r => [...r.cells].map(c => c.textContent))"
    )
    assert rows[0][:3] == ["subset", "class_id", "class"]
    assert [row[2] for row in rows[1:8]] == list(tiny_model.names.read_text().split())
    assert rows[8][2] == "mAP"
    loaded = page.wait_for(
        "(() => { const i = [...document.querySelectorAll('#run img')];"
        " return i.length === 3 && i.every(x => x.complete && x.naturalWidth > 0) &&"
        " i.map(x => new URL(x.src).pathname); })()"
    )
    assert loaded == ["/run/results.png", "/run/pr_curves.png", "/run/confusion_matrix.png"]


def test_every_request_stays_on_the_server(browser, pages):
    """Works offline once served: the page, its scripts and ONNX Runtime Web all come from the
    server, nothing from a CDN."""
    for page in pages.values():
        url = page.evaluate("location.origin") + "/"
        urls = [
            event["params"]["request"]["url"]
            for event in list(browser.events)
            if event["method"] == "Network.requestWillBeSent"
            and event.get("sessionId") == page.session
        ]
        assert f"{url}ort/ort-wasm-simd-threaded.wasm" in urls
        assert f"{url}model.onnx" in urls
        outside = [u for u in urls if not u.startswith((url, "blob:", "data:"))]
        assert not outside


def _camera_error(page: Page) -> str:
    page.evaluate("document.getElementById('camera-start').click()")
    return page.wait_for("document.getElementById('error').textContent", timeout=30)


def test_no_camera_no_webgpu_and_a_model_the_browser_cannot_run(
    chromium, serving, exported, tmp_path
):
    demo = serving(model=exported["fp32"])
    with Chromium(tmp_path / "no-camera", executable=chromium) as bare:
        # WebGPU asked for where there is none: the page falls back and says so
        page = open_page(bare, f"{demo.server.url}?backend=webgpu")
        assert page.evaluate("yofPage.backend().backend") == "wasm"
        note = page.evaluate("document.getElementById('backend-note').textContent")
        assert "running on WebAssembly instead" in note, note
        # a machine with no camera at all
        assert "No camera found: connect a camera" in _camera_error(page)
        # a model ONNX Runtime Web cannot run (an operator it does not have)
        odd = tmp_path / "odd.onnx"
        _with_unknown_operator(exported["fp32"], odd)
        page = bare.new_page()
        page.goto(serving(model=odd).server.url)
        page.wait_for(READY, timeout=120)
        assert page.evaluate("yofPage.state()") == "error"
        text = page.evaluate("document.getElementById('error').textContent")
        assert "this browser cannot run the model" in text and "yof-darknet export" in text, text


def _with_unknown_operator(model: Path, out: Path) -> None:
    """``model`` with one more output computed by an operator no runtime knows."""
    import onnx
    from onnx import helper

    proto = onnx.load(str(model))
    graph = proto.graph
    graph.node.append(helper.make_node("Frobnicate", ["images"], ["odd"], domain="org.example"))
    graph.output.append(helper.make_tensor_value_info("odd", onnx.TensorProto.FLOAT, None))
    proto.opset_import.append(helper.make_opsetid("org.example", 1))
    out.write_bytes(proto.SerializeToString())


# WebGPU on the CPU (SwiftShader's Vulkan): real, but ~15 s a frame on a busy 2-core machine
WEBGPU_FLAGS = (
    "--enable-unsafe-webgpu", "--enable-features=Vulkan", "--use-angle=swiftshader",
    "--use-webgpu-adapter=swiftshader", "--enable-unsafe-swiftshader",
)  # fmt: skip


@pytest.mark.skipif(
    os.environ.get("YOF_TEST_WEBGPU") != "1",
    reason="WebGPU through SwiftShader takes minutes here: set YOF_TEST_WEBGPU=1",
)
def test_webgpu_detections_equal_detect(chromium, serving, exported, sample_frames, tmp_path):
    """The WebGPU backend (Chromium's SwiftShader adapter, no --disable-gpu) on a dropped image:
    the same detections as `detect`."""
    demo = serving(model=exported["fp32"])
    with Chromium(tmp_path / "webgpu", executable=chromium, flags=WEBGPU_FLAGS,
                  keep_gpu=True) as gpu:  # fmt: skip
        page = open_page(gpu, f"{demo.server.url}?thresh={THRESH}")
        assert page.evaluate("yofPage.backend().backend") == "webgpu"
        image = tmp_path / "face.png"
        cv2.imwrite(str(image), sample_frames[5])
        page.drop_files("#drop-zone", [image])
        line = page.wait_for(
            "(() => { const t = document.getElementById('detections').textContent;"
            " return t.includes('face.png') && t; })()",
            timeout=300,
        )
        assert_same_detections(json.loads(line), detect_json(image, exported["fp32"], tmp_path))
