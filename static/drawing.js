// The drawing is a grid of class ids (the label map); the canvas only shows it, pixel for pixel, so every
// exported pixel is an exact palette colour: no anti-aliasing can blur a lake into sand. Here: showing it,
// changing it (brush, line, fill, the sun over it), reading one back from an image, and the example scenes.
import { $, keepSetting, setting, SIZE, state, WIDE } from "./page.js";

export const canvas = $("canvas");

const ctx = canvas.getContext("2d", { willReadFrequently: true });

function idOf(name) {
  return state.palette.classes.findIndex((c) => c.name === name);
}

// The drawing's width: SIZE, or WIDE for a wide one. The label map is SIZE rows of it, so an undo step, which
// holds the labels, holds the drawing's shape too.
export function columns() {
  return state.labels.length / SIZE;
}

export function render() {
  const width = columns();
  if (canvas.width !== width) {  // a new shape: the canvas and the layers over it follow
    canvas.width = width;
    for (const layer of [$("symbols"), $("sun-layer")]) [layer.width, layer.height] = [2 * width, 2 * SIZE];
    document.body.classList.toggle("wide", width !== SIZE);
    $("wide").setAttribute("aria-pressed", String(width !== SIZE));
    drawSun();
  }
  const image = ctx.createImageData(width, SIZE);
  const px = image.data;
  for (let i = 0; i < state.labels.length; i++) {
    const k = state.labels[i] * 3;
    px[i * 4] = state.colors[k];
    px[i * 4 + 1] = state.colors[k + 1];
    px[i * 4 + 2] = state.colors[k + 2];
    px[i * 4 + 3] = 255;
  }
  ctx.putImageData(image, 0, 0);
  if (!$("symbols").hidden) drawSymbols();
}

// For children who cannot tell some colours apart (Sand and Grass, Trees and Dirt): each colour's symbol,
// its palette emoji, on a grid over the drawing. A separate canvas, so the drawing itself never changes.
const SYMBOL_CELL = 32;  // label-map pixels between symbols

function drawSymbols() {
  const overlay = $("symbols");
  const context = overlay.getContext("2d");
  const scale = overlay.height / SIZE, width = columns();
  context.clearRect(0, 0, overlay.width, overlay.height);
  context.font = `${Math.round(SYMBOL_CELL * scale * 0.55)}px sans-serif`;
  context.textAlign = "center";
  context.textBaseline = "middle";
  context.shadowColor = "rgba(255, 255, 255, 0.9)";
  context.shadowBlur = 4;
  for (let y = SYMBOL_CELL / 2; y < SIZE; y += SYMBOL_CELL) {
    for (let x = SYMBOL_CELL / 2; x < width; x += SYMBOL_CELL) {
      const id = state.labels[y * width + x];
      context.fillText(state.palette.classes[id].emoji, x * scale, y * scale);
    }
  }
}

export function symbolsWereOn() {
  return setting("miaobi-symbols", "") === "1";
}

export function showSymbols(on) {
  $("symbols").hidden = !on;
  $("symbols-toggle").setAttribute("aria-pressed", String(on));
  $("symbols-toggle").classList.toggle("selected", on);
  keepSetting("miaobi-symbols", on ? "1" : "");
  if (on) drawSymbols();
}

export function stamp(cx, cy, radius, id) {
  const r2 = radius * radius, width = columns();
  const x0 = Math.max(0, Math.floor(cx - radius)), x1 = Math.min(width - 1, Math.ceil(cx + radius));
  const y0 = Math.max(0, Math.floor(cy - radius)), y1 = Math.min(SIZE - 1, Math.ceil(cy + radius));
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      const dx = x + 0.5 - cx, dy = y + 0.5 - cy;
      if (dx * dx + dy * dy <= r2) state.labels[y * width + x] = id;
    }
  }
}

export function line(from, to, radius, id) {
  const steps = Math.max(1, Math.ceil(Math.hypot(to.x - from.x, to.y - from.y) / Math.max(1, radius / 3)));
  for (let s = 1; s <= steps; s++) {
    stamp(from.x + (to.x - from.x) * s / steps, from.y + (to.y - from.y) * s / steps, radius, id);
  }
}

export function floodFill(x, y, id) {
  const width = columns(), start = y * width + x, target = state.labels[start];
  if (target === id) return;
  const stack = [start];
  while (stack.length) {
    const i = stack.pop();
    if (state.labels[i] !== target) continue;
    state.labels[i] = id;
    const px = i % width;
    if (px > 0) stack.push(i - 1);
    if (px < width - 1) stack.push(i + 1);
    if (i >= width) stack.push(i - width);
    if (i < width * (SIZE - 1)) stack.push(i + width);
  }
}

export const SUN_RADIUS = 0.07;  // of the short side: a sun a child can see and tap again

// Drawn over the drawing (never into it); the server paints the real one on the picture's sky.
export function drawSun() {
  const layer = $("sun-layer");
  const context = layer.getContext("2d");
  context.clearRect(0, 0, layer.width, layer.height);
  if (!state.sun) return;
  const x = state.sun.x * layer.width, y = state.sun.y * layer.height, r = state.sun.radius * layer.height;
  context.strokeStyle = context.fillStyle = "#ffd21f";
  context.lineWidth = r * 0.18;
  context.lineCap = "round";
  for (let ray = 0; ray < 8; ray++) {  // the sun a child draws: a disc with rays
    const angle = ray * Math.PI / 4;
    context.beginPath();
    context.moveTo(x + Math.cos(angle) * r * 1.25, y + Math.sin(angle) * r * 1.25);
    context.lineTo(x + Math.cos(angle) * r * 1.7, y + Math.sin(angle) * r * 1.7);
    context.stroke();
  }
  context.beginPath();
  context.arc(x, y, r, 0, 2 * Math.PI);
  context.fill();
}

// Canvas cells under the pointer, or null when it is off the canvas (nothing is painted there).
export function toGrid(event) {
  const rect = canvas.getBoundingClientRect();
  const x = (event.clientX - rect.left) * columns() / rect.width;
  const y = (event.clientY - rect.top) * SIZE / rect.height;
  if (x < 0 || y < 0 || x >= columns() || y >= SIZE) return null;
  return { x, y };
}

// The classes in the drawing, most of the canvas first (for the picture's description).
export function drawnClasses() {
  const counts = new Map();
  for (const id of state.labels) counts.set(id, (counts.get(id) || 0) + 1);
  return [...counts.entries()].sort((a, b) => b[1] - a[1])
    .map(([id]) => state.palette.classes[id].display.toLowerCase());
}

export function drawingPNG() {
  // The visible canvas already holds exact palette colours (putImageData is lossless).
  return canvas.toDataURL("image/png");
}

// The drawing's width in label pixels for a width x height image of it: SIZE (square) or WIDE (3:2), else 0.
export function shapeOf(width, height) {
  return [SIZE, WIDE].find((columns) => Math.abs(width * SIZE / (height * columns) - 1) < 0.01) || 0;
}

// The drawing in the top-left width x height of an image (a saved sheet, a kept drawing, a photo's drawing),
// or null when its shape or its colours are not a drawing's.
export function drawingIn(image, width, height) {
  const columns = shapeOf(width, height);
  if (!columns) return null;
  const board = document.createElement("canvas");
  [board.width, board.height] = [width, height];
  const context = board.getContext("2d", { willReadFrequently: true });
  context.drawImage(image, 0, 0);
  const pixels = context.getImageData(0, 0, width, height).data;
  const idOfColour = new Map(state.palette.classes.map((c) => [c.rgb.join(","), c.id]));
  const ids = new Uint8Array(columns * SIZE);
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < columns; x++) {
      const i = (Math.floor((y + 0.5) * height / SIZE) * width + Math.floor((x + 0.5) * width / columns)) * 4;
      const id = idOfColour.get(`${pixels[i]},${pixels[i + 1]},${pixels[i + 2]}`);
      if (id === undefined) return null;
      ids[y * columns + x] = id;
    }
  }
  return ids;
}

// "Wide": the drawing stretched to the other shape, nothing lost; one undo step, which brings the shape back.
export function resampled(width) {
  const old = columns(), out = new Uint8Array(width * SIZE);
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < width; x++) out[y * width + x] = state.labels[y * old + Math.floor((x + 0.5) * old / width)];
  }
  return out;
}

function fillRows(fn) {
  const width = columns();
  for (let y = 0; y < SIZE; y++) for (let x = 0; x < width; x++) {
    const id = fn(x / width, y / SIZE);
    if (id !== null) state.labels[y * width + x] = id;
  }
}

// A cumulus: three overlapping round lumps on a flat base, centred at (cx, cy).
function puff(x, y, cx, cy) {
  const lump = (dx, dy, r) => Math.hypot((x - cx - dx) * 0.8, y - cy - dy) < r;
  return y < cy + 0.035 && (lump(-0.07, 0.01, 0.035) || lump(0, -0.015, 0.05) || lump(0.07, 0.01, 0.035));
}

export const EXAMPLES = [
  { name: "Mountain lake", emoji: "🏔️", draw() {
    fillRows((x, y) => {
      const ridge = 0.32 + 0.18 * Math.abs(Math.sin(x * 5.2)) - 0.08 * Math.sin(x * 2.1);
      if (y < ridge) return puff(x, y, 0.3, 0.12) ? idOf("cloud") : idOf("sky");
      if (y < ridge + 0.06) return idOf("snow");
      if (y < 0.62) return idOf("mountain");
      if (y < 0.72) return idOf("tree");
      return idOf("water");
    });
  } },
  { name: "Beach", emoji: "🏖️", draw() {
    fillRows((x, y) => {
      if (y < 0.45) return (Math.hypot((x - 0.7) * 1.6, y - 0.18) < 0.1) ? idOf("cloud") : idOf("sky");
      const shore = 0.72 + 0.05 * Math.sin(x * 7);
      return y < shore ? idOf("sea") : idOf("sand");
    });
  } },
  { name: "Snowy peaks", emoji: "❄️", draw() {
    fillRows((x, y) => {
      const peak = 0.25 + 0.5 * Math.abs(x - 0.5);
      if (y < peak) return idOf("sky");
      if (y < peak + 0.2) return idOf("snow");
      if (y < 0.7) return idOf("rock");
      return idOf("grass");
    });
  } },
  { name: "Forest", emoji: "🌲", draw() {
    fillRows((x, y) => {
      const tops = 0.3 + 0.06 * Math.sin(x * 31) + 0.04 * Math.sin(x * 13);
      if (y < tops) return idOf("sky");
      if (y < 0.75) return idOf("tree");
      return Math.abs(x - 0.5 - (y - 0.75)) < 0.06 + (y - 0.75) * 0.4 ? idOf("dirt") : idOf("grass");
    });
  } },
];
