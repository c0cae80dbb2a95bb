// The body of every pool thread, as plain JavaScript source so that one string starts a Node
// worker_threads Worker (eval) and a browser Web Worker (Blob URL) alike, and needs no loader or
// bundler entry. A thread instantiates the kernels on the shared memory, reports 'ready', then
// waits for a new generation in the control block's dispatch word (runtime.ts describes it):
// after an op it took part in it polls the word for up to SPIN_MS (a dispatch then costs a load,
// not a futex wake-up: consecutive ops of a step follow each other within microseconds), then
// sleeps in Atomics.wait; after an op the caller finished alone it sleeps at once. On a new generation it joins the op with a compare-exchange on the same word
// unless the caller has already closed it (the caller finished every tile alone), runs its share
// (`run(op, ctl, tid, nt)`), and counts itself done.
// Offsets (in i32 words) mirror runtime.ts: DISPATCH 0, DONE 1, OP 2, NT 3, ERROR 4, message at 80.
/** How long a worker polls for the next op before sleeping (ms). */
export const SPIN_MS = 0.03;

export const WORKER_SOURCE = `
'use strict';
const isNode = typeof self === 'undefined';
const port = isNode ? process.getBuiltinModule('node:worker_threads').parentPort : self;
const CLOSED = 0x80, SPIN_MS = ${SPIN_MS};
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
  let seen = Atomics.load(c, 0) >>> 8, spin = false;
  port.postMessage({ ready: true });
  for (;;) {
    let w = Atomics.load(c, 0);
    if (w >>> 8 === seen) {
      // Poll only after an op this thread took part in: ops are coming back to back. After one
      // the caller finished alone, sleep at once — polling then only takes the core from the
      // caller when the two share it (a loaded machine), and the wake-up is paid anyway.
      const t0 = performance.now(), limit = spin ? SPIN_MS : 0;
      for (let i = 1; (w = Atomics.load(c, 0)) >>> 8 === seen; i++) {
        if ((i & 63) === 0 && performance.now() - t0 >= limit) Atomics.wait(c, 0, w);
      }
    }
    // Join the newest op unless it is closed (every tile taken: nothing left for this thread).
    for (;;) {
      if (w & CLOSED) break;
      const r = Atomics.compareExchange(c, 0, w, w + 1);
      if (r === w) break;
      w = r;
    }
    seen = w >>> 8;
    spin = !(w & CLOSED);
    if (!spin) continue;
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
    Atomics.add(c, 1, 1);
    Atomics.notify(c, 1);
  }
  if (isNode) port.close(); else self.close();
}
if (isNode) port.once('message', onMessage); else self.onmessage = (e) => { self.onmessage = null; onMessage(e.data); };
`;
