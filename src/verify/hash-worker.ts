/**
 * Worker-thread entry: SHA-256 of every entry's data for the verifier, which
 * meanwhile parses the next chunk on the main thread. The data is never
 * copied: the ops of the hash channel name bytes of the decode ring, which
 * this thread follows (a slot is reused only after it released it too).
 */
import { createHash, hash } from 'node:crypto';
import type { Hash } from 'node:crypto';
import { workerData } from 'node:worker_threads';
import { DecodeRing } from '../archive/decode-ring.js';
import type { DecodeRingShape } from '../archive/decode-ring.js';
import { HashChannel, OP_CHUNK, OP_DATA, OP_END } from './hash-channel.js';
import type { HashChannelShape } from './hash-channel.js';

export interface HashWorkerData {
  ring: DecodeRingShape;
  channel: HashChannelShape;
}

const { ring: ringShape, channel: channelShape } = workerData as HashWorkerData;
const ring = DecodeRing.attach(ringShape);
const channel = HashChannel.attach(channelShape);
const data = ringShape.data;

function run(): void {
  let current: Hash | null = null;
  for (;;) {
    const n = channel.pending();
    if (n === 0) {
      if (channel.closed()) return;
      channel.waitForOps();
      continue;
    }
    let i = 0;
    while (i < n) {
      const [kind, offset, length] = channel.op(i);
      if (kind === OP_DATA) {
        const bytes = Buffer.from(data, offset, length);
        // An entry whose data came in one piece (most small files): one call, no Hash object.
        if (current === null && i + 1 < n && channel.op(i + 1)[0] === OP_END) {
          if (!channel.digest(hash('sha256', bytes, 'buffer') as unknown as Buffer)) return;
          i += 2;
          continue;
        }
        (current ??= createHash('sha256')).update(bytes);
      } else if (kind === OP_END) {
        if (!channel.digest((current ?? createHash('sha256')).digest())) return;
        current = null;
      } else if (kind === OP_CHUNK) {
        ring.releaseFollowed();
      }
      i++;
    }
    channel.consume(n);
  }
}

try {
  run();
} catch (err) {
  channel.fail();
  throw err;
}
