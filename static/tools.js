// The child's tools: colours, brush sizes, fill, eraser, the sun, and undo/redo, one step per stroke or
// whole-drawing change.
import { $, API, SIZE, state, WIDE } from "./page.js";
import { say } from "./speech.js";
import { canvas, columns, drawSun, EXAMPLES, floodFill, line, render, resampled, stamp, SUN_RADIUS, toGrid } from "./drawing.js";
import { drawingChanged } from "./server.js";

const MAX_UNDO = 40;

export async function loadPalette() {
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

export function selectTool(tool) {
  state.tool = tool;
  for (const b of document.querySelectorAll(".mode")) {
    b.classList.toggle("selected", b.dataset.tool === tool);
    b.setAttribute("aria-pressed", String(b.dataset.tool === tool));
  }
}

export function chooseBrush(b) {
  state.brush = Number(b.dataset.size);
  say(b.getAttribute("aria-label"));
  for (const o of document.querySelectorAll(".size")) {
    o.classList.toggle("selected", o === b);
    o.setAttribute("aria-pressed", String(o === b));
  }
  if (state.tool === "fill") selectTool("brush");
}

function paintId() {
  return state.tool === "eraser" ? state.sky : state.current;
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

// An undo step holds the drawing as it was before a stroke or fill; one that changed nothing is dropped.
function remember(before) {
  if (before.length === state.labels.length && before.every((value, i) => value === state.labels[i])) return false;
  state.undo.push(before);
  if (state.undo.length > MAX_UNDO) state.undo.shift();
  state.redo = [];
  updateHistoryButtons();
  return true;
}

export function restore(from, to) {
  if (!from.length) return;
  to.push(state.labels.slice());
  state.labels = from.pop();
  render();
  updateHistoryButtons();
  drawingChanged();
}

export function updateHistoryButtons() {
  $("undo").disabled = state.undo.length === 0;
  $("redo").disabled = state.redo.length === 0;
}

// A finger, pen or mouse down on the drawing: a dot, a fill or the sun.
export function startStroke(event) {
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
}

export function continueStroke(event) {
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
}

export function endStroke(event) {
  if (!state.stroke || state.stroke.id !== event.pointerId) return;
  const { before } = state.stroke;
  state.stroke = null;
  if (remember(before)) drawingChanged();
}

// Clear and the example scenes replace the whole drawing: an undo step only if that changed anything.
export function replaceDrawing(draw) {
  const before = state.labels.slice();
  draw();
  if (!remember(before)) return;
  render();
  drawingChanged();
}

export function clearDrawing() {
  const hadSun = Boolean(state.sun);
  state.sun = null;  // starting again starts without a sun
  drawSun();
  replaceDrawing(() => state.labels.fill(state.sky));
  if (hadSun) drawingChanged();
}

export function buildExamples() {
  for (const example of EXAMPLES) {
    const button = document.createElement("button");
    button.className = "example";
    button.textContent = `${example.emoji} ${example.name}`;
    button.addEventListener("click", () => replaceDrawing(() => example.draw()));
    $("examples").append(button);
  }
}

export function toggleWide() {
  const wide = columns() === SIZE;
  say(wide ? "Wide picture" : "Square picture");
  replaceDrawing(() => { state.labels = resampled(wide ? WIDE : SIZE); });
}
