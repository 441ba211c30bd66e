// The page of `yof-darknet serve`: the model on the webcam or on a dropped image or video.
// The latest frame's JSON line (`detect --json`'s format) is in #detections.

import { drawDetections } from "./draw.js";
import { showRun } from "./run.js";
import { ModelError, openSession } from "./runtime.js";
import {
  decodeHeads,
  detections,
  frameRecord,
  networkInput,
  placement,
  recordJson,
  resizedByOnnx,
} from "./yolo.js";

const $ = (id) => document.getElementById(id);
const view = $("view");
const viewContext = view.getContext("2d");
const work = document.createElement("canvas");
const workContext = work.getContext("2d", { willReadFrequently: true });

const state = {
  config: null,
  runtime: null, // {session, ort, backend, threads, notes}
  busy: false,
  mode: "idle", // idle | camera | image | video
  stream: null,
  video: null, // the <video> element of the camera or the dropped video
  fileName: null,
  records: new Map(), // frame -> JSON line, for the dropped file's download
  last: null, // {width, height, rgba, record, line}
  fps: null,
  lastTick: null,
  timings: [], // [pre, run, post] ms of recent frames
  frames: 0,
  generation: 0, // bumped when a source stops: late frames of the old one are ignored
};

function setStatus(text) {
  $("status").textContent = text;
}

function showError(text) {
  $("error").textContent = text;
  $("error").hidden = !text;
  document.body.dataset.error = text ? "1" : "";
}

function settings() {
  const number = (id, fallback) => {
    const value = Number.parseFloat($(id).value);
    return Number.isFinite(value) && value >= 0 && value <= 1 ? value : fallback;
  };
  return { thresh: number("thresh", state.config.thresh), nms: number("nms", state.config.nms) };
}

function tickFps() {
  const now = performance.now();
  if (state.lastTick !== null) {
    const rate = 1000 / Math.max(now - state.lastTick, 1e-3);
    state.fps = state.fps === null ? rate : 0.9 * state.fps + 0.1 * rate;
  }
  state.lastTick = now;
}

// One frame through the model: pixels -> network input -> session -> decode -> NMS -> record.
async function detectFrame(drawable, width, height, source, frame) {
  const generation = state.generation;
  const t0 = performance.now();
  if (work.width !== width || work.height !== height) {
    work.width = width;
    work.height = height;
  }
  workContext.drawImage(drawable, 0, 0, width, height);
  const pixels = workContext.getImageData(0, 0, width, height);
  const model = state.config.model;
  const { ort, resize } = state.runtime;
  const where = placement(width, height, model.width, model.height, model.letter_box);
  let resized = null;
  if (resizedByOnnx(width, height, where)) {
    const bytes = new Uint8Array(pixels.data.buffer);
    const sizes = BigInt64Array.from([1n, 3n, BigInt(where.newH), BigInt(where.newW)]);
    const out = await resize.run({
      rgba: new ort.Tensor("uint8", bytes, [height, width, 4]),
      sizes: new ort.Tensor("int64", sizes, [4]),
    });
    resized = await out.out.getData();
  }
  const input = networkInput(pixels.data, width, height, model, resized);
  const tensor = new ort.Tensor("float32", input.blob, [1, 3, model.height, model.width]);
  const t1 = performance.now();
  const results = await state.runtime.session.run({
    [state.runtime.session.inputNames[0]]: tensor,
  });
  const t2 = performance.now();
  const outputs = {};
  for (const name of model.outputs) {
    outputs[name] = { data: await results[name].getData(), dims: results[name].dims };
  }
  const { thresh, nms } = settings();
  const dets = detections(
    decodeHeads(outputs, model),
    input.placement,
    [width, height],
    model,
    thresh,
    nms,
  );
  const record = frameRecord(source, frame, dets, [width, height]);
  const line = recordJson(record);
  const t3 = performance.now();
  if (generation !== state.generation) return null;
  state.timings.push([t1 - t0, t2 - t1, t3 - t2]);
  if (state.timings.length > 100) state.timings.shift();
  state.frames += 1;
  tickFps();
  state.last = { width, height, rgba: pixels.data, record, line };
  $("detections").textContent = line;
  if (view.width !== width || view.height !== height) {
    view.width = width;
    view.height = height;
  }
  viewContext.putImageData(pixels, 0, 0);
  drawDetections(viewContext, dets, width, height, state.mode === "image" ? null : state.fps);
  return line;
}

function stopSources() {
  state.generation += 1;
  if (state.stream) state.stream.getTracks().forEach((track) => track.stop());
  if (state.video) {
    state.video.pause();
    if (state.video.src) URL.revokeObjectURL(state.video.src);
    state.video.removeAttribute("src");
    state.video.srcObject = null;
  }
  state.stream = null;
  state.video = null;
  state.mode = "idle";
  state.fps = null;
  state.lastTick = null;
  $("camera-stop").disabled = true;
}

function whenFrame(video, callback) {
  if ("requestVideoFrameCallback" in video) video.requestVideoFrameCallback(callback);
  else requestAnimationFrame((now) => callback(now, { mediaTime: video.currentTime }));
}

// ---- camera

const CAMERA_ERRORS = {
  NotAllowedError:
    "Camera permission denied: allow the camera for this page (the camera icon in the address " +
    "bar, or the site settings), then press Start camera again.",
  SecurityError:
    "Camera permission denied: allow the camera for this page (the camera icon in the address " +
    "bar, or the site settings), then press Start camera again.",
  NotFoundError:
    "No camera found: connect a camera and press Start camera again, or drop an image or a " +
    "video file here.",
  OverconstrainedError:
    "No camera found that can stream video: connect another camera, or drop an image or a video " +
    "file here.",
  NotReadableError:
    "The camera did not start (another program may be using it): close that program, then " +
    "press Start camera again.",
};

async function startCamera() {
  showError("");
  if (!window.isSecureContext || !navigator.mediaDevices?.getUserMedia) {
    showError(
      `The camera needs a secure page: open http://localhost:${location.port || 80}/ through ` +
        `\`ssh -L ${location.port || 80}:127.0.0.1:${location.port || 80} <server>\` (or https), not ` +
        `${location.host}. Dropped images and videos work here.`,
    );
    return;
  }
  stopSources();
  const deviceId = $("camera-select").value;
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      video: deviceId ? { deviceId: { exact: deviceId } } : true,
      audio: false,
    });
  } catch (error) {
    showError(CAMERA_ERRORS[error.name] || `The camera failed: ${error.name}: ${error.message}`);
    return;
  }
  await listCameras(stream);
  const video = document.createElement("video");
  video.muted = true;
  video.playsInline = true;
  video.srcObject = stream;
  state.stream = stream;
  state.video = video;
  state.mode = "camera";
  $("camera-stop").disabled = false;
  await video.play();
  const index = Math.max(0, $("camera-select").selectedIndex);
  const source = `camera${index}`;
  const generation = state.generation;
  let first = null;
  const onFrame = async (now, metadata) => {
    if (generation !== state.generation) return;
    const presented = metadata.presentedFrames ?? state.frames;
    first ??= presented;
    try {
      await detectFrame(video, video.videoWidth, video.videoHeight, source, presented - first);
    } catch (error) {
      fail(error);
      return;
    }
    whenFrame(video, onFrame);
  };
  whenFrame(video, onFrame);
  setStatus(statusLine());
}

async function listCameras(stream) {
  const select = $("camera-select");
  const current = stream?.getVideoTracks()[0]?.getSettings().deviceId;
  const cameras = (await navigator.mediaDevices.enumerateDevices()).filter(
    (d) => d.kind === "videoinput",
  );
  select.replaceChildren(
    ...cameras.map((camera, index) => {
      const option = new Option(camera.label || `camera ${index}`, camera.deviceId);
      option.selected = camera.deviceId === current;
      return option;
    }),
  );
}

// ---- dropped files

function openFile(file) {
  showError("");
  stopSources();
  state.records = new Map();
  state.fileName = file.name;
  $("download-json").disabled = true;
  $("download-image").disabled = true;
  if (file.type.startsWith("image/")) return openImage(file);
  if (file.type.startsWith("video/")) return openVideo(file);
  showError(
    `${file.name}: not an image or a video (${file.type || "unknown type"}); drop a .jpg, .png, .webm or .mp4 file.`,
  );
  return null;
}

async function openImage(file) {
  let bitmap;
  try {
    // the file's own pixels, as OpenCV decodes them: no colour-profile conversion
    bitmap = await createImageBitmap(file, {
      colorSpaceConversion: "none",
      premultiplyAlpha: "none",
      imageOrientation: "from-image",
    });
  } catch (error) {
    showError(`${file.name}: this browser cannot decode it as an image (${error.message}).`);
    return;
  }
  state.mode = "image";
  try {
    const line = await detectFrame(bitmap, bitmap.width, bitmap.height, file.name, 0);
    state.records.set(0, line);
  } catch (error) {
    fail(error);
    return;
  } finally {
    bitmap.close();
  }
  $("download-json").disabled = false;
  $("download-image").disabled = false;
  setStatus(`${statusLine()} · ${file.name}: ${state.last.record.detections.length} detection(s)`);
}

// The next frame the video presents (its rVFC metadata), or null at its end or after `ms`.
function nextFrame(video, ms) {
  return new Promise((resolve) => {
    const done = (value) => {
      clearTimeout(timer);
      video.removeEventListener("ended", ended);
      resolve(value);
    };
    const ended = () => done(null);
    const timer = setTimeout(ended, ms);
    video.addEventListener("ended", ended);
    whenFrame(video, (now, metadata) => done(metadata));
  });
}

// The frame duration and the first frame's time: the video played slowly (a tenth of its
// speed) until two frames in a row have shown.
async function frameTiming(video) {
  video.playbackRate = 0.1;
  const first = nextFrame(video, 20000);
  await video.play();
  const a = await first;
  const b = a && (await nextFrame(video, 20000));
  video.pause();
  video.playbackRate = 1;
  if (!a) throw new Error("no frame showed");
  const step = b && b.mediaTime > a.mediaTime ? b.mediaTime - a.mediaTime : video.duration || 1;
  return { step, start: a.mediaTime - Math.round(a.mediaTime / step) * step };
}

// Every frame of a video, in order: each one sought (the middle of its display time), shown,
// then detected; frame numbers as `detect` counts them, for a constant frame rate.
async function openVideo(file) {
  const video = document.createElement("video");
  video.muted = true;
  video.playsInline = true;
  video.preload = "auto";
  state.video = video;
  state.mode = "video";
  const generation = state.generation;
  const cannotPlay = (why) =>
    `${file.name}: this browser cannot play it (${why}); convert it to .webm (VP8/VP9) or .mp4 ` +
    "(H.264), or run `yof-darknet detect` on it.";
  const loaded = new Promise((resolve, reject) => {
    video.addEventListener("loadeddata", resolve, { once: true });
    video.addEventListener(
      "error",
      () => reject(new Error(video.error?.message || "unsupported codec")),
      { once: true },
    );
  });
  video.src = URL.createObjectURL(file);
  setStatus(`${statusLine()} · ${file.name}: reading`);
  let timing;
  try {
    await loaded;
    timing = await frameTiming(video);
  } catch (error) {
    if (generation === state.generation) showError(cannotPlay(error.message));
    return;
  }
  let previous = -Infinity;
  for (let k = 0; generation === state.generation; k++) {
    const time = timing.start + (k + 0.5) * timing.step;
    if (Number.isFinite(video.duration) && time >= video.duration) break;
    const shown = nextFrame(video, 5000);
    video.currentTime = time;
    const metadata = await shown;
    if (generation !== state.generation) return;
    const mediaTime = metadata ? metadata.mediaTime : video.currentTime;
    if (mediaTime <= previous) break; // no new frame: the end
    previous = mediaTime;
    const frame = Math.round((mediaTime - timing.start) / timing.step);
    try {
      const line = await detectFrame(video, video.videoWidth, video.videoHeight, file.name, frame);
      if (line !== null) state.records.set(frame, line);
    } catch (error) {
      fail(error);
      return;
    }
    $("download-json").disabled = false;
  }
  if (generation === state.generation) finishVideo(file.name);
}

function finishVideo(name) {
  document.body.dataset.done = "1";
  setStatus(`${statusLine()} · ${name}: ${state.records.size} frame(s) done`);
}

function jsonLines() {
  return [...state.records.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([, line]) => `${line}\n`)
    .join("");
}

function download(blob, name) {
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
}

// ---- set-up

function statusLine() {
  const rt = state.runtime;
  const model = state.config.model;
  const backend =
    rt.backend === "webgpu"
      ? "WebGPU"
      : `WebAssembly (SIMD, ${rt.threads} thread${rt.threads > 1 ? "s" : ""})`;
  return `${model.name}: ${model.precision}, ${model.width}x${model.height}, ${model.names.length} classes · ${backend}`;
}

function fail(error) {
  console.error(error);
  showError(
    error instanceof ModelError
      ? error.message
      : `${error.name || "Error"}: ${error.message || error}`,
  );
  document.body.dataset.state = "error";
}

async function loadModel() {
  const wanted = $("backend").value;
  document.body.dataset.state = "loading";
  setStatus(`loading ${state.config.model.name}…`);
  const response = await fetch(state.config.model.url);
  if (!response.ok)
    throw new ModelError(
      `${state.config.model.url}: ${response.status} ${response.statusText}; restart yof-darknet serve`,
    );
  const bytes = new Uint8Array(await response.arrayBuffer());
  const resizeResponse = await fetch(state.config.resize_url);
  if (!resizeResponse.ok)
    throw new ModelError(
      `${state.config.resize_url}: ${resizeResponse.status} ${resizeResponse.statusText}; restart yof-darknet serve`,
    );
  const resizeBytes = new Uint8Array(await resizeResponse.arrayBuffer());
  const previous = state.runtime;
  state.runtime = null;
  await previous?.session.release();
  await previous?.resize.release();
  const threads = Number.parseInt(new URLSearchParams(location.search).get("threads") || "0", 10);
  state.runtime = await openSession(
    bytes,
    resizeBytes,
    state.config.model.precision,
    wanted,
    threads || 0,
  );
  $("backend-note").textContent = state.runtime.notes.join(" · ");
  document.body.dataset.backend = state.runtime.backend;
  document.body.dataset.state = "ready";
  state.readyMs = performance.now();
  setStatus(statusLine());
}

async function main() {
  const response = await fetch("/config.json");
  state.config = await response.json();
  $("thresh").value = state.config.thresh;
  $("nms").value = state.config.nms;
  document.title = `yof-darknet · ${state.config.model.name}`;
  $("model-name").textContent = `${state.config.model.name} (${state.config.model.source})`;
  if (state.config.run) showRun(state.config.run, $("run"));
  const params = new URLSearchParams(location.search);
  if (params.has("backend")) $("backend").value = params.get("backend");
  for (const key of ["thresh", "nms"]) if (params.has(key)) $(key).value = params.get(key);
  try {
    await loadModel();
  } catch (error) {
    fail(error);
    return;
  }
  $("camera-start").disabled = false;
  $("camera-start").addEventListener("click", () => startCamera().catch(fail));
  $("camera-stop").addEventListener("click", () => {
    stopSources();
    setStatus(statusLine());
  });
  $("camera-select").addEventListener(
    "change",
    () => state.mode === "camera" && startCamera().catch(fail),
  );
  $("backend").addEventListener("change", async () => {
    stopSources();
    try {
      await loadModel();
    } catch (error) {
      fail(error);
    }
  });
  $("file-input").addEventListener("change", (event) => {
    const [file] = event.target.files;
    if (file) openFile(file);
  });
  // a file dropped beside the picture must not make the browser leave the page for it
  for (const type of ["dragover", "drop"]) {
    window.addEventListener(type, (event) => event.preventDefault());
  }
  const zone = $("drop-zone");
  for (const type of ["dragenter", "dragover"]) {
    zone.addEventListener(type, (event) => {
      event.preventDefault();
      zone.classList.add("over");
    });
  }
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    const [file] = event.dataTransfer.files;
    if (file) openFile(file);
  });
  $("download-json").addEventListener("click", () => {
    const stem = state.fileName.replace(/\.[^.]+$/, "");
    download(new Blob([jsonLines()], { type: "application/x-ndjson" }), `${stem}.detections.jsonl`);
  });
  $("download-image").addEventListener("click", () => {
    const stem = state.fileName.replace(/\.[^.]+$/, "");
    view.toBlob((blob) => download(blob, `${stem}.annotated.png`), "image/png");
  });
  if (params.get("camera") === "1") startCamera().catch(fail);
}

// For tests and benchmarks (tests/serve/test_page.py, benchmarks/bench_browser.py).
window.yofPage = {
  state: () => document.body.dataset.state,
  backend: () =>
    state.runtime && {
      backend: state.runtime.backend,
      threads: state.runtime.threads,
      notes: state.runtime.notes,
      isolated: self.crossOriginIsolated,
      session_ms: state.runtime.session.loadMs,
      ready_ms: state.readyMs,
    },
  frames: () => state.frames,
  // the latest frame's pixels (RGBA, base64) and its record, from one and the same frame
  lastFrame: () => {
    if (!state.last) return null;
    const { width, height, rgba, line } = state.last;
    let binary = "";
    for (let i = 0; i < rgba.length; i += 0x8000)
      binary += String.fromCharCode(...rgba.subarray(i, i + 0x8000));
    return { width, height, rgba: btoa(binary), line };
  },
  jsonLines,
  stats: () => {
    const median = (k) => {
      const values = state.timings.map((t) => t[k]).sort((a, b) => a - b);
      return values.length ? values[Math.floor(values.length / 2)] : null;
    };
    return {
      frames: state.frames,
      fps: state.fps,
      pre_ms: median(0),
      run_ms: median(1),
      post_ms: median(2),
    };
  },
  stop: () => stopSources(),
};

main().catch(fail);
