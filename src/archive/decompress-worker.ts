import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { SafebakError } from '../errors.js';

/**
 * The worker's code, run with `eval` (a `.js` file beside this module would
 * not exist when the library runs from its TypeScript sources). It pulls
 * compressed chunks ('need'), steps zstd's streaming decoder, and transfers
 * each output buffer back; it stops stepping while LIMIT bytes wait
 * unconsumed on the main thread, so memory stays bounded even for a chunk
 * that expands a thousandfold. A stream that ends inside a frame is damage.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { DCtx } = require(workerData.bindingPath);
const OUT = 1024 * 1024;
const LIMIT = 8 * 1024 * 1024;
const dctx = new DCtx();
let src = null;
let inFrame = false;
let outstanding = 0;
let asked = false;
let ended = false;
let failed = false;
function pump() {
  while (!failed && outstanding < LIMIT) {
    if (src === null) {
      if (ended) {
        if (inFrame) fail('the stream ends inside a frame');
        else parentPort.postMessage({ t: 'end' });
        return;
      }
      if (!asked) { asked = true; parentPort.postMessage({ t: 'need' }); }
      return;
    }
    const dst = Buffer.from(new ArrayBuffer(OUT));
    let r;
    try { r = dctx.decompressStream(dst, src); } catch (e) { fail(e.message); return; }
    const [ret, produced, consumed] = r;
    src = src.subarray(consumed);
    if (produced > 0) {
      outstanding += produced;
      parentPort.postMessage({ t: 'data', b: dst.buffer, n: produced }, [dst.buffer]);
    }
    if (src.length === 0 && (produced < OUT || ret === 0)) { inFrame = ret !== 0; src = null; }
  }
}
function fail(message) { failed = true; parentPort.postMessage({ t: 'error', message }); }
parentPort.on('message', (m) => {
  if (m.t === 'chunk') { asked = false; src = Buffer.from(m.b); }
  else if (m.t === 'end') { asked = false; ended = true; }
  else if (m.t === 'consumed') outstanding -= m.n;
  pump();
});
pump();
`;

const bindingPath = createRequire(import.meta.url).resolve('zstd-napi/binding.js');

/**
 * Decompresses a zstd stream on a worker thread, so that on two cores the
 * main thread hashes and parses one part of the archive while the next is
 * decompressed. Errors of the compression layer reject as
 * SAFEBAK_ARCHIVE_CORRUPT; errors of `chunks` itself pass through unchanged.
 */
export async function* decompressZstdInWorker(chunks: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { bindingPath } });
  const source = chunks[Symbol.asyncIterator]();
  const ready: Buffer[] = [];
  let done = false;
  let failure: unknown = null;
  let wake: (() => void) | null = null;
  const notify = (): void => {
    wake?.();
    wake = null;
  };
  const feed = async (): Promise<void> => {
    try {
      const next = await source.next();
      if (next.done) worker.postMessage({ t: 'end' });
      else {
        // A copy the worker can own: the source's buffers may share a pool.
        const copy = new Uint8Array(next.value.length);
        copy.set(next.value);
        worker.postMessage({ t: 'chunk', b: copy }, [copy.buffer]);
      }
    } catch (err) {
      failure ??= err;
      notify();
    }
  };
  worker.on('message', (m: { t: string; b?: ArrayBuffer; n?: number; message?: string }) => {
    if (m.t === 'need') void feed();
    else if (m.t === 'data') ready.push(Buffer.from(m.b!, 0, m.n!));
    else if (m.t === 'end') done = true;
    else if (m.t === 'error') failure ??= new SafebakError('SAFEBAK_ARCHIVE_CORRUPT', `the zstd compression layer is damaged: ${m.message}`);
    notify();
  });
  worker.on('error', (err) => {
    failure ??= err;
    notify();
  });
  try {
    for (;;) {
      const chunk = ready.shift();
      if (chunk) {
        worker.postMessage({ t: 'consumed', n: chunk.length });
        yield chunk;
        continue;
      }
      if (failure) throw failure;
      if (done) return;
      await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    await worker.terminate();
    await source.return?.(undefined);
  }
}
