// Miaobi painting page: what each button, key and stroke does, and the page's start. The parts are ES modules
// (no build step): page.js (shared state), speech.js, drawing.js, tools.js (tools and undo), server.js (the
// conversation with the server) and saving.js (save, open, gallery, print).
import { $, API, loadLimits, randomSeed, showMessage, state } from "./page.js";
import { Gallery } from "./gallery.js";
import { say, showSpeech, speechOn, toggleSpeech } from "./speech.js";
import { canvas, drawingPNG, EXAMPLES, render, showSymbols, symbolsWereOn } from "./drawing.js";
import {
  buildExamples, chooseBrush, clearDrawing, continueStroke, endStroke, loadPalette, restore, selectTool, startStroke,
  toggleWide, updateHistoryButtons,
} from "./tools.js";
import { drawingFromPhoto, loadStyles, paint, stylePhotoChosen } from "./server.js";
import {
  askGrownUp, grownUpAnswered, keepPicture, openSaved, printAsked, printSheet, refreshGallery, savePicture,
  startSlideshow, stopSlideshow,
} from "./saving.js";

// On a phone the picture opens over the drawing and closes back to it (the buttons show only there).
function showPicture(open) {
  document.body.classList.toggle("picture-open", open);
  $("show-picture").setAttribute("aria-expanded", String(open));
  (open ? $("hide-picture") : $("show-picture")).focus();
}

function wire() {
  // Drawing
  canvas.addEventListener("pointerdown", startStroke);
  canvas.addEventListener("pointermove", continueStroke);
  canvas.addEventListener("pointerup", endStroke);
  canvas.addEventListener("pointercancel", endStroke);
  for (const b of document.querySelectorAll(".mode")) {
    b.addEventListener("click", () => {
      selectTool(b.dataset.tool);
      say(b.getAttribute("aria-label"));
    });
  }
  for (const b of document.querySelectorAll(".size")) b.addEventListener("click", () => chooseBrush(b));
  $("undo").addEventListener("click", () => restore(state.undo, state.redo));
  $("redo").addEventListener("click", () => restore(state.redo, state.undo));
  document.addEventListener("keydown", (event) => {
    if (!(event.ctrlKey || event.metaKey) || event.key.toLowerCase() !== "z") return;
    event.preventDefault();
    if (event.shiftKey) restore(state.redo, state.undo); else restore(state.undo, state.redo);
  });
  $("clear").addEventListener("click", clearDrawing);
  $("wide").addEventListener("click", toggleWide);
  $("symbols-toggle").addEventListener("click", () => showSymbols($("symbols").hidden));
  $("speech-toggle").addEventListener("click", toggleSpeech);
  // "A photo": a photo (of the garden, say) becomes a drawing in the palette's colours, one undo step like an
  // example scene, for a child to change: the lawn into a lake, a mountain behind it.
  $("from-photo").addEventListener("click", () => $("drawing-photo-file").click());
  $("drawing-photo-file").addEventListener("change", drawingFromPhoto);

  // Painting
  $("paint").addEventListener("click", paint);
  $("dice").addEventListener("click", () => {
    state.seed = randomSeed();
    paint();
  });
  $("day").addEventListener("click", () => {
    say("A day in my landscape");
    state.wantDay = true;
    paint();
  });
  $("live").addEventListener("change", () => clearTimeout(state.liveTimer));
  $("style-photo-file").addEventListener("change", stylePhotoChosen);
  $("show-picture").addEventListener("click", () => showPicture(true));
  $("hide-picture").addEventListener("click", () => showPicture(false));

  // Saving, opening, the gallery and printing
  $("download").addEventListener("click", savePicture);
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
  $("keep").addEventListener("click", keepPicture);
  $("slideshow-start").addEventListener("click", startSlideshow);
  $("slideshow-stop").addEventListener("click", () => $("slideshow").close());
  $("slideshow").addEventListener("close", stopSlideshow);
  $("clear-gallery").addEventListener("click", askGrownUp);
  $("grown-up").addEventListener("close", grownUpAnswered);
  $("print").addEventListener("click", () => printSheet($("result").src, state.shown.image, Date.now()));
  $("print-ask").addEventListener("close", printAsked);
}

async function start() {
  // The browser tests (and a curious grown-up's console) read the drawing and the gallery through this one name.
  window.miaobi = { state, drawingPNG, Gallery };
  wire();
  // The page served by Miaobi keeps a copy of itself, so the gallery opens offline (static/sw.js); a page
  // on another origin has its own.
  if ("serviceWorker" in navigator && location.pathname === "/" && !API) {
    navigator.serviceWorker.register("/sw.js").catch(() => { /* no offline copy: the page works the same */ });
  }
  refreshGallery();  // the kept pictures show even when the server cannot be reached
  try {
    await Promise.all([loadLimits(), loadPalette()]);
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
