// ONNX Runtime Web, loaded from this server (/ort/, see yof_darknet/serve/runtime.py): WebGPU for
// an fp32 model where the browser has it, else WebAssembly with SIMD and threads.

const BUILDS = { wasm: "/ort/ort.wasm.min.mjs", webgpu: "/ort/ort.webgpu.min.mjs" };

export class ModelError extends Error {}

// What the WebGPU of this browser is: {ok: true, adapter} or {ok: false, why}.
async function probeWebGpu() {
  if (!("gpu" in navigator)) {
    return { ok: false, why: "this browser has no WebGPU (navigator.gpu is missing)" };
  }
  try {
    const adapter = await navigator.gpu.requestAdapter();
    if (adapter === null) return { ok: false, why: "WebGPU found no usable GPU adapter" };
    return { ok: true, adapter };
  } catch (error) {
    return { ok: false, why: `WebGPU failed: ${error.message}` };
  }
}

// WebAssembly threads: `wanted` (0: up to 4, one per core), 1 without cross-origin isolation.
function wasmThreads(wanted) {
  if (!self.crossOriginIsolated) return 1;
  return wanted > 0 ? wanted : Math.max(1, Math.min(4, navigator.hardwareConcurrency || 1));
}

async function importBuild(kind, threads) {
  const ort = await import(BUILDS[kind]);
  ort.env.wasm.wasmPaths = "/ort/";
  ort.env.wasm.numThreads = wasmThreads(threads);
  ort.env.logLevel = "error";
  return ort;
}

// As detect's engine (infer/engines.py) opens an int8 model: without QDQ propagation, which
// would move the first QuantizeLinear of a model whose first block stays fp32 up across its
// maxpool, onto a slow uint8 MaxPool.
async function createSession(ort, bytes, provider, precision) {
  const started = performance.now();
  const options = { executionProviders: [provider], graphOptimizationLevel: "all" };
  if (precision === "int8") {
    options.extra = { optimization: { disable_specified_optimizers: "QDQPropagationTransformer" } };
  }
  const session = await ort.InferenceSession.create(bytes, options);
  session.loadMs = performance.now() - started;
  return session;
}

// The pre-processing's resize (netinput.resize_graph("rgba"), /resize.onnx): on WebAssembly
// whatever runs the model, so that its kernel is detect's.
async function resizeSession(ort, resizeBytes) {
  try {
    return await ort.InferenceSession.create(resizeBytes, { executionProviders: ["wasm"] });
  } catch (error) {
    throw new ModelError(`this browser cannot run the pre-processing (${error.message || error})`);
  }
}

// Sessions for the model's bytes and the resize's. `wanted`: auto | webgpu | wasm; `threads`:
// WebAssembly threads (0: automatic). Returns {session, resize, ort, backend, threads, notes[]};
// notes say why a backend was not used.
export async function openSession(bytes, resizeBytes, precision, wanted, threads = 0) {
  const notes = [];
  let useGpu = wanted !== "wasm";
  if (useGpu && precision !== "fp32") {
    notes.push(
      `an ${precision} model runs on WebAssembly: WebGPU would compute it in floating point, ` +
        "not with detect's integer kernels",
    );
    useGpu = false;
  }
  if (useGpu) {
    const gpu = await probeWebGpu();
    if (!gpu.ok) {
      notes.push(`${gpu.why}: running on WebAssembly instead`);
      useGpu = false;
    }
  }
  if (useGpu) {
    try {
      const ort = await importBuild("webgpu", threads);
      const session = await createSession(ort, bytes, "webgpu", precision);
      const resize = await resizeSession(ort, resizeBytes);
      return { session, resize, ort, backend: "webgpu", threads: ort.env.wasm.numThreads, notes };
    } catch (error) {
      notes.push(
        `WebGPU could not run the model (${error.message}): running on WebAssembly instead`,
      );
    }
  }
  let ort;
  try {
    ort = await importBuild("wasm", threads);
  } catch (error) {
    throw new ModelError(`ONNX Runtime Web did not load (${error.message}); reload the page`);
  }
  if (!self.crossOriginIsolated) {
    notes.push(
      "WebAssembly threads need cross-origin isolation (the COOP/COEP headers `yof-darknet serve` " +
        "sends; a proxy in between may drop them): running on one thread",
    );
  }
  let session;
  try {
    session = await createSession(ort, bytes, "wasm", precision);
  } catch (error) {
    throw new ModelError(
      `this browser cannot run the model (${error.message || error}). Try a current Chrome, Edge ` +
        "or Firefox, or export the model again with `yof-darknet export`",
    );
  }
  const resize = await resizeSession(ort, resizeBytes);
  return { session, resize, ort, backend: "wasm", threads: ort.env.wasm.numThreads, notes };
}
