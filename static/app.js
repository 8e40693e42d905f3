// Miaobi painting page. The drawing is a grid of class ids (the label map);
// the canvas only shows it, pixel for pixel, so every exported pixel is an
// exact palette colour: no anti-aliasing can blur a lake into sand.
"use strict";

const SIZE = 256;            // the label map's height in pixels, and its width when square
const WIDE = 384;            // a wide drawing's width: 3:2, a landscape's shape
const SAVE_SIZE = 1024;      // "Save picture" asks for the largest picture the server paints
// A server that never answers must not leave the spinner forever (tests shorten the wait).
const REQUEST_TIMEOUT_MS = window.MIAOBI_TEST_TIMEOUT_MS || 30000;
const LIVE_DELAY_MS = 900;   // "paint as I draw": wait this long after the last stroke
const MAX_UNDO = 40;
const SHEET_GAP = 16;        // white pixels between the drawing and the picture in a saved sheet
const DAY_SIZE = 512;        // "a day": 12 pictures, so no larger than this (~2 s on a 2-core server)
const PHOTO_LOOK = "photo";  // the look taken from a grown-up's photo (sent as style_photo, kept in memory only)
const PHOTO_SIDE = 512;      // a style photo is shrunk to this short side before it is sent
// A page served from another (whitelisted) origin can name the API with ?api=https://host
const API = (new URLSearchParams(location.search).get("api") || "").replace(/\/$/, "");

const state = {
  palette: null,        // from GET /labels: the one palette the model was trained with
  colors: null,         // Uint8Array, 3 per class id
  labels: new Uint8Array(SIZE * SIZE),
  current: 0,           // selected class id
  tool: "brush",
  brush: 10,
  style: null,          // a look from GET /styles, or null for any
  undo: [],
  redo: [],
  seed: randomSeed(),
  busy: false,
  again: false,         // a drawing changed while a picture was being painted (or while waiting to retry)
  shown: null,          // the request (drawing, seed, look) the picture on screen was painted from
  retryTimer: null,     // the one scheduled retry after a 429/503 or a failed request, if any
  failures: 0,          // requests in a row that got no answer
  waitUntil: 0,
  liveTimer: null,
  stroke: null,
  sun: null,            // {x, y, radius} as fractions of the side, or null: the Sun tool's stamp
  stylePhoto: null,     // a JPEG data URL of the photo the photo look paints in, or null
  wantDay: false,       // the next picture is a day going by (an animation), not one picture
};

const $ = (id) => document.getElementById(id);
const canvas = $("canvas");
const ctx = canvas.getContext("2d", { willReadFrequently: true });
ctx.imageSmoothingEnabled = false;

function randomSeed() {
  return Math.floor(Math.random() * 2147483647);
}

// ---------------------------------------------------------------- palette

async function loadPalette() {
  const response = await fetch(API + "/labels");
  if (!response.ok) throw new Error("palette");
  const palette = await response.json();
  state.palette = palette;
  state.colors = new Uint8Array(palette.classes.flatMap((c) => c.rgb));
  state.sky = palette.classes.findIndex((c) => c.name === palette.transparent_class);
  const box = $("palette");
  for (const c of palette.classes) {
    const button = document.createElement("button");
    button.className = "swatch";
    button.dataset.id = c.id;
    button.setAttribute("role", "radio");
    button.setAttribute("aria-label", c.display);
    button.title = c.display;
    const chip = document.createElement("span");
    chip.className = "chip";
    chip.style.background = `rgb(${c.rgb.join(",")})`;
    chip.textContent = c.emoji;
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = c.display;
    button.append(chip, name);
    button.addEventListener("click", () => pickClass(c.id));
    box.append(button);
  }
  box.addEventListener("keydown", moveColour);
  selectClass(palette.classes.findIndex((c) => c.name === "mountain"));
}

// ---------------------------------------------------------------- names said aloud

// For children who cannot read yet: what they pick is said aloud by the browser's own speech, with a voice
// on this device only (never one that sends the words to a server). A grown-up turns it on or off (🔈/🔊);
// the choice is kept.
// A grown-up's setting kept on this device; in a private window (no storage) it lasts as long as the page.
function setting(name, fallback) {
  try { return localStorage.getItem(name) ?? fallback; } catch (error) { return fallback; }
}

function keepSetting(name, value) {
  try { localStorage.setItem(name, value); } catch (error) { /* private mode: not kept */ }
}

function speechOn() {
  return setting("miaobi-speech", "on") !== "off";
}

function showSpeech(on) {
  $("speech-toggle").setAttribute("aria-pressed", String(on));
  $("speech-toggle").classList.toggle("selected", on);
  $("speech-toggle").textContent = on ? "🔊" : "🔈";
}

function say(text) {
  if (!speechOn() || !window.speechSynthesis) return;
  const voices = speechSynthesis.getVoices().filter((v) => v.localService);
  if (!voices.length) return;  // only voices on the device: nothing is said rather than sent away
  const lang = document.documentElement.lang;
  const utterance = new SpeechSynthesisUtterance(text);
  utterance.voice = voices.find((v) => v.lang.startsWith(lang)) || voices[0];
  speechSynthesis.cancel();  // the newest pick, not a queue of old ones
  speechSynthesis.speak(utterance);
}

$("speech-toggle").addEventListener("click", () => {
  const on = !speechOn();
  keepSetting("miaobi-speech", on ? "on" : "off");
  showSpeech(on);
  if (on) say("I will say the names");
});

function pickClass(id) {
  selectClass(id);
  say(state.palette.classes[id].display);
}

function selectClass(id) {
  state.current = id;
  if (state.tool === "eraser") selectTool("brush");
  for (const b of document.querySelectorAll(".swatch")) {
    const on = Number(b.dataset.id) === id;
    b.classList.toggle("selected", on);
    b.setAttribute("aria-checked", on);
    b.tabIndex = on ? 0 : -1;  // one tab stop for the group; arrow keys move within it
  }
}

// Arrow keys move through the colours, as in any radio group.
function moveColour(event) {
  const step = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 }[event.key];
  if (!step) return;
  event.preventDefault();
  const count = state.palette.classes.length;
  pickClass((state.current + step + count) % count);
  document.querySelector(".swatch.selected").focus();
}

function idOf(name) {
  return state.palette.classes.findIndex((c) => c.name === name);
}

// ---------------------------------------------------------------- drawing

// The drawing's width: SIZE, or WIDE for a wide one. The label map is SIZE rows of it, so an undo step, which
// holds the labels, holds the drawing's shape too.
function columns() {
  return state.labels.length / SIZE;
}

function render() {
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

function symbolsWereOn() {
  return setting("miaobi-symbols", "") === "1";
}

function showSymbols(on) {
  $("symbols").hidden = !on;
  $("symbols-toggle").setAttribute("aria-pressed", String(on));
  $("symbols-toggle").classList.toggle("selected", on);
  keepSetting("miaobi-symbols", on ? "1" : "");
  if (on) drawSymbols();
}

function stamp(cx, cy, radius, id) {
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

function line(from, to, radius, id) {
  const steps = Math.max(1, Math.ceil(Math.hypot(to.x - from.x, to.y - from.y) / Math.max(1, radius / 3)));
  for (let s = 1; s <= steps; s++) {
    stamp(from.x + (to.x - from.x) * s / steps, from.y + (to.y - from.y) * s / steps, radius, id);
  }
}

function floodFill(x, y, id) {
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

// ---------------------------------------------------------------- the sun

const SUN_RADIUS = 0.07;  // of the short side: a sun a child can see and tap again

// Drawn over the drawing (never into it); the server paints the real one on the picture's sky.
function drawSun() {
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

// The Sun tool: a tap puts the sun there (there is one sun); a tap on the sun takes it away.
function placeSun(p) {
  const x = p.x / columns(), y = p.y / SIZE;
  const onIt = state.sun && Math.hypot(p.x / SIZE - state.sun.x * columns() / SIZE, y - state.sun.y)
    <= state.sun.radius * 1.2;
  state.sun = onIt ? null : { x, y, radius: SUN_RADIUS };
  drawSun();
  say(onIt ? "No sun" : "Sun");
  drawingChanged();
}

// Canvas cells under the pointer, or null when it is off the canvas (nothing is painted there).
function toGrid(event) {
  const rect = canvas.getBoundingClientRect();
  const x = (event.clientX - rect.left) * columns() / rect.width;
  const y = (event.clientY - rect.top) * SIZE / rect.height;
  if (x < 0 || y < 0 || x >= columns() || y >= SIZE) return null;
  return { x, y };
}

function paintId() {
  return state.tool === "eraser" ? state.sky : state.current;
}

// An undo step holds the drawing as it was before a stroke or fill; one that changed nothing is dropped.
function remember(before) {
  if (before.length === state.labels.length && before.every((value, i) => value === state.labels[i])) return false;
  state.undo.push(before);
  if (state.undo.length > MAX_UNDO) state.undo.shift();
  state.redo = [];
  updateHistoryButtons();
  return true;
}

function restore(from, to) {
  if (!from.length) return;
  to.push(state.labels.slice());
  state.labels = from.pop();
  render();
  updateHistoryButtons();
  drawingChanged();
}

function updateHistoryButtons() {
  $("undo").disabled = state.undo.length === 0;
  $("redo").disabled = state.redo.length === 0;
}

canvas.addEventListener("pointerdown", (event) => {
  if (!state.palette || event.button > 0) return;
  event.preventDefault();
  // One stroke at a time: a second finger or a resting palm does not take over the one being drawn.
  if (state.stroke || (event.pointerType === "touch" && !event.isPrimary)) return;
  const p = toGrid(event);
  if (!p) return;
  if (state.tool === "sun") {
    placeSun(p);
    return;
  }
  const before = state.labels.slice();
  if (state.tool === "fill") {
    floodFill(Math.floor(p.x), Math.floor(p.y), state.current);
    if (remember(before)) {
      render();
      drawingChanged();
    }
    return;
  }
  canvas.setPointerCapture(event.pointerId);
  state.stroke = { last: p, id: event.pointerId, before };
  stamp(p.x, p.y, state.brush / 2, paintId());
  render();
});

canvas.addEventListener("pointermove", (event) => {
  if (!state.stroke || state.stroke.id !== event.pointerId) return;
  // Coalesced events keep fast strokes smooth on touch screens and pens.
  const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
  for (const e of (events.length ? events : [event])) {
    const p = toGrid(e);
    if (p && state.stroke.last) line(state.stroke.last, p, state.brush / 2, paintId());
    else if (p) stamp(p.x, p.y, state.brush / 2, paintId());  // back on the canvas: a new start, no bar
    state.stroke.last = p;
  }
  render();
});

function endStroke(event) {
  if (!state.stroke || state.stroke.id !== event.pointerId) return;
  const { before } = state.stroke;
  state.stroke = null;
  if (remember(before)) drawingChanged();
}
canvas.addEventListener("pointerup", endStroke);
canvas.addEventListener("pointercancel", endStroke);

// ---------------------------------------------------------------- tools

function selectTool(tool) {
  state.tool = tool;
  for (const b of document.querySelectorAll(".mode")) {
    b.classList.toggle("selected", b.dataset.tool === tool);
    b.setAttribute("aria-pressed", String(b.dataset.tool === tool));
  }
}

for (const b of document.querySelectorAll(".mode")) {
  b.addEventListener("click", () => {
    selectTool(b.dataset.tool);
    say(b.getAttribute("aria-label"));
  });
}
for (const b of document.querySelectorAll(".size")) {
  b.addEventListener("click", () => {
    state.brush = Number(b.dataset.size);
    say(b.getAttribute("aria-label"));
    for (const o of document.querySelectorAll(".size")) {
      o.classList.toggle("selected", o === b);
      o.setAttribute("aria-pressed", String(o === b));
    }
    if (state.tool === "fill") selectTool("brush");
  });
}
$("undo").addEventListener("click", () => restore(state.undo, state.redo));
$("redo").addEventListener("click", () => restore(state.redo, state.undo));
// Clear and the example scenes replace the whole drawing: an undo step only if that changed anything.
function replaceDrawing(draw) {
  const before = state.labels.slice();
  draw();
  if (!remember(before)) return;
  render();
  drawingChanged();
}
$("clear").addEventListener("click", () => {
  const hadSun = Boolean(state.sun);
  state.sun = null;  // starting again starts without a sun
  drawSun();
  replaceDrawing(() => state.labels.fill(state.sky));
  if (hadSun) drawingChanged();
});
document.addEventListener("keydown", (event) => {
  if (!(event.ctrlKey || event.metaKey) || event.key.toLowerCase() !== "z") return;
  event.preventDefault();
  if (event.shiftKey) restore(state.redo, state.undo); else restore(state.undo, state.redo);
});

// ---------------------------------------------------------------- example scenes

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

const EXAMPLES = [
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

function buildExamples() {
  for (const example of EXAMPLES) {
    const button = document.createElement("button");
    button.className = "example";
    button.textContent = `${example.emoji} ${example.name}`;
    button.addEventListener("click", () => replaceDrawing(() => example.draw()));
    $("examples").append(button);
  }
}

// "A photo": a photo (of the garden, say) becomes a drawing in the palette's colours, one undo step like an
// example scene, for a child to change: the lawn into a lake, a mountain behind it.
$("from-photo").addEventListener("click", () => $("drawing-photo-file").click());
$("drawing-photo-file").addEventListener("change", async (event) => {
  const [file] = event.target.files;
  event.target.value = "";
  if (!file) return;
  showMessage("Turning your photo into a drawing…");
  let ids = null;
  try {
    const photo = await shrunkPhoto(file, PHOTO_SIDE);
    const response = await fetch(API + "/drawing", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ photo, width: columns(), height: SIZE }),  // a drawing of this canvas's shape
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      showMessage((body.error && body.error.message) || "Miaobi could not read that photo.", true);
      return;
    }
    const drawing = await loadImage("data:image/png;base64," + body.image);
    ids = drawingIn(drawing, drawing.naturalWidth, drawing.naturalHeight);
  } catch (error) {
    showMessage("That photo could not be turned into a drawing. Try another one.", true);
    return;
  }
  if (!ids) return;
  replaceDrawing(() => { state.labels = ids; });
  showMessage("Here is your photo as a drawing! Change anything you like. 🖍️");
});

// ---------------------------------------------------------------- painting the picture

// The classes in the drawing, most of the canvas first (for the picture's description).
function drawnClasses() {
  const counts = new Map();
  for (const id of state.labels) counts.set(id, (counts.get(id) || 0) + 1);
  return [...counts.entries()].sort((a, b) => b[1] - a[1])
    .map(([id]) => state.palette.classes[id].display.toLowerCase());
}

function drawingPNG() {
  // The visible canvas already holds exact palette colours (putImageData is lossless).
  return canvas.toDataURL("image/png");
}

// The picture no longer shows the drawing (or the server is gone): fade it and never offer it for saving.
function markStale(stale) {
  $("frame").classList.toggle("stale", stale);
  $("download").hidden = $("keep").hidden = $("print").hidden = stale || $("result").hidden;
}

function drawingChanged() {
  markStale(true);
  if (!state.busy && !state.retryTimer) showMessage($("live").checked ? "" : "Press Paint to see your new drawing!");
  clearTimeout(state.liveTimer);
  if ($("live").checked) state.liveTimer = setTimeout(paint, LIVE_DELAY_MS);
}

function showMessage(text, isError) {
  $("message").textContent = text;
  $("message").classList.toggle("error", Boolean(isError));
}

// A 429 (too many pictures) or 503 (too slow this time) says when to come back (Retry-After, seconds).
// One retry is ever scheduled, with the newest drawing; until then Paint and the dice wait visibly.
function waitBeforeRetry(seconds, text) {
  state.waitUntil = Date.now() + seconds * 1000;
  document.body.classList.add("waiting");  // Paint and the dice stay pressable: a press is kept for the retry
  const tick = () => {
    const left = Math.max(0, Math.ceil((state.waitUntil - Date.now()) / 1000));
    if (left > 0) {
      showMessage(`⏳ ${text} ${left}…`);
      state.retryTimer = setTimeout(tick, 250);
      return;
    }
    state.retryTimer = null;
    document.body.classList.remove("waiting");
    paint();
  };
  tick();
}

// What the server is asked to paint: the drawing, the seed and the look; size and format depend on the use.
function pictureRequest() {
  const look = state.style === PHOTO_LOOK ? { style_photo: state.stylePhoto }
    : state.style ? { style: state.style } : {};
  return { image: drawingPNG(), columns: columns(), seed: state.seed, ...look, ...(state.sun ? { sun: state.sun } : {}) };
}

// "A day": the same drawing and seed through the day's looks, which the server chooses.
function dayRequest() {
  return { image: drawingPNG(), columns: columns(), seed: state.seed, animate: "day",
           ...(state.sun ? { sun: state.sun } : {}) };
}

// size: the picture's width; a wide drawing's picture is as much less high as the drawing is.
function fetchPicture(request, size, format, signal) {
  const { columns: width, ...fields } = request;
  const shape = width === SIZE ? { size } : { width: size, height: Math.round(size * SIZE / width) };
  return fetch(API + "/predict", {
    signal,
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ ...fields, ...shape, format }),
  });
}

// The side that fills the picture frame at this screen's pixel density (680-970 on a tablet), in steps
// of 64; the server paints at its model's size and enlarges with its learned upscaler.
function pictureSize() {
  // On a phone the frame is folded away until asked for; it then spans the screen.
  const side = ($("frame").clientWidth || document.documentElement.clientWidth) * (window.devicePixelRatio || 1);
  return Math.min(SAVE_SIZE, Math.max(256, Math.ceil(side / 64) * 64));
}

// A drawing of nothing but sky (and no sun): there is nothing to paint yet, and the model would paint a smear.
function drawingIsEmpty() {
  return !state.sun && state.labels.every((id) => id === state.sky);
}

// Instead of a picture of an empty drawing: a friendly picture that asks for a drawing.
function nudge(on) {
  $("nudge").hidden = !on;
  if (on) {
    markStale(true);
    showMessage("Draw something first! 🖍️");
  }
}

async function paint() {
  if (state.busy || state.retryTimer) {
    // Paint once more when this one (or the wait) is done, with the newest drawing. Paint stays pressable
    // while a picture is painting: in a classroom, many presses landed then, and a lost press is a lost turn.
    state.again = true;
    document.body.classList.add("queued");
    return;
  }
  if (drawingIsEmpty()) {
    state.again = false;
    document.body.classList.remove("queued");
    nudge(true);
    return;
  }
  nudge(false);
  state.busy = true;
  state.again = false;
  document.body.classList.remove("queued");
  $("spinner").hidden = false;
  showMessage("Painting…");
  let retryIn = 0, retryText = "";
  const abort = new AbortController();
  const timeout = setTimeout(() => abort.abort(), REQUEST_TIMEOUT_MS);
  const day = state.wantDay;
  state.wantDay = false;
  try {
    if (day) showMessage("Painting a whole day… 🌅");
    const request = day ? dayRequest() : pictureRequest();
    const size = day ? Math.min(DAY_SIZE, pictureSize()) : pictureSize();
    const response = await fetchPicture(request, size, "jpeg", abort.signal);
    const body = await response.json().catch(() => ({}));
    if (response.status === 429 || response.status === 503) {
      retryIn = Math.min(60, Math.max(1, Number(response.headers.get("Retry-After")) || 2));
      const code = body.error && body.error.code;
      retryText = code === "too_many_requests"
        ? "What a lot of pictures! Enjoy this one – the next one comes in"
        : "Miaobi is catching its breath. Painting again in";
      return;
    }
    if (!response.ok) {
      showMessage((body.error && body.error.message) || "Miaobi could not paint that one.", true);
      return;
    }
    $("result").src = $("thumb").src = `data:image/${body.format};base64,` + body.image;
    $("result").alt = "Miaobi's landscape of your drawing: " + drawnClasses().join(", ");
    $("result").hidden = false;
    $("placeholder").hidden = true;
    state.shown = request;  // what this picture was painted from, for saving it large beside its drawing
    state.failures = 0;
    $("offline").hidden = true;
    markStale(state.again);  // a newer drawing is already waiting to be painted
    showMessage(state.again ? "Painting…" : "Ta-da!");  // never a Ta-da! over a faded picture
  } catch (error) {
    // Gone or silent: a picture anyone understands, the old picture marked, and a retry that backs off.
    state.failures += 1;
    $("offline").hidden = false;
    markStale(true);
    retryIn = Math.min(30, 5 * 2 ** (state.failures - 1));
    retryText = "Miaobi can't be reached right now. Trying again in";
  } finally {
    clearTimeout(timeout);
    state.busy = false;
    $("spinner").hidden = true;
    if (retryIn) {
      state.wantDay ||= day;  // a day refused (busy, or the server gone) is retried as a day, not one picture
      waitBeforeRetry(retryIn, retryText);
    } else if (state.again) {
      paint();
    }
  }
}

// "Save picture": the drawing and its picture side by side, the picture painted again at SAVE_SIZE (the same
// seed and look give the same picture, larger), under a name that never overwrites an earlier save.
async function savePicture(event) {
  event.preventDefault();
  const shown = state.shown;
  if (shown.animate) {  // a day is saved as it plays: the animated picture itself
    download($("result").src, `miaobi-${timeStamp()}-${shown.seed}-day.webp`);
    await keepPicture();
    showMessage("Saved!");
    return;
  }
  let src = $("result").src;
  showMessage("Getting your big picture ready…");
  try {
    const response = await fetchPicture(shown, SAVE_SIZE, "png", AbortSignal.timeout(REQUEST_TIMEOUT_MS));
    const body = await response.json();
    if (response.ok) src = `data:image/${body.format};base64,` + body.image;
  } catch (error) {
    // No big one this time: saving the picture on screen beats saving nothing.
  }
  const [drawing, picture] = await Promise.all([loadImage(shown.image), loadImage(src)]);
  const [width, height] = [picture.naturalWidth, picture.naturalHeight];
  const sheet = document.createElement("canvas");
  sheet.width = 2 * width + SHEET_GAP;
  sheet.height = height;
  const context = sheet.getContext("2d");
  context.fillStyle = "#fff";
  context.fillRect(0, 0, sheet.width, sheet.height);
  context.imageSmoothingEnabled = false;  // the drawing's blocks stay crisp
  context.drawImage(drawing, 0, 0, width, height);
  context.drawImage(picture, width + SHEET_GAP, 0, width, height);
  download(sheet.toDataURL("image/png"), `miaobi-${timeStamp()}-${shown.seed}.png`);
  await keepPicture();  // a saved picture is kept in the gallery too
  showMessage("Saved!");
}

function timeStamp() {
  return new Date().toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15);
}

function download(url, name) {
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  link.click();
}

function loadImage(url) {
  return new Promise((resolve, reject) => {
    const image = new Image();
    image.onload = () => resolve(image);
    image.onerror = reject;
    image.src = url;
  });
}

// "Open": a sheet "Save picture" made (drawing | picture) gives its drawing back to the canvas, exactly, as
// one undo step, with the seed its name carries. Each drawing pixel is a square block of the sheet's left
// half: its centre holds the pixel's palette colour whatever the block's size.
async function openSaved(file) {
  const url = URL.createObjectURL(file);
  let image;
  try {
    image = await loadImage(url);
  } catch (error) {
    image = null;
  } finally {
    URL.revokeObjectURL(url);
  }
  const height = image ? image.naturalHeight : 0, width = image ? (image.naturalWidth - SHEET_GAP) / 2 : 0;
  if (!image || height < SIZE || !shapeOf(width, height)) {
    showMessage("That is not a picture saved by Miaobi. Open a file made with ⬇️ Save picture.", true);
    return;
  }
  const seed = /^miaobi-\d{8}-\d{6}-(\d+)/.exec(file.name || "");
  bringBack(drawingIn(image, width, height), seed ? Number(seed[1]) : state.seed, state.style);
}

// The drawing's width in label pixels for a width x height image of it: SIZE (square) or WIDE (3:2), else 0.
function shapeOf(width, height) {
  return [SIZE, WIDE].find((columns) => Math.abs(width * SIZE / (height * columns) - 1) < 0.01) || 0;
}

// The drawing in the top-left width x height of an image (a saved sheet, a kept drawing, a photo's drawing),
// or null when its shape or its colours are not a drawing's.
function drawingIn(image, width, height) {
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

// A drawing back on the canvas (one undo step), with the seed and look it was painted with.
function bringBack(ids, seed, style) {
  if (!ids) {
    showMessage("That picture's drawing has colours Miaobi does not know.", true);
    return;
  }
  state.seed = seed;
  selectStyle(style);
  replaceDrawing(() => { state.labels = ids; });
  showMessage("Here is your drawing again!");
}

$("open").addEventListener("click", () => $("open-file").click());
$("open-file").addEventListener("change", () => {
  const [file] = $("open-file").files;
  $("open-file").value = "";  // the same file can be opened again
  if (file) openSaved(file);
});
// A saved picture dropped on the drawing opens it.
canvas.addEventListener("dragover", (event) => event.preventDefault());
canvas.addEventListener("drop", (event) => {
  event.preventDefault();
  const [file] = event.dataTransfer.files;
  if (file) openSaved(file);
});

$("download").addEventListener("click", savePicture);
$("symbols-toggle").addEventListener("click", () => showSymbols($("symbols").hidden));

// On a phone the picture opens over the drawing and closes back to it (the buttons show only there).
function showPicture(open) {
  document.body.classList.toggle("picture-open", open);
  $("show-picture").setAttribute("aria-expanded", String(open));
  (open ? $("hide-picture") : $("show-picture")).focus();
}
$("show-picture").addEventListener("click", () => showPicture(true));
$("hide-picture").addEventListener("click", () => showPicture(false));
$("paint").addEventListener("click", paint);
$("dice").addEventListener("click", () => {
  state.seed = randomSeed();
  paint();
});
// "Wide": the drawing stretched to the other shape, nothing lost; one undo step, which brings the shape back.
function resampled(width) {
  const old = columns(), out = new Uint8Array(width * SIZE);
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < width; x++) out[y * width + x] = state.labels[y * old + Math.floor((x + 0.5) * old / width)];
  }
  return out;
}
$("wide").addEventListener("click", () => {
  const wide = columns() === SIZE;
  say(wide ? "Wide picture" : "Square picture");
  replaceDrawing(() => { state.labels = resampled(wide ? WIDE : SIZE); });
});
$("day").addEventListener("click", () => {
  say("A day in my landscape");
  state.wantDay = true;
  paint();
});
$("live").addEventListener("change", () => clearTimeout(state.liveTimer));

// ---------------------------------------------------------------- looks (styles)

// The model's named looks as picture buttons; "any look" first. Nothing shows for a model without styles.
async function loadStyles() {
  const response = await fetch(API + "/styles").catch(() => null);
  const styles = response && response.ok ? (await response.json()).styles : [];
  if (!styles.length) return;
  const group = $("styles");
  const choices = [{ name: null, label: "Any look", thumbnail: null }, ...styles];
  for (const style of choices) {
    const button = document.createElement("button");
    button.className = "style" + (style.name === state.style ? " selected" : "");
    button.setAttribute("role", "radio");
    button.setAttribute("aria-checked", String(style.name === state.style));
    button.title = style.label;
    button.setAttribute("aria-label", style.label);  // the caption hides on small screens
    if (style.thumbnail) {
      const img = document.createElement("img");
      img.src = style.thumbnail;
      img.alt = "";
      button.append(img);
    } else {
      button.textContent = "🎨";
    }
    const caption = document.createElement("span");
    caption.textContent = style.label;
    button.append(caption);
    button.dataset.style = style.name || "";
    button.addEventListener("click", () => {
      selectStyle(style.name);
      say(style.label);
      paint();
    });
    group.append(button);
  }
  group.append(photoLookButton());
  group.hidden = false;
}

// One more look, from a grown-up's photo ("paint my drawing in the light of this sunset"). The photo is
// shrunk here, kept in this page's memory only, and sent with each picture painted in its look.
function photoLookButton() {
  const button = document.createElement("button");
  button.className = "style photo-look";
  button.setAttribute("role", "radio");
  button.setAttribute("aria-checked", "false");
  button.title = "Paint in the light of a photo (for grown-ups)";
  button.setAttribute("aria-label", "Your photo's look");
  button.dataset.style = PHOTO_LOOK;
  const icon = document.createElement("span");
  icon.className = "photo-icon";
  icon.textContent = "📷";
  const caption = document.createElement("span");
  caption.textContent = "Your photo";
  button.append(icon, caption);
  button.addEventListener("click", () => $("style-photo-file").click());
  return button;
}

$("style-photo-file").addEventListener("change", async (event) => {
  const [file] = event.target.files;
  event.target.value = "";  // the same photo can be picked again
  if (!file) return;
  let photo;
  try {
    photo = await shrunkPhoto(file, PHOTO_SIDE);
  } catch (error) {
    showMessage("That photo could not be read. Try a JPEG or PNG.", true);
    return;
  }
  state.stylePhoto = photo;
  const button = $("styles").querySelector(".photo-look");
  let img = button.querySelector("img");
  if (!img) {
    img = document.createElement("img");
    img.alt = "";
    button.querySelector(".photo-icon").replaceWith(img);
  }
  img.src = photo;
  selectStyle(PHOTO_LOOK);
  say("Your photo's look");
  paint();
});

// A photo file as a JPEG data URL with its short side at most ``side``, turned upright by its EXIF orientation.
async function shrunkPhoto(file, side) {
  const bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
  const scale = Math.min(1, side / Math.min(bitmap.width, bitmap.height));
  const canvas = document.createElement("canvas");
  canvas.width = Math.round(bitmap.width * scale);
  canvas.height = Math.round(bitmap.height * scale);
  canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  bitmap.close();
  return canvas.toDataURL("image/jpeg", 0.9);
}

// The look (a name the model offers, or null for any) that the next picture is painted in.
function selectStyle(name) {
  const buttons = [...$("styles").children];
  const known = buttons.some((b) => b.dataset.style === name) && (name !== PHOTO_LOOK || state.stylePhoto);
  state.style = known ? name : null;  // a photo look kept in the gallery is gone once the page reloads
  for (const button of buttons) {
    const chosen = button.dataset.style === (state.style || "");
    button.classList.toggle("selected", chosen);
    button.setAttribute("aria-checked", String(chosen));
  }
}

// ---------------------------------------------------------------- the gallery (gallery.js keeps it)

const SLIDE_MS = window.MIAOBI_TEST_SLIDE_MS || 3000;
const galleryURLs = [];   // object URLs of the thumbnails on show, released when the gallery is redrawn
let slideTimer = null;

// A data: URL's bytes as a Blob (decoded here: the page's content policy lets fetch reach only its server).
function blobOf(url) {
  const [header, data] = url.split(",");
  const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
  return new Blob([bytes], { type: header.slice(5).split(";")[0] });
}

// The picture on screen, its drawing, seed and look go into the gallery ("Keep", and every "Save picture").
async function keepPicture() {
  const shown = state.shown;
  let dropped;
  try {
    dropped = await Gallery.keep({ drawing: blobOf(shown.image), picture: blobOf($("result").src),
                                   seed: shown.seed, style: shown.style || null, sun: shown.sun || null,
                                   date: new Date().toISOString() });
  } catch (error) {
    showMessage("This browser cannot keep pictures here. Save it instead.", true);
    return;
  }
  showMessage(dropped ? "Kept! The gallery was full, so the oldest picture made room." : "Kept in your gallery! ❤️");
  await refreshGallery();
}

async function refreshGallery() {
  let kept;
  try {
    kept = await Gallery.list();
  } catch (error) {
    return;  // a browser without IndexedDB (or with it switched off) has no gallery
  }
  for (const url of galleryURLs.splice(0)) URL.revokeObjectURL(url);
  const box = $("gallery-items");
  box.replaceChildren();
  for (const item of kept.reverse()) {
    const url = URL.createObjectURL(item.picture);
    galleryURLs.push(url);
    const when = new Date(item.date).toLocaleDateString();
    const cell = document.createElement("div");
    cell.className = "kept";
    const open = document.createElement("button");
    open.className = "open-kept";
    open.setAttribute("aria-label", `Go on with the picture from ${when}`);
    const image = document.createElement("img");
    image.src = url;
    image.alt = "";
    open.append(image);
    open.addEventListener("click", () => goOnWith(item));
    const remove = document.createElement("button");
    remove.className = "delete-kept";
    remove.textContent = "✖️";
    remove.setAttribute("aria-label", `Delete the picture from ${when}`);
    remove.addEventListener("click", async () => {
      await Gallery.remove(item.id);
      await refreshGallery();
    });
    const print = document.createElement("button");
    print.className = "print-kept";
    print.textContent = "🖨️";
    print.setAttribute("aria-label", `Print the picture from ${when}`);
    // Object URLs of their own: the thumbnails' are released when the gallery is redrawn.
    print.addEventListener("click", () => printSheet(URL.createObjectURL(item.picture),
                                                     URL.createObjectURL(item.drawing), item.date));
    cell.append(open, remove, print);
    box.append(cell);
  }
  $("gallery").hidden = kept.length === 0;
}

async function goOnWith(item) {
  if (!state.palette) {
    showMessage("Miaobi's paint box is not here yet. Try again when Miaobi can be reached.", true);
    return;
  }
  const url = URL.createObjectURL(item.drawing);
  try {
    const image = await loadImage(url);
    state.sun = item.sun || null;
    drawSun();
    bringBack(drawingIn(image, image.naturalWidth, image.naturalHeight), item.seed, item.style);
  } finally {
    URL.revokeObjectURL(url);
  }
}

async function startSlideshow() {
  const kept = (await Gallery.list()).reverse();
  if (!kept.length) return;
  let next = 0;
  const show = () => {
    const slide = $("slide");
    if (slide.src.startsWith("blob:")) URL.revokeObjectURL(slide.src);
    slide.src = URL.createObjectURL(kept[next % kept.length].picture);
    next += 1;
  };
  show();
  $("slideshow").showModal();
  slideTimer = setInterval(show, SLIDE_MS);
}

// "Print": the sheet gets the picture, its drawing and date; a grown-up may add a name; then the browser's
// print dialog. The same for a picture in the gallery.
async function printSheet(picture, drawing, date) {
  for (const image of [$("print-picture"), $("print-drawing")]) {
    if (image.src.startsWith("blob:")) URL.revokeObjectURL(image.src);  // the last gallery print's copies
  }
  $("print-picture").src = picture;
  $("print-drawing").src = drawing;
  $("print-date").textContent = new Date(date).toLocaleDateString(undefined, { dateStyle: "long" });
  $("print-name-input").value = "";
  $("print-ask").showModal();
}

$("print-ask").addEventListener("close", async () => {
  if ($("print-ask").returnValue !== "print") return;
  $("print-name").textContent = $("print-name-input").value.trim();
  await Promise.all([$("print-picture").decode(), $("print-drawing").decode()]).catch(() => {});
  window.print();
});
$("print").addEventListener("click", () => printSheet($("result").src, state.shown.image, Date.now()));

// "Clear all" asks a sum of a grown-up, not a tap of a child.
function askGrownUp() {
  const a = 12 + Math.floor(Math.random() * 8), b = 3 + Math.floor(Math.random() * 6);
  $("grown-up-question").textContent = `${a} × ${b} =`;
  $("grown-up").dataset.answer = String(a * b);
  $("grown-up-answer").value = "";
  $("grown-up").showModal();
}

async function grownUpAnswered() {
  if ($("grown-up").returnValue !== "confirm") return;
  if ($("grown-up-answer").value.trim() !== $("grown-up").dataset.answer) {
    showMessage("The pictures were kept: that was not the answer.");
    return;
  }
  await Gallery.clear();
  await refreshGallery();
  showMessage("The gallery is empty now.");
}

$("keep").addEventListener("click", keepPicture);
$("slideshow-start").addEventListener("click", startSlideshow);
$("slideshow-stop").addEventListener("click", () => $("slideshow").close());
$("slideshow").addEventListener("close", () => clearInterval(slideTimer));
$("clear-gallery").addEventListener("click", askGrownUp);
$("grown-up").addEventListener("close", grownUpAnswered);

// ---------------------------------------------------------------- start

async function start() {
  // The page served by Miaobi keeps a copy of itself, so the gallery opens offline (static/sw.js); a page
  // on another origin has its own.
  if ("serviceWorker" in navigator && location.pathname === "/" && !API) {
    navigator.serviceWorker.register("/sw.js").catch(() => { /* no offline copy: the page works the same */ });
  }
  refreshGallery();  // the kept pictures show even when the server cannot be reached
  try {
    await loadPalette();
  } catch (error) {
    showMessage("Miaobi's paint box did not load. Please reload the page.", true);
    return;
  }
  buildExamples();
  loadStyles();  // optional: the page works the same without looks
  EXAMPLES[0].draw();
  render();
  showSymbols(symbolsWereOn());
  showSpeech(speechOn());
  updateHistoryButtons();
  document.body.classList.add("ready");
  if ($("live").checked) paint();  // the starter scene's picture, without waiting for a first stroke
}

start();
