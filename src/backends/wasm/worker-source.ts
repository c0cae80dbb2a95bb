// The body of every pool thread, as plain JavaScript source so that one string starts a Node
// worker_threads Worker (eval) and a browser Web Worker (Blob URL) alike, and needs no loader or
// bundler entry. A thread instantiates the kernels on the shared memory, reports 'ready', then
// sleeps in Atomics.wait on the control block's generation word; each new generation it runs its
// share of the op (`run(op, ctl, tid, nt)`), and the last thread to finish wakes the caller.
// Offsets (in i32 words) mirror pool.ts: GEN 0, PENDING 1, OP 2, NT 3, ERROR 4, message at 80.
export const WORKER_SOURCE = `
'use strict';
const isNode = typeof self === 'undefined';
const port = isNode ? process.getBuiltinModule('node:worker_threads').parentPort : self;
function onMessage(m) {
  const { module, memory, ctl, tid } = m;
  let ex;
  try {
    ex = new WebAssembly.Instance(module, { env: { memory, abort() { throw new Error('kernels.wasm: abort'); } } }).exports;
  } catch (e) {
    port.postMessage({ error: String(e && e.message || e) });
    return;
  }
  const c = new Int32Array(memory.buffer, ctl, 128);
  let gen = Atomics.load(c, 0);
  port.postMessage({ ready: true });
  for (;;) {
    Atomics.wait(c, 0, gen);
    const g = Atomics.load(c, 0);
    if (g === gen) continue;
    gen = g;
    const op = Atomics.load(c, 2);
    if (op < 0) break;
    try {
      ex.run(op, ctl, tid, Atomics.load(c, 3));
    } catch (e) {
      if (Atomics.compareExchange(c, 4, 0, tid + 1) === 0) {
        const s = ('thread ' + tid + ': ' + (e && e.message || e)).slice(0, 180);
        const b = new Uint8Array(memory.buffer, ctl + 320, 192);
        for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i) & 127;
        b[s.length] = 0;
      }
    }
    if (Atomics.sub(c, 1, 1) === 1) Atomics.notify(c, 1);
  }
  if (isNode) port.close(); else self.close();
}
if (isNode) port.once('message', onMessage); else self.onmessage = (e) => { self.onmessage = null; onMessage(e.data); };
`;
