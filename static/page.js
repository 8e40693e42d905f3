// What every part of the painting page shares: the drawing's state, its size, the server's address, the
// grown-up's settings kept on this device, and the message line under the picture.

export const SIZE = 256;            // the label map's height in pixels, and its width when square
export const WIDE = 384;            // a wide drawing's width: 3:2, a landscape's shape

// A server that never answers must not leave the spinner forever (tests shorten the wait).
export const REQUEST_TIMEOUT_MS = window.MIAOBI_TEST_TIMEOUT_MS || 30000;

// A page served from another (whitelisted) origin can name the API with ?api=https://host
export const API = (new URLSearchParams(location.search).get("api") || "").replace(/\/$/, "");

export const state = {
  palette: null,        // from GET /labels: the one palette the model was trained with
  colors: null,         // Uint8Array, 3 per class id
  sky: 0,               // the class the eraser paints and an empty drawing is made of (set with the palette)
  labels: new Uint8Array(SIZE * SIZE),
  current: 0,           // selected class id
  tool: "brush",
  brush: 10,
  style: null,          // a look from GET /styles, or null for any
  undo: [],
  redo: [],
  limits: null,         // from GET /limits: the largest picture, the largest seed
  seed: 0,              // set once the limits are known
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

export const $ = (id) => document.getElementById(id);

export function randomSeed() {
  return Math.floor(Math.random() * (state.limits.max_seed + 1));
}

// What the server paints (GET /limits), asked for rather than restated here; the first seed with it.
export async function loadLimits() {
  const response = await fetch(API + "/limits");
  if (!response.ok) throw new Error("limits");
  state.limits = await response.json();
  state.seed = randomSeed();
}

// A grown-up's setting kept on this device; in a private window (no storage) it lasts as long as the page.
export function setting(name, fallback) {
  try { return localStorage.getItem(name) ?? fallback; } catch (error) { return fallback; }
}

export function keepSetting(name, value) {
  try { localStorage.setItem(name, value); } catch (error) { /* private mode: not kept */ }
}

export function showMessage(text, isError) {
  $("message").textContent = text;
  $("message").classList.toggle("error", Boolean(isError));
}

export function loadImage(url) {
  return new Promise((resolve, reject) => {
    const image = new Image();
    image.onload = () => resolve(image);
    image.onerror = reject;
    image.src = url;
  });
}
