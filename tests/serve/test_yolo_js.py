"""The page's numbers (web/yolo.js and the resize graph in ONNX Runtime Web, run by Node.js)
against the Python they port, on the same inputs: detect's network input bit for bit (letterbox,
Darknet's last row, sides under 2 pixels), the [yolo] decoder, thresholds, NMS (IoU, DIoU) and the
JSON line, over cfgs the tiny model does not cover (letterbox, scale_x_y, new_coords, DIoU NMS)
and odd image sizes. Node.js comes with npm, which `make setup` needs."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.support.model import TinyModel
from tests.support.skips import NO_NODE
from yof_darknet.export.run import ExportOptions, export_model
from yof_darknet.infer.detector import Detection, Detector
from yof_darknet.infer.outputs import frame_record
from yof_darknet.infer.weightsfile import write_random_weights
from yof_darknet.infer.yolo import decode_heads
from yof_darknet.serve.runtime import VENDOR
from yof_darknet.serve.site import WEB
from yof_darknet.tools.netinput import fill_input, resize_graph

RUNNER = """
import { readFileSync, writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
const [yoloPath, ortPath, resizePath, casesPath, outPath] = process.argv.slice(1);
const yolo = await import(pathToFileURL(yoloPath).href);
const ort = await import(pathToFileURL(ortPath).href);
ort.env.wasm.numThreads = 1;
const resize = await ort.InferenceSession.create(readFileSync(resizePath));
const floats = (text) => new Float32Array(new Uint8Array(Buffer.from(text, "base64")).buffer);
const text = (array) =>
  Buffer.from(array.buffer, array.byteOffset, array.byteLength).toString("base64");
const results = [];
for (const c of JSON.parse(readFileSync(casesPath))) {
  if (c.kind === "record") {
    results.push(yolo.recordJson(yolo.frameRecord(c.source, c.frame, c.dets, c.wh)));
    continue;
  }
  const [w, h] = c.wh;
  const rgba = new Uint8Array(Buffer.from(c.rgba, "base64"));
  const where = yolo.placement(w, h, c.model.width, c.model.height, c.model.letter_box);
  let resized = null;
  if (yolo.resizedByOnnx(w, h, where)) {
    const sizes = BigInt64Array.from([1n, 3n, BigInt(where.newH), BigInt(where.newW)]);
    const out = await resize.run({
      rgba: new ort.Tensor("uint8", rgba, [h, w, 4]),
      sizes: new ort.Tensor("int64", sizes, [4]),
    });
    resized = out.out.data;
  }
  const input = yolo.networkInput(rgba, w, h, c.model, resized);
  const outputs = Object.fromEntries(
    Object.entries(c.raws).map(([name, raw]) => [name, { data: floats(raw.data), dims: raw.dims }]),
  );
  const rows = yolo.decodeHeads(outputs, c.model);
  const dets = yolo.detections(rows, input.placement, c.wh, c.model, c.thresh, c.nms);
  const line = yolo.recordJson(yolo.frameRecord("x.png", 0, dets, c.wh));
  results.push({ blob: text(input.blob), rows: text(rows.data), line });
}
writeFileSync(outPath, JSON.stringify(results));
"""


def run_node(cases: list[dict], tmp_path: Path) -> list:
    node = shutil.which("node")
    if node is None:
        pytest.skip(NO_NODE)
    inputs, outputs = tmp_path / "cases.json", tmp_path / "results.json"
    inputs.write_text(json.dumps(cases))
    resize = tmp_path / "resize.onnx"
    resize.write_bytes(resize_graph("rgba").SerializeToString())
    done = subprocess.run(
        [node, "--input-type=module", "-e", RUNNER, str(WEB / "yolo.js"),
         str(VENDOR / "ort.wasm.min.mjs"), str(resize), str(inputs), str(outputs)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(outputs.read_text())


def _floats(text: str, shape) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype=np.float32).reshape(shape)


def _variant(template: str, net: int, kind: str) -> str:
    """The tiny cfg at ``net`` with letterbox and the heads' options of ``kind``."""
    text = re.sub(r"(?m)^width=.*$", f"width={net}", template)
    text = re.sub(r"(?m)^height=.*$", f"height={net}", text)
    text = text.replace("[net]\n", "[net]\nletter_box=1\n", 1)
    heads = {
        "diou": "scale_x_y=1.05\nnms_kind=diounms\nbeta_nms=0.6\n",
        "greedy": "scale_x_y=1.1\nnms_kind=greedynms\n",
        "new_coords": "new_coords=1\nscale_x_y=2.0\n",
    }[kind]
    text = text.replace("[yolo]\n", "[yolo]\n" + heads)
    if kind == "new_coords":  # the head convolutions end in a logistic (yolov7-tiny)
        text = text.replace("activation=linear", "activation=logistic")
    return text


@pytest.fixture(scope="module")
def models(tiny_model: TinyModel, tmp_path_factory) -> dict[str, Detector]:
    """The tiny model as is (96, no letterbox), and random-weight variants at 64 with
    letterbox, scale_x_y and DIoU, greedy or new_coords heads."""
    root = tmp_path_factory.mktemp("yolo-js")
    calibrate = [cv2.imread(str(p)) for p in tiny_model.train_images[:4]]
    found = {
        "tiny": Detector(model=_export(tiny_model.cfg, tiny_model.weights, root / "tiny.onnx"))
    }
    for kind in ("diou", "greedy", "new_coords"):
        cfg = root / f"{kind}.cfg"
        cfg.write_text(_variant(tiny_model.cfg.read_text(), 64, kind))
        weights = root / f"{kind}.weights"
        write_random_weights(cfg, weights, seed=3, calibrate=calibrate)
        found[kind] = Detector(model=_export(cfg, weights, root / f"{kind}.onnx"))
    return found


def _export(cfg: Path, weights: Path, out: Path) -> Path:
    export_model(ExportOptions(cfg, weights, out, names=[f"c{i}" for i in range(7)]))
    return out


def _model(detector: Detector) -> dict:
    """What /config.json gives the page about a model."""
    from dataclasses import asdict

    return {
        "width": detector.width, "height": detector.height,
        "letter_box": detector.spec.letter_box, "names": detector.names,
        "outputs": list(detector.engine.info.outputs),
        "heads": [asdict(head) for head in detector.heads],
    }  # fmt: skip


def _images(tiny_model: TinyModel) -> list[np.ndarray]:
    rng = np.random.default_rng(5)
    face = cv2.imread(str(tiny_model.valid_images[0]))
    return [
        face,
        cv2.resize(face, (240, 180)),
        rng.integers(0, 256, (61, 97, 3), dtype=np.uint8),
        rng.integers(0, 256, (200, 13, 3), dtype=np.uint8),
        rng.integers(0, 256, (1, 1, 3), dtype=np.uint8),
        rng.integers(0, 256, (1, 40, 3), dtype=np.uint8),
    ]


def test_the_page_computes_what_detect_computes(models, tiny_model, tmp_path):
    cases, expected = [], []
    for name, detector in models.items():
        for image in _images(tiny_model):
            height, width = image.shape[:2]
            blob = np.empty((1, 3, detector.height, detector.width), dtype=np.float32)
            where = fill_input(image, blob[0], detector.spec.letter_box)
            raws = detector.engine.run(blob)
            rows = decode_heads(raws, detector.heads, detector.width, detector.height)[0]
            thresh = 0.02 if name == "tiny" else 0.3
            dets = detector.decode(rows, where, (width, height), thresh, 0.45)
            rgba = cv2.cvtColor(image, cv2.COLOR_BGR2RGBA)
            cases.append({
                "kind": "frame", "wh": [width, height], "model": _model(detector),
                "rgba": base64.b64encode(rgba.tobytes()).decode(), "thresh": thresh, "nms": 0.45,
                "raws": {
                    out: {"data": base64.b64encode(raw.astype(np.float32).tobytes()).decode(),
                          "dims": list(raw.shape)}
                    for out, raw in zip(detector.engine.info.outputs, raws, strict=True)
                },
            })  # fmt: skip
            line = json.dumps(frame_record("x.png", 0, dets, (width, height)))
            expected.append((name, image.shape, blob[0], rows, line))
    detections, lines, differing = 0, 0, 0
    for result, (name, shape, used, rows, line) in zip(
        run_node(cases, tmp_path), expected, strict=True
    ):
        # detect's network input, bit for bit (an int8 model's first quantization would turn
        # a last-place difference into a different score)
        blob = _floats(result["blob"], used.shape)
        assert np.array_equal(blob, used), (name, shape, np.abs(blob - used).max())
        np.testing.assert_allclose(_floats(result["rows"], rows.shape), rows, rtol=2e-6, atol=1e-7)
        _assert_same_line(result["line"], line, (name, shape))
        lines += 1
        differing += result["line"] != line
        detections += len(json.loads(line)["detections"])
    assert detections > 50
    # the rows agree to float rounding, so a printed digit differs only where a value sits on a
    # rounding boundary of the JSON's 4 (score) or 1 (box) decimals: rare
    assert differing <= max(1, lines // 10), (differing, lines)


def _assert_same_line(page: str, detect: str, case: tuple) -> None:
    """The same record, detection for detection, in the same order; a score or a box
    coordinate may differ by one unit of its last printed decimal (the decoded rows agree to
    float rounding, and a value on a rounding boundary can print either way)."""
    ours, theirs = json.loads(page), json.loads(detect)
    assert (ours["source"], ours["frame"]) == (theirs["source"], theirs["frame"]), case
    assert len(ours["detections"]) == len(theirs["detections"]), (case, page, detect)
    for a, b in zip(ours["detections"], theirs["detections"], strict=True):
        assert a["class"] == b["class"], (case, a, b)
        assert abs(a["score"] - b["score"]) <= 1e-4 + 1e-9, (case, a, b)
        assert all(abs(p - q) <= 0.1 + 1e-9 for p, q in zip(a["box"], b["box"], strict=True)), (
            case, a, b,
        )  # fmt: skip


def test_the_json_line_is_pythons_to_the_byte(tmp_path):
    """Rounding ties (12.25 -> 12.2, as Python's round), integral floats (12.0), boxes clipped
    to the image, non-ASCII names escaped: json.dumps's line exactly."""
    boxes = [
        (12.25, 0.75, 33.35, 40.0),
        (-5.0, -0.04, 300.0, 199.95),
        (1 / 3, 2 / 3, 100.05, 0.15),
        (7.45, 8.55, 9.65, 10.0000001),
    ]
    scores = [0.12345, 0.99995, 0.00005, 0.5]
    names = ["happiness", "colère", "fear", 'x"y']
    dets = [
        Detection(i % 4, names[i], float(np.float32(score)), box)
        for i, (box, score) in enumerate(zip(boxes, scores, strict=True))
    ]
    expected = json.dumps(frame_record("vidéo/a b.webm", 17, dets, (240, 200)))
    page_dets = [
        {"classId": d.class_id, "name": d.name, "score": d.score, "xyxy": list(d.xyxy)}
        for d in dets
    ]
    (line,) = run_node(
        [{"kind": "record", "source": "vidéo/a b.webm", "frame": 17, "dets": page_dets,
          "wh": [240, 200]}], tmp_path,
    )  # fmt: skip
    assert line == expected
