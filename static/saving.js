// Keeping what a child made: "Save picture" (drawing | picture), "Open" of such a file, the gallery in this
// browser (gallery.js stores it), its slideshow, and printing.
import { $, loadImage, REQUEST_TIMEOUT_MS, showMessage, SIZE, state } from "./page.js";
import { Gallery } from "./gallery.js";
import { drawingIn, drawSun, shapeOf } from "./drawing.js";
import { replaceDrawing } from "./tools.js";
import { fetchPicture, selectStyle } from "./server.js";

const SHEET_GAP = 16;        // white pixels between the drawing and the picture in a saved sheet

// "Save picture": the drawing and its picture side by side, the picture painted again as large as the server paints (the same
// seed and look give the same picture, larger), under a name that never overwrites an earlier save.
export async function savePicture(event) {
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
    const response = await fetchPicture(shown, state.limits.max_size, "png", AbortSignal.timeout(REQUEST_TIMEOUT_MS));
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

// "Open": a sheet "Save picture" made (drawing | picture) gives its drawing back to the canvas, exactly, as
// one undo step, with the seed its name carries. Each drawing pixel is a square block of the sheet's left
// half: its centre holds the pixel's palette colour whatever the block's size.
export async function openSaved(file) {
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
export async function keepPicture() {
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

export async function refreshGallery() {
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

export async function startSlideshow() {
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

export function stopSlideshow() {
  clearInterval(slideTimer);
}

// "Print": the sheet gets the picture, its drawing and date; a grown-up may add a name; then the browser's
// print dialog. The same for a picture in the gallery.
export async function printSheet(picture, drawing, date) {
  for (const image of [$("print-picture"), $("print-drawing")]) {
    if (image.src.startsWith("blob:")) URL.revokeObjectURL(image.src);  // the last gallery print's copies
  }
  $("print-picture").src = picture;
  $("print-drawing").src = drawing;
  $("print-date").textContent = new Date(date).toLocaleDateString(undefined, { dateStyle: "long" });
  $("print-name-input").value = "";
  $("print-ask").showModal();
}

// The print sheet's name asked for: the browser's print dialog, once the sheet's pictures are ready.
export async function printAsked() {
  if ($("print-ask").returnValue !== "print") return;
  $("print-name").textContent = $("print-name-input").value.trim();
  await Promise.all([$("print-picture").decode(), $("print-drawing").decode()]).catch(() => {});
  window.print();
}

// "Clear all" asks a sum of a grown-up, not a tap of a child.
export function askGrownUp() {
  const a = 12 + Math.floor(Math.random() * 8), b = 3 + Math.floor(Math.random() * 6);
  $("grown-up-question").textContent = `${a} × ${b} =`;
  $("grown-up").dataset.answer = String(a * b);
  $("grown-up-answer").value = "";
  $("grown-up").showModal();
}

export async function grownUpAnswered() {
  if ($("grown-up").returnValue !== "confirm") return;
  if ($("grown-up-answer").value.trim() !== $("grown-up").dataset.answer) {
    showMessage("The pictures were kept: that was not the answer.");
    return;
  }
  await Gallery.clear();
  await refreshGallery();
  showMessage("The gallery is empty now.");
}
