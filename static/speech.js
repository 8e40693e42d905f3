// For children who cannot read yet: what they pick is said aloud by the browser's own speech, with a voice
// on this device only (never one that sends the words to a server). A grown-up turns it on or off (🔈/🔊);
// the choice is kept.
import { $, keepSetting, setting } from "./page.js";

export function speechOn() {
  return setting("miaobi-speech", "on") !== "off";
}

export function showSpeech(on) {
  $("speech-toggle").setAttribute("aria-pressed", String(on));
  $("speech-toggle").classList.toggle("selected", on);
  $("speech-toggle").textContent = on ? "🔊" : "🔈";
}

export function say(text) {
  if (!speechOn() || !window.speechSynthesis) return;
  const voices = speechSynthesis.getVoices().filter((v) => v.localService);
  if (!voices.length) return;  // only voices on the device: nothing is said rather than sent away
  const lang = document.documentElement.lang;
  const utterance = new SpeechSynthesisUtterance(text);
  utterance.voice = voices.find((v) => v.lang.startsWith(lang)) || voices[0];
  speechSynthesis.cancel();  // the newest pick, not a queue of old ones
  speechSynthesis.speak(utterance);
}

export function toggleSpeech() {
  const on = !speechOn();
  keepSetting("miaobi-speech", on ? "on" : "off");
  showSpeech(on);
  if (on) say("I will say the names");
}
