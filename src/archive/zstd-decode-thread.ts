import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { SafebakError, ioError } from '../errors.js';
import { DecodeRing } from './decode-ring.js';
import { SlotDigests } from './slot-digests.js';
import type { ChunkDigests } from './slot-digests.js';
import type { DecodeWorkerData, DecodeWorkerMessage, HashAhead } from './zstd-decode-worker.js';

/**
 * The ring between the decoding thread and the consumer: few slots, reused.
 * Fresh large buffers per chunk cost more in page faults than the decoding,
 * and the ring caps memory whatever the compression ratio (a 2 GiB run of
 * zeros is 2048 trips through one slot, not one 2 GiB buffer).
 */
const SLOT_BYTES = 1024 * 1024;
/**
 * 16 MiB: verify's main thread works in bursts (a manifest segment of
 * 10,000 records, a garbage collection) during which 4 slots filled in a few
 * milliseconds and the decoder stood idle. Small-tree verify 1.50–1.55 s
 * with 4 slots, 1.37–1.44 s with 16, 1.46–1.47 s with 32 (bench/README.md).
 */
const RING_SLOTS = 16;
const READ_BYTES = 1024 * 1024;
/**
 * Below this many compressed bytes, starting a worker (35 ms to its first
 * slot, ~60 ms per run in all) costs more than the overlap saves: verify of
 * archives of 2.3, 9 and 37 MB took 0.12, 0.14 and 0.20 s decoded in-thread
 * against 0.17, 0.19 and 0.24 s on the thread; at 71 MB they tied (0.25 s),
 * at 138 MB the thread won, and on the bench trees (0.5-1.4 GB) by 0.6-1.3 s.
 */
const THREAD_MIN_BYTES = 64 * 1024 * 1024;

type FinalMessage = DecodeWorkerMessage | { type: 'crash'; err: unknown } | { type: 'exit'; code: number };

/**
 * Whether a zstd file of `size` bytes is decoded on a worker thread.
 * SAFEBAK_DECODE_THREAD=0 never does (the in-thread decoder, for comparison
 * and as a way out), =1 always does, whatever the size (for tests).
 */
export function useDecodeThread(size: number): boolean {
  const mode = process.env['SAFEBAK_DECODE_THREAD'];
  if (mode === '0') return false;
  return mode === '1' || size >= THREAD_MIN_BYTES;
}

/**
 * Whether the decoding thread hashes files ahead for a consumer that wants
 * their digests: while the consumer is the slower side.
 * SAFEBAK_DECODE_HASH=none never does (for comparison), =all for every file
 * it can (for tests).
 */
function hashAheadMode(wanted: boolean): HashAhead {
  if (!wanted) return 'none';
  const mode = process.env['SAFEBAK_DECODE_HASH'];
  return mode === 'none' || mode === 'all' ? mode : 'auto';
}

let workerFile: URL | null | undefined;

/**
 * The compiled worker script, or null when there is none. Under the test
 * runner this module is TypeScript source, which a worker cannot load: the
 * built copy in dist/ stands in for it.
 */
export function decodeWorkerFile(): URL | null {
  if (workerFile !== undefined) return workerFile;
  const candidates = [new URL('./zstd-decode-worker.js', import.meta.url)];
  if (import.meta.url.endsWith('.ts')) candidates.push(new URL('../../dist/archive/zstd-decode-worker.js', import.meta.url));
  workerFile = candidates.find((u) => fs.existsSync(fileURLToPath(u))) ?? null;
  return workerFile;
}

/** The decoded stream in chunks, and the digests of files in the chunk last handed out that the decoding thread hashed. */
export interface DecodedInWorker {
  chunks: AsyncGenerator<Buffer>;
  digests: ChunkDigests;
}

/**
 * Decodes the zstd stream in `fd` (a regular file, read from byte 0 with
 * positioned reads) on a worker thread. Each chunk is valid until the next
 * is asked for: it then goes back to the worker to be filled again. With
 * `hashAhead`, the stream is taken for tar and the worker hashes files ahead
 * of a consumer that is the slower side (`digests`). Errors are those of the
 * in-thread decoder: SAFEBAK_ARCHIVE_CORRUPT for the compression layer,
 * SAFEBAK_IO for the read. The descriptor stays the caller's; it may be
 * closed once the chunks have finished.
 */
export function decompressZstdInWorker(fd: number, label: string, workerUrl: URL, hashAhead = false): DecodedInWorker {
  const ring = DecodeRing.create(RING_SLOTS, SLOT_BYTES);
  const digests = SlotDigests.create(RING_SLOTS, SLOT_BYTES);
  const data: DecodeWorkerData = { fd, ring: ring.shape, readBytes: READ_BYTES, digests: digests.shape, hashAhead: hashAheadMode(hashAhead) };
  return { chunks: decodeChunks(ring, digests, data, label, workerUrl), digests };
}

async function* decodeChunks(ring: DecodeRing, digests: SlotDigests, data: DecodeWorkerData, label: string, workerUrl: URL): AsyncGenerator<Buffer> {
  const worker = new Worker(workerUrl, { workerData: data });
  // The worker's one message is its last; it follows every slot it published.
  const final: { message: FinalMessage | null } = { message: null };
  let lastArrived!: () => void;
  const arrived = new Promise<void>((resolve) => (lastArrived = resolve));
  const settle = (m: FinalMessage): void => {
    final.message ??= m;
    lastArrived();
  };
  worker.on('message', settle);
  worker.on('error', (err) => settle({ type: 'crash', err }));
  worker.on('exit', (code) => settle({ type: 'exit', code }));
  try {
    for (;;) {
      const chunk = ring.peek();
      if (chunk !== null) {
        digests.select(ring.peekedSlot);
        yield chunk;
        ring.release();
        continue;
      }
      // Messages arrive only between awaits: if the last one is here, the peek above came after it and saw every slot.
      const m = final.message;
      if (m === null) {
        await Promise.race([ring.published(), arrived]);
        continue;
      }
      switch (m.type) {
        case 'end':
          return;
        case 'error':
          if (m.kind === 'corrupt') throw new SafebakError('SAFEBAK_ARCHIVE_CORRUPT', `the zstd compression layer is damaged: ${m.message}`);
          throw ioError(label, Object.assign(new Error(m.message), { code: m.code, errno: m.errno, syscall: m.syscall }), 'cannot read the archive');
        case 'crash':
          throw new SafebakError('SAFEBAK_IO', `the zstd decoding thread failed: ${(m.err as Error)?.message ?? String(m.err)}`, { path: label, cause: m.err });
        case 'exit':
          throw new SafebakError('SAFEBAK_IO', `the zstd decoding thread exited early (code ${m.code})`, { path: label });
      }
    }
  } finally {
    ring.close();
    // The worker may be mid-read on the caller's descriptor: it must be gone before that closes.
    await worker.terminate();
  }
}
