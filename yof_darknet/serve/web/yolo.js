// The numbers of `yof-darknet detect`, in the browser. Each function is a port of the Python one
// it names, operation for operation: float32 where numpy computes in float32 (Math.fround after
// each operation), float64 where it computes in float64. The page's detections are checked
// against `detect`'s on the same frames by tests/serve/test_page.py.
//
//   where = placement(width, height, model.width, model.height, model.letter_box)
//   resized = ONNX Runtime's Resize of the pixels to where.newW x where.newH (/resize.onnx)
//   input = networkInput(rgba, width, height, model, resized)  // + letterbox, Darknet's last row
//   rows = decodeHeads(outputs, config.model)                  // the [yolo] decoder
//   dets = detections(rows, input.placement, [width, height], config.model, thresh, nms)
//   line = recordJson(frameRecord(source, frame, dets, [width, height]))

const f = Math.fround;

// (float)(x / 255.) for every byte value, as Darknet converts pixels (netinput._TO_FLOAT).
const TO_FLOAT = Float32Array.from({ length: 256 }, (_, b) => b / 255);

// netinput._taps: source index, next index and float32 weight of each output sample on one axis.
function taps(nIn, nOut) {
  const index = new Int32Array(nOut);
  const next = new Int32Array(nOut);
  const weight = new Float32Array(nOut);
  if (nOut === 1 || nIn === 1) return { index, next, weight };
  const scale = f((nIn - 1) / (nOut - 1));
  for (let c = 0; c < nOut; c++) {
    const position = f(c * scale);
    const whole = Math.trunc(position);
    weight[c] = f(position - whole);
    index[c] = Math.min(whole, nIn - 1);
    next[c] = Math.min(index[c] + 1, nIn - 1);
  }
  return { index, next, weight };
}

// netinput._plan: the taps of both axes for one (input size, output size), made once.
const plans = new Map();
function plan(inW, inH, outW, outH) {
  const key = `${inW}x${inH}>${outW}x${outH}`;
  let found = plans.get(key);
  if (found) return found;
  const cols = taps(inW, outW);
  cols.index[outW - 1] = inW - 1; // Darknet copies the last column as is
  cols.next[outW - 1] = inW - 1;
  cols.weight[outW - 1] = 0;
  const rows = taps(inH, outH);
  const lower = Float32Array.from(rows.weight);
  if (inH > 1)
    lower[outH - 1] = 0; // Darknet adds nothing from below on the last row
  else lower.fill(0);
  found = {
    left: cols.index.map((i) => i * 4),
    right: cols.next.map((i) => i * 4),
    leftWeight: cols.weight.map((w) => f(1 - w)),
    rightWeight: cols.weight,
    upperRow: rows.index,
    lowerRow: rows.next,
    upper: rows.weight.map((w) => f(1 - w)),
    lower,
  };
  if (plans.size > 16) plans.clear();
  plans.set(key, found);
  return found;
}

// netinput.resize_exact_into (detect's path for sides under 2 pixels): Darknet's resize_image
// of an RGBA image (canvas ImageData bytes) into the planar RGB float32 planes of `out`
// (3 x outH x outW at `offset`, rows `stride` apart, planes `planeSize` apart): first along
// each row, then between rows, as Darknet's loops.
function resizeInto(rgba, inW, inH, out, outW, outH, stride, planeSize, offset) {
  const p = plan(inW, inH, outW, outH);
  const rows = [new Float32Array(3 * outW), new Float32Array(3 * outW)];
  const made = [-1, -1];
  const horizontal = (y) => {
    if (made[0] === y) return rows[0];
    if (made[1] === y) return rows[1];
    const slot = made[0] < made[1] ? 0 : 1; // rows only move down: replace the older one
    const row = rows[slot];
    const base = y * inW * 4;
    for (let c = 0; c < outW; c++) {
      const a = base + p.left[c];
      const b = base + p.right[c];
      const wa = p.leftWeight[c];
      const wb = p.rightWeight[c];
      row[c] = f(f(TO_FLOAT[rgba[a]] * wa) + f(TO_FLOAT[rgba[b]] * wb));
      row[outW + c] = f(f(TO_FLOAT[rgba[a + 1]] * wa) + f(TO_FLOAT[rgba[b + 1]] * wb));
      row[2 * outW + c] = f(f(TO_FLOAT[rgba[a + 2]] * wa) + f(TO_FLOAT[rgba[b + 2]] * wb));
    }
    made[slot] = y;
    return row;
  };
  for (let r = 0; r < outH; r++) {
    const top = horizontal(p.upperRow[r]);
    const bottom = horizontal(p.lowerRow[r]);
    const wt = p.upper[r];
    const wb = p.lower[r];
    for (let k = 0; k < 3; k++) {
      const target = offset + k * planeSize + r * stride;
      const from = k * outW;
      for (let c = 0; c < outW; c++) {
        out[target + c] = f(f(top[from + c] * wt) + f(bottom[from + c] * wb));
      }
    }
  }
}

// netinput.placement: where Darknet puts an inW x inH image in the network input.
export function placement(inW, inH, netW, netH, letterBox) {
  if (!letterBox) return { netW, netH, newW: netW, newH: netH };
  if (f(netW / inW) < f(netH / inH)) {
    return { netW, netH, newW: netW, newH: Math.floor((inH * netW) / inW) };
  }
  return { netW, netH, newW: Math.floor((inW * netH) / inH), newH: netH };
}

// netinput._last_row_exact: Darknet's last output row (it skips the row below there) into the
// window of `out`, over what ONNX Runtime's Resize wrote.
function lastRowExact(rgba, inW, inH, out, outW, outH, stride, planeSize, offset) {
  const p = plan(inW, inH, outW, outH);
  const base = p.upperRow[outH - 1] * inW * 4;
  const upper = p.upper[outH - 1];
  for (let k = 0; k < 3; k++) {
    const target = offset + k * planeSize + (outH - 1) * stride;
    for (let c = 0; c < outW; c++) {
      const a = TO_FLOAT[rgba[base + p.left[c] + k]];
      const b = TO_FLOAT[rgba[base + p.right[c] + k]];
      out[target + c] = f(f(f(a * p.leftWeight[c]) + f(b * p.rightWeight[c])) * upper);
    }
  }
}

// Whether detect resizes an inW x inH image to the placement's size with ONNX Runtime's Resize
// (netinput.resize_into): every side 2 pixels or more; else with Darknet's exact arithmetic.
export function resizedByOnnx(inW, inH, where) {
  return Math.min(inW, inH, where.newW, where.newH) >= 2;
}

// netinput.fill_input: the 1x3xHxW float32 network input of an RGBA image, and its placement.
// `resized`: the image at the placement's size (3 x newH x newW, planar RGB), as ONNX Runtime's
// Resize makes it (netinput.resize_graph("rgba"), run by the page in ONNX Runtime Web: the same
// kernel as detect's); null where resizedByOnnx is false.
export function networkInput(rgba, inW, inH, model, resized) {
  const { width: netW, height: netH, letter_box: letterBox } = model;
  const blob = new Float32Array(3 * netW * netH);
  const where = placement(inW, inH, netW, netH, letterBox);
  const top = letterBox ? Math.floor((netH - where.newH) / 2) : 0;
  const left = letterBox ? Math.floor((netW - where.newW) / 2) : 0;
  const offset = top * netW + left;
  const plane = netW * netH;
  if (letterBox) blob.fill(0.5);
  if (!resizedByOnnx(inW, inH, where)) {
    resizeInto(rgba, inW, inH, blob, where.newW, where.newH, netW, plane, offset);
    return { blob, placement: where };
  }
  const { newW, newH } = where;
  for (let k = 0; k < 3; k++) {
    for (let r = 0; r < newH; r++) {
      const from = (k * newH + r) * newW;
      blob.set(resized.subarray(from, from + newW), offset + k * plane + r * netW);
    }
  }
  lastRowExact(rgba, inW, inH, blob, newW, newH, netW, plane, offset);
  return { blob, placement: where };
}

function logistic(value) {
  return f(1 / f(1 + f(Math.exp(-value))));
}

// yolo.decode_head: one head's raw output (1, anchors*(5+classes), gridH, gridW), as a
// Float32Array, into rows (cx, cy, w, h, objectness, objectness*class...) in Darknet's order.
function decodeHead(raw, dims, head, netW, netH, out, start) {
  const [, channels, gridH, gridW] = dims;
  const count = head.anchors.length;
  const width = head.classes + 5;
  if (channels !== count * width) {
    throw new Error(
      `a [yolo] head with ${count} anchors and ${head.classes} classes needs ` +
        `${count * width} channels, the network gives ${channels}`,
    );
  }
  const plane = gridH * gridW;
  const scale = f(head.scale_x_y);
  const shift = f(0.5 * f(scale - 1));
  const anchors = head.anchors.map(([w, h]) => [f(f(w) / netW), f(f(h) / netH)]);
  let row = start;
  for (let y = 0; y < gridH; y++) {
    for (let x = 0; x < gridW; x++) {
      for (let a = 0; a < count; a++) {
        const cell = a * width * plane + y * gridW + x; // channel k of this anchor: + k * plane
        const base = row * width;
        for (let k = 0; k < width; k++) {
          const value = raw[cell + k * plane];
          out[base + k] = head.new_coords ? value : logistic(value);
        }
        let cx = out[base];
        let cy = out[base + 1];
        if (head.scale_x_y !== 1) {
          cx = f(f(cx * scale) - shift);
          cy = f(f(cy * scale) - shift);
        }
        out[base] = f(f(cx + x) / gridW);
        out[base + 1] = f(f(cy + y) / gridH);
        const tw = raw[cell + 2 * plane];
        const th = raw[cell + 3 * plane];
        const [anchorW, anchorH] = anchors[a];
        if (head.new_coords) {
          out[base + 2] = f(f(f(tw * tw) * 4) * anchorW);
          out[base + 3] = f(f(f(th * th) * 4) * anchorH);
        } else {
          out[base + 2] = f(f(Math.exp(tw)) * anchorW);
          out[base + 3] = f(f(Math.exp(th)) * anchorH);
        }
        const objectness = out[base + 4];
        for (let k = 5; k < width; k++) out[base + k] = f(out[base + k] * objectness);
        row += 1;
      }
    }
  }
  return row;
}

// yolo.decode_heads: every head's rows, heads in cfg order; outputs[name] = {data, dims}.
export function decodeHeads(outputs, model) {
  const width = model.names.length + 5;
  let total = 0;
  for (let i = 0; i < model.heads.length; i++) {
    const dims = outputs[model.outputs[i]].dims;
    total += dims[2] * dims[3] * model.heads[i].anchors.length;
  }
  const rows = new Float32Array(total * width);
  let next = 0;
  model.heads.forEach((head, i) => {
    const { data, dims } = outputs[model.outputs[i]];
    next = decodeHead(data, dims, head, model.width, model.height, rows, next);
  });
  return { data: rows, count: total, width };
}

// OpenCV's Rect2d intersection (operator&=) and jaccardDistance, as cv2.dnn.NMSBoxes uses them.
function intersectionArea(a, b) {
  if (a[2] <= 0 || a[3] <= 0 || b[2] <= 0 || b[3] <= 0) return 0;
  const [xMin, xMax] = a[0] < b[0] ? [a, b] : [b, a];
  const [yMin, yMax] = a[1] < b[1] ? [a, b] : [b, a];
  if (
    (xMin[0] < 0 && xMin[0] + xMin[2] < xMax[0]) ||
    (yMin[1] < 0 && yMin[1] + yMin[3] < yMax[1])
  ) {
    return 0;
  }
  const width = Math.min(xMin[2] - (xMax[0] - xMin[0]), xMax[2]);
  const height = Math.min(yMin[3] - (yMax[1] - yMin[1]), yMax[3]);
  return width <= 0 || height <= 0 ? 0 : width * height;
}

function rectOverlap(a, b) {
  const areaA = a[2] * a[3];
  const areaB = b[2] * b[3];
  if (areaA + areaB <= Number.EPSILON) return f(1);
  const shared = intersectionArea(a, b);
  return f(1 - f(1 - shared / (areaA + areaB - shared)));
}

// detector._class_nms (cv2.dnn.NMSBoxes): best first (stable), keep a box whose overlap with
// every kept one is <= nms (float32, as OpenCV compares).
function classNms(xywh, scores, members, nms) {
  const order = members
    .filter((m) => scores[m] > 0)
    .map((m, position) => [m, position])
    .sort((p, q) => scores[q[0]] - scores[p[0]] || p[1] - q[1])
    .map(([m]) => m);
  const limit = f(nms);
  const kept = [];
  for (const m of order) {
    if (kept.every((k) => rectOverlap(xywh[m], xywh[k]) <= limit)) kept.push(m);
  }
  return kept;
}

// detector._class_diou_nms: AlexeyAB's diounms_sort, in image-relative float64 units.
function classDiouNms(cxcywh, scores, members, nms, beta) {
  const order = members
    .map((m, position) => [m, position])
    .sort((p, q) => scores[q[0]] - scores[p[0]] || p[1] - q[1])
    .map(([m]) => m);
  const boxes = order.map((m) => cxcywh[m]);
  const lo = boxes.map(([cx, cy, w, h]) => [cx - w / 2, cy - h / 2]);
  const hi = boxes.map(([cx, cy, w, h]) => [cx + w / 2, cy + h / 2]);
  const dropped = new Array(order.length).fill(false);
  for (let i = 0; i < order.length; i++) {
    if (dropped[i]) continue;
    for (let j = i + 1; j < order.length; j++) {
      const ow = Math.min(hi[i][0], hi[j][0]) - Math.max(lo[i][0], lo[j][0]);
      const oh = Math.min(hi[i][1], hi[j][1]) - Math.max(lo[i][1], lo[j][1]);
      const inter = ow >= 0 && oh >= 0 ? ow * oh : 0;
      const union = boxes[i][2] * boxes[i][3] + boxes[j][2] * boxes[j][3] - inter;
      const iou = inter > 0 && union > 0 ? inter / union : 0;
      const sw = Math.max(hi[i][0], hi[j][0]) - Math.min(lo[i][0], lo[j][0]);
      const sh = Math.max(hi[i][1], hi[j][1]) - Math.min(lo[i][1], lo[j][1]);
      const diagonal = sw ** 2 + sh ** 2;
      const distance = (boxes[i][0] - boxes[j][0]) ** 2 + (boxes[i][1] - boxes[j][1]) ** 2;
      const penalty = diagonal > 0 ? (distance / diagonal) ** beta : 0;
      if (iou - penalty > nms) dropped[j] = true;
    }
  }
  return order.filter((_, i) => !dropped[i]);
}

// Detector.decode: Darknet's get_network_boxes + do_nms_sort on the decoded rows. Returns
// [{classId, name, score, xyxy}], best score first; boxes in image pixels, not clipped.
export function detections(rows, where, imageWH, model, thresh, nms) {
  const limit = f(thresh);
  const classes = model.names.length;
  const [imageW, imageH] = imageWH;
  const ratioW = f(where.newW / where.netW);
  const ratioH = f(where.newH / where.netH);
  const shiftW = f((where.netW - where.newW) / 2.0 / where.netW);
  const shiftH = f((where.netH - where.newH) / 2.0 / where.netH);
  const candidates = []; // [classId, score, cxcywh px]
  for (let r = 0; r < rows.count; r++) {
    const base = r * rows.width;
    if (!(rows.data[base + 4] > limit)) continue;
    let box = null;
    for (let c = 0; c < classes; c++) {
      const score = rows.data[base + 5 + c];
      if (!(score > limit)) continue;
      if (box === null) {
        const d = rows.data;
        box = [
          f(f(d[base] - shiftW) / ratioW) * imageW,
          f(f(d[base + 1] - shiftH) / ratioH) * imageH,
          f(d[base + 2] / ratioW) * imageW,
          f(d[base + 3] / ratioH) * imageH,
        ];
      }
      candidates.push([c, score, box]);
    }
  }
  if (candidates.length === 0) return [];
  const scores = candidates.map((c) => c[1]);
  const byClass = new Map();
  candidates.forEach(([c], i) => {
    if (!byClass.has(c)) byClass.set(c, []);
    byClass.get(c).push(i);
  });
  const classOrder = [...byClass.keys()].sort((a, b) => a - b);
  let keep = candidates.map((_, i) => i);
  const kind = model.heads[model.heads.length - 1].nms_kind; // Darknet takes the last layer's
  if (nms > 0 && kind !== "default") {
    const relative = candidates.map(([, , [cx, cy, w, h]]) => [
      cx / imageW,
      cy / imageH,
      w / imageW,
      h / imageH,
    ]);
    const beta = kind === "greedynms" ? 0.6 : model.heads[model.heads.length - 1].beta_nms;
    keep = classOrder.flatMap((c) => classDiouNms(relative, scores, byClass.get(c), nms, beta));
  } else if (nms > 0) {
    const xywh = candidates.map(([, , [cx, cy, w, h]]) => [cx - w / 2, cy - h / 2, w, h]);
    keep = classOrder.flatMap((c) => classNms(xywh, scores, byClass.get(c), nms));
  }
  return keep
    .map((k, position) => [k, position])
    .sort((p, q) => scores[q[0]] - scores[p[0]] || p[1] - q[1])
    .map(([k]) => {
      const [classId, score, [cx, cy, w, h]] = candidates[k];
      return {
        classId,
        name: model.names[classId],
        score,
        xyxy: [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2],
      };
    });
}

// Python's round(x, digits): the decimal nearest to x's exact binary value, ties to even.
export function pyRound(x, digits) {
  if (!Number.isFinite(x)) return x;
  const text = Math.abs(x).toFixed(100); // exact for the values met here
  const dot = text.indexOf(".");
  const rest = text.slice(dot + 1 + digits);
  let kept = BigInt(text.slice(0, dot) + text.slice(dot + 1, dot + 1 + digits));
  const up =
    rest[0] > "5" || (rest[0] === "5" && (/[1-9]/.test(rest.slice(1)) || kept % 2n === 1n));
  if (up) kept += 1n;
  const digitsText = kept.toString().padStart(digits + 1, "0");
  const value = Number(
    `${digitsText.slice(0, -digits || undefined)}.${digits ? digitsText.slice(-digits) : "0"}`,
  );
  return x < 0 ? -value : value;
}

// outputs.frame_record: boxes clipped to the image, 0.1 px; scores to 4 decimals.
export function frameRecord(source, frame, dets, imageWH) {
  const [w, h] = imageWH;
  const clip = (v, side) => Math.min(Math.max(v, 0), side);
  return {
    source,
    frame,
    detections: dets.map((d) => ({
      class: d.name,
      score: pyRound(d.score, 4),
      box: [clip(d.xyxy[0], w), clip(d.xyxy[1], h), clip(d.xyxy[2], w), clip(d.xyxy[3], h)].map(
        (v) => pyRound(v, 1),
      ),
    })),
  };
}

// json.dumps of a record, byte for byte: ", " and ": " separators, floats as Python prints
// them (12.0, not 12), non-ASCII characters escaped.
export function recordJson(value, floats = new Set(["score", "box"])) {
  const text = (v, isFloat) => {
    if (typeof v === "string") {
      return JSON.stringify(v).replace(
        /[\u007f-\uffff]/g,
        (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`,
      );
    }
    if (typeof v === "number") return isFloat && Number.isInteger(v) ? v.toFixed(1) : String(v);
    if (Array.isArray(v)) return `[${v.map((item) => text(item, isFloat)).join(", ")}]`;
    return `{${Object.entries(v)
      .map(([key, item]) => `${text(key, false)}: ${text(item, floats.has(key))}`)
      .join(", ")}}`;
  };
  return text(value, false);
}
