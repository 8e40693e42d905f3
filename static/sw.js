// The page's service worker: the page, its scripts, its palette and looks are kept in the browser, so the
// child's gallery opens without a server (at school, on the bus). Online, every request goes to the server
// first and refreshes the copy, so a new version of the page is seen at once; only when the server cannot
// be reached is the kept copy used. Pictures (POST /predict) are never kept.
"use strict";

const CACHE = "miaobi-page";
const MODULES = ["app", "page", "speech", "drawing", "tools", "server", "saving", "gallery"];
const PAGE = ["/", ...MODULES.map((name) => `/static/${name}.js`), "/static/style.css", "/labels", "/limits", "/styles"];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(PAGE)).then(() => self.skipWaiting()));
});

// No clients.claim(): a page is served by the worker from its next load on, never half-way through the load
// that installed it (its palette and looks would come from two places).
self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== location.origin || !PAGE.includes(url.pathname)) return;
  event.respondWith(fetch(event.request).then((response) => {
    if (response.ok) {
      const copy = response.clone();
      caches.open(CACHE).then((cache) => cache.put(event.request, copy));
    }
    return response;
  }).catch(() => caches.match(event.request, { ignoreSearch: true })));
});
