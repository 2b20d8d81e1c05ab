/**
 * Worker-thread entry: reads a zstd archive from a descriptor the main thread
 * opened and decodes it into the slots of a shared ring (see decode-ring.ts).
 * The main thread parses and hashes one slot while this thread decodes the
 * next: on two cores the two halves of verification run side by side.
 *
 * The one message out is the last: `end`, or `error` (kind `corrupt` for
 * the compression layer, `io` for the read), sent after every slot it
 * follows has been published.
 */
import fs from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import zstdBinding from 'zstd-napi/binding.js';
import { DecodeRing } from './decode-ring.js';
import { decodeStep } from './zstd-decode-step.js';
import type { DecodeStep } from './zstd-decode-step.js';
import type { DecodeRingShape } from './decode-ring.js';

export interface DecodeWorkerData {
  fd: number;
  ring: DecodeRingShape;
  readBytes: number;
}

export type DecodeWorkerMessage =
  | { type: 'end' }
  | { type: 'error'; kind: 'corrupt' | 'io'; message: string; code?: string | undefined; errno?: number | undefined; syscall?: string | undefined };

const { fd, ring: shape, readBytes } = workerData as DecodeWorkerData;
const ring = DecodeRing.attach(shape);

function finish(m: DecodeWorkerMessage): void {
  parentPort!.postMessage(m);
}

function run(): void {
  const dctx = new zstdBinding.DCtx();
  const input = Buffer.allocUnsafe(readBytes);
  let position = 0;
  let out: Buffer | null = null;
  let fill = 0;
  let inFrame = false;
  for (;;) {
    let n: number;
    try {
      // Positioned reads: the descriptor's offset belongs to the main thread.
      n = fs.readSync(fd, input, 0, input.length, position);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      return finish({ type: 'error', kind: 'io', message: e.message, code: e.code, errno: e.errno, syscall: e.syscall });
    }
    if (n === 0) break;
    position += n;
    let src: Buffer = input.subarray(0, n);
    for (;;) {
      if (out === null) {
        out = ring.claim();
        if (out === null) return; // the reader has gone away
        fill = 0;
      }
      let step: DecodeStep;
      try {
        step = decodeStep(dctx, out.subarray(fill), src);
      } catch (err) {
        if (fill > 0) ring.publish(fill);
        return finish({ type: 'error', kind: 'corrupt', message: (err as Error).message });
      }
      fill += step.produced;
      src = step.rest;
      if (fill === out.length) {
        ring.publish(fill);
        out = null;
      }
      if (step.drained) {
        inFrame = step.inFrame;
        break;
      }
    }
  }
  if (out !== null && fill > 0) ring.publish(fill);
  finish(inFrame ? { type: 'error', kind: 'corrupt', message: 'the stream ends inside a frame' } : { type: 'end' });
}

run();
