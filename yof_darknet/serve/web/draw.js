// Boxes, labels, scores and the frame rate on a canvas, as infer/draw.py draws them.

// draw.class_colour: golden-ratio hues, OpenCV's HSV (hue 0..180, S 200, V 230) in CSS rgb().
export function classColour(classId) {
  const hue = Math.floor(((classId * 0.618033988749895) % 1) * 180) * 2;
  const s = 200 / 255;
  const v = 230 / 255;
  const channel = (n) => {
    const k = (n + hue / 60) % 6;
    return Math.round(255 * (v - v * s * Math.max(0, Math.min(k, 4 - k, 1))));
  };
  return `rgb(${channel(5)}, ${channel(3)}, ${channel(1)})`;
}

// draw.draw_detections + draw.draw_fps on `context`, over a frame of `width` x `height`.
export function drawDetections(context, dets, width, height, fps) {
  const scale = Math.max(0.4, Math.min(width, height) / 800);
  const line = Math.max(1, Math.round(scale * 2));
  const fontPx = Math.max(10, Math.round(26 * scale));
  context.lineWidth = line;
  context.font = `${fontPx}px sans-serif`;
  context.textBaseline = "top";
  for (const det of dets) {
    const [x1, y1, x2, y2] = det.xyxy.map((v, i) =>
      Math.min(Math.max(v, 0), (i % 2 ? height : width) - 1),
    );
    const colour = classColour(det.classId);
    context.strokeStyle = colour;
    context.strokeRect(x1, y1, x2 - x1, y2 - y1);
    const text = `${det.name} ${det.score.toFixed(2)}`;
    const textW = context.measureText(text).width + 4;
    const textH = fontPx + 4;
    const top = y1 - textH >= 0 ? y1 - textH : y1;
    const left = Math.max(0, Math.min(x1, width - textW));
    context.fillStyle = colour;
    context.fillRect(left, top, textW, textH);
    context.fillStyle = "black";
    context.fillText(text, left + 2, top + 2);
  }
  if (fps !== null) {
    const text = `FPS ${fps.toFixed(1)}`;
    context.font = `${Math.max(12, Math.round(height / 24))}px sans-serif`;
    context.textBaseline = "bottom";
    context.lineWidth = 3;
    context.strokeStyle = "black";
    context.strokeText(text, 8, height - 8);
    context.fillStyle = "white";
    context.fillText(text, 8, height - 8);
  }
}
