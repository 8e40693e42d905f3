// The conversation with the server: painting the picture (retries, waiting when it is busy, "paint as I
// draw", a day), its looks, and a photo turned into a drawing.
import { $, API, loadImage, REQUEST_TIMEOUT_MS, showMessage, SIZE, state } from "./page.js";
import { say } from "./speech.js";
import { columns, drawingIn, drawingPNG, drawnClasses } from "./drawing.js";
import { replaceDrawing } from "./tools.js";


const LIVE_DELAY_MS = 900;   // "paint as I draw": wait this long after the last stroke

const DAY_SIZE = 512;        // "a day": 12 pictures, so no larger than this (~2 s on a 2-core server)

const PHOTO_LOOK = "photo";  // the look taken from a grown-up's photo (sent as style_photo, kept in memory only)

const PHOTO_SIDE = 512;      // a style photo is shrunk to this short side before it is sent

// The picture no longer shows the drawing (or the server is gone): fade it and never offer it for saving.
function markStale(stale) {
  $("frame").classList.toggle("stale", stale);
  $("download").hidden = $("keep").hidden = $("print").hidden = stale || $("result").hidden;
}

export function drawingChanged() {
  markStale(true);
  if (!state.busy && !state.retryTimer) showMessage($("live").checked ? "" : "Press Paint to see your new drawing!");
  clearTimeout(state.liveTimer);
  if ($("live").checked) state.liveTimer = setTimeout(paint, LIVE_DELAY_MS);
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
export function fetchPicture(request, size, format, signal) {
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
  return Math.min(state.limits.max_size, Math.max(256, Math.ceil(side / 64) * 64));
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

export async function paint() {
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

// The model's named looks as picture buttons; "any look" first. Nothing shows for a model without styles.
export async function loadStyles() {
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

export async function stylePhotoChosen(event) {
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
}

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
export function selectStyle(name) {
  const buttons = [...$("styles").children];
  const known = buttons.some((b) => b.dataset.style === name) && (name !== PHOTO_LOOK || state.stylePhoto);
  state.style = known ? name : null;  // a photo look kept in the gallery is gone once the page reloads
  for (const button of buttons) {
    const chosen = button.dataset.style === (state.style || "");
    button.classList.toggle("selected", chosen);
    button.setAttribute("aria-checked", String(chosen));
  }
}

export async function drawingFromPhoto(event) {
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
}
