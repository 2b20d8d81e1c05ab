/**
 * Worker-thread entry: reads a zstd archive from a descriptor the main thread
 * opened and decodes it into the slots of a shared ring (see decode-ring.ts).
 * The main thread parses and hashes one slot while this thread decodes the
 * next: on two cores the two halves of verification run side by side.
 *
 * Where the consumer is the slower side, this thread also hashes files ahead
 * of it (tar-walk.ts, slot-digests.ts): the consumer parses and hashes what
 * it reads, and with the hashing of small files shared, the two threads
 * finish together instead of this one waiting for free slots.
 *
 * The one message out is the last: `end`, or `error` (kind `corrupt` for
 * the compression layer, `io` for the read), sent after every slot it
 * follows has been published.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import zstdBinding from 'zstd-napi/binding.js';
import { DecodeRing } from './decode-ring.js';
import { SlotDigests } from './slot-digests.js';
import { TarWalk } from './tar-walk.js';
import { decodeStep } from './zstd-decode-step.js';
import type { DecodeStep } from './zstd-decode-step.js';
import type { DecodeRingShape } from './decode-ring.js';
import type { SlotDigestsShape } from './slot-digests.js';

/** Hash files ahead of the consumer: never, always (tests), or while it is the slower side. */
export type HashAhead = 'none' | 'all' | 'auto';

export interface DecodeWorkerData {
  fd: number;
  ring: DecodeRingShape;
  readBytes: number;
  digests: SlotDigestsShape;
  hashAhead: HashAhead;
}

export type DecodeWorkerMessage =
  | { type: 'end' }
  | { type: 'error'; kind: 'corrupt' | 'io'; message: string; code?: string | undefined; errno?: number | undefined; syscall?: string | undefined };

const { fd, ring: ringShape, readBytes, digests: digestsShape, hashAhead } = workerData as DecodeWorkerData;
const ring = DecodeRing.attach(ringShape);
const digests = SlotDigests.attach(digestsShape);
const walk = new TarWalk();
/** Stream offset of the claimed slot's first byte. */
let streamAt = 0;

const sha256 = (bytes: Buffer): Buffer =>
  typeof crypto.hash === 'function' ? crypto.hash('sha256', bytes, 'buffer') : crypto.createHash('sha256').update(bytes).digest();

/** Publishes the claimed slot's first `fill` bytes, with the digests of the files it hashed in them. */
function publish(out: Buffer, fill: number): void {
  const slot = ring.claimedSlot;
  digests.clear(slot);
  if (hashAhead !== 'none' && !walk.stopped) {
    const piece = out.subarray(0, fill);
    const start = streamAt;
    // The walk sees every slot, to keep its place; files are hashed only while the consumer is the slower side.
    walk.scan(piece, start, (at, length) => {
      if (hashAhead === 'auto' && !ring.consumerBehind) return;
      digests.add(slot, at, length, sha256(piece.subarray(at - start, at - start + length)));
    });
  }
  ring.publish(fill);
  streamAt += fill;
}

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
        if (fill > 0) publish(out, fill);
        return finish({ type: 'error', kind: 'corrupt', message: (err as Error).message });
      }
      fill += step.produced;
      src = step.rest;
      if (fill === out.length) {
        publish(out, fill);
        out = null;
      }
      if (step.drained) {
        inFrame = step.inFrame;
        break;
      }
    }
  }
  if (out !== null && fill > 0) publish(out, fill);
  finish(inFrame ? { type: 'error', kind: 'corrupt', message: 'the stream ends inside a frame' } : { type: 'end' });
}

run();
