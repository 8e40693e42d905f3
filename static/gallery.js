// The child's gallery, kept in this browser (IndexedDB) and never sent anywhere: each kept picture with its
// drawing, seed, look and date. Storage only; the page (saving.js) shows it.
export const Gallery = (() => {
  const DB = "miaobi", STORE = "pictures";
  // At most this many pictures; when full (or when the browser's quota runs out) the oldest go first.
  const LIMIT = window.MIAOBI_TEST_GALLERY_LIMIT || 200;

  function open() {
    return new Promise((resolve, reject) => {
      const request = indexedDB.open(DB, 1);
      request.onupgradeneeded = () => request.result.createObjectStore(STORE, { keyPath: "id", autoIncrement: true });
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  }

  // One transaction on the store; resolves with what ``work`` leaves in ``result``, once it is committed.
  async function transaction(mode, work) {
    const db = await open();
    try {
      return await new Promise((resolve, reject) => {
        const tx = db.transaction(STORE, mode);
        const out = { result: undefined };
        work(tx.objectStore(STORE), out);
        tx.oncomplete = () => resolve(out.result);
        tx.onerror = tx.onabort = () => reject(tx.error);
      });
    } finally {
      db.close();
    }
  }

  // Every kept picture, oldest first.
  function list() {
    return transaction("readonly", (store, out) => {
      const request = store.getAll();
      request.onsuccess = () => { out.result = request.result; };
    });
  }

  function remove(id) {
    return transaction("readwrite", (store) => store.delete(id));
  }

  function clear() {
    return transaction("readwrite", (store) => store.clear());
  }

  // Keep ``item`` ({drawing, picture: Blobs, seed, style, date}); returns how many old pictures made room.
  async function keep(item) {
    let dropped = 0;
    for (;;) {
      const kept = await list();
      if (kept.length >= LIMIT) {
        await remove(kept[0].id);
        dropped += 1;
        continue;
      }
      try {
        await transaction("readwrite", (store) => store.add(item));
        return dropped;
      } catch (error) {
        if (error && error.name === "QuotaExceededError" && kept.length) {
          await remove(kept[0].id);  // the browser's storage is full: the oldest picture makes room
          dropped += 1;
          continue;
        }
        throw error;
      }
    }
  }

  return { keep, list, remove, clear, LIMIT };
})();
