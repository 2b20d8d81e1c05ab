import { closeSync, readSync } from 'node:fs';
import type { Hash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RawOutput } from '../archive/output.js';
import { SafebakError } from '../errors.js';
import { allocAligned, DIRECT_BLOCK, directLength, errnoCode, getPipeSize, growPipe, nativeConstants, pipe2, preadDirect, setPipeSize, splice, tee } from '../native/native.js';

/** The private pipe's size: 1 MiB is the most an unprivileged process may ask for (pipe-max-size). */
const PIPE_BYTES = 1024 * 1024;

/** Where pumped bytes go: the raw output, with the tar writer's accounting. */
export interface RawEntryTarget {
  /** Flushes the tar writer and waits until the output stream is drained; then the descriptor is the caller's. */
  raw(): Promise<RawOutput>;
  /** Accounts bytes written past the stream. */
  rawWritten(n: number): void;
}

export interface PumpResult {
  /** Bytes of the source that went out (at most the size asked for). */
  sent: number;
  /** The source ended before `size` bytes. */
  short: boolean;
  /** The source had more than `size` bytes. */
  grew: boolean;
  /** Stopped early because `stop()` said so. */
  stopped: boolean;
}

export interface PumpOptions {
  signal?: AbortSignal | undefined;
  /** Polled between chunks: true stops the transfer (a broken lease). */
  stop?: (() => boolean) | undefined;
  /** Whether a source that reads exactly `size` bytes is probed for growth (a snapshot image cannot grow). */
  probeGrowth?: boolean;
  label?: string | undefined;
  /**
   * The source is O_DIRECT (default): requests are rounded up to whole blocks
   * and a short unaligned count is the end. False for a sealed memfd, whose
   * page-cache pages nobody can change: any positive count goes on.
   */
  direct?: boolean;
}

/**
 * Moves `size` bytes from an O_DIRECT descriptor (or a sealed memfd) to the
 * raw output without a copy through user space, hashing exactly the pages
 * that went out (DESIGN §5): the source is spliced into a private pipe —
 * O_DIRECT makes the kernel copy into fresh pages no page cache owns — those
 * pages are tee'd into the output pipe (or into a second private pipe that
 * is spliced into the output file), and then read out of the private pipe to
 * hash. A partial tee is followed by a read of just that many bytes, since
 * tee always starts at the head of its input.
 */
export async function pumpDirect(srcFd: number, size: number, target: RawEntryTarget, hash: Hash, options: PumpOptions = {}): Promise<PumpResult> {
  const { SPLICE_F_NONBLOCK } = nativeConstants();
  const direct = options.direct !== false;
  // Two private pipes: the disk fills one while the other is sent and hashed.
  const pipes = [openPrivatePipe()];
  let second: PrivatePipe | null = null;
  const result: PumpResult = { sent: 0, short: false, grew: false, stopped: false };
  let next: Fill | null = null;
  try {
    pipes.push(openPrivatePipe(pipes[0]!.capacity));
    const buf = Buffer.allocUnsafe(pipes[0]!.capacity);
    const out = await target.raw();
    if (out.kind === 'file') second = openPrivatePipe(pipes[0]!.capacity);
    else growPipe(out.fd, PIPE_BYTES);
    const fill = (pipe: PrivatePipe, at: number): Fill => {
      const want = Math.min(pipe.capacity, direct ? directLength(size - at) : size - at);
      return { pipe, at, want, n: splice(srcFd, at, pipe.w, null, want, SPLICE_F_NONBLOCK, options.label) };
    };
    let pos = 0;
    let turn = 0;
    next = size > 0 ? fill(pipes[0]!, 0) : null;
    while (next) {
      const cur = next;
      next = null;
      const n = await cur.n;
      const remaining = size - cur.at;
      const keep = Math.min(n, remaining);
      if (n > remaining) result.grew = true;
      // A short count that is not block-aligned is the end of the file: O_DIRECT cannot read on from there.
      const end = n === 0 || (direct && n < cur.want && n % DIRECT_BLOCK !== 0);
      options.signal?.throwIfAborted();
      const stop = options.stop?.() === true;
      if (stop) result.stopped = true;
      turn ^= 1;
      if (!end && !stop && cur.at + keep < size) next = fill(pipes[turn]!, cur.at + keep);
      if (stop) break;
      let left = keep;
      while (left > 0) {
        const t = second ? await teeToFile(cur.pipe, second, out.fd, left) : await teeToPipe(cur.pipe, out.fd, left, options.signal);
        readExactly(cur.pipe.r, buf, t);
        hash.update(buf.subarray(0, t));
        target.rawWritten(t);
        left -= t;
      }
      // Bytes beyond the promised size (a grown file) never go out.
      if (n > keep) readExactly(cur.pipe.r, buf, n - keep);
      pos = cur.at + keep;
      result.sent = pos;
    }
    if (pos < size && !result.stopped) result.short = true;
    if (!result.short && !result.stopped && !result.grew && direct && options.probeGrowth !== false && size % DIRECT_BLOCK === 0) {
      const probe = allocAligned(DIRECT_BLOCK);
      if ((await preadDirect(srcFd, probe, DIRECT_BLOCK, size, options.label)) > 0) result.grew = true;
    }
    return result;
  } finally {
    // A read still in flight writes into a pipe: let it land before the pipe closes.
    await next?.n.catch(() => 0);
    for (const p of pipes) p.close();
    second?.close();
  }
}

interface Fill {
  pipe: PrivatePipe;
  at: number;
  want: number;
  n: Promise<number>;
}

interface PrivatePipe {
  r: number;
  w: number;
  capacity: number;
  close(): void;
}

// Non-blocking on both ends: nothing here may park a libuv pool thread on a pipe.
function openPrivatePipe(capacity = PIPE_BYTES): PrivatePipe {
  const [r, w] = pipe2(true);
  let size: number;
  try {
    size = setPipeSize(w, capacity);
  } catch {
    size = getPipeSize(w);
  }
  return {
    r,
    w,
    capacity: size,
    close() {
      closeSync(r);
      closeSync(w);
    },
  };
}

function readExactly(fd: number, buf: Buffer, n: number): void {
  let got = 0;
  while (got < n) {
    const r = readSync(fd, buf, got, n - got, null);
    if (r === 0) throw new SafebakError('SAFEBAK_NATIVE', 'private pipe ended early');
    got += r;
  }
}

/** tee into the output pipe, waiting out a full pipe (EAGAIN) without holding a pool thread. */
async function teeToPipe(p1: PrivatePipe, outFd: number, len: number, signal?: AbortSignal): Promise<number> {
  const { SPLICE_F_NONBLOCK } = nativeConstants();
  for (let spins = 0; ; spins++) {
    try {
      const t = await tee(p1.r, outFd, len, SPLICE_F_NONBLOCK);
      if (t === 0) throw new SafebakError('SAFEBAK_NATIVE', 'tee moved nothing from a non-empty pipe');
      return t;
    } catch (err) {
      if (errnoCode(err) !== 'EAGAIN') throw err;
    }
    signal?.throwIfAborted();
    // The reader is behind: spin a few turns for a fast one, then poll gently.
    if (spins < 16) await new Promise((resolve) => setImmediate(resolve));
    else await sleep(Math.min(20, spins - 15));
  }
}

/** tee into a second private pipe, then splice that into the output file at its current offset. */
async function teeToFile(p1: PrivatePipe, p2: PrivatePipe, outFd: number, len: number): Promise<number> {
  const { SPLICE_F_NONBLOCK } = nativeConstants();
  const t = await tee(p1.r, p2.w, len, SPLICE_F_NONBLOCK);
  if (t === 0) throw new SafebakError('SAFEBAK_NATIVE', 'tee moved nothing from a non-empty pipe');
  let moved = 0;
  while (moved < t) {
    const m = await splice(p2.r, null, outFd, null, t - moved, 0);
    if (m === 0) throw new SafebakError('SAFEBAK_NATIVE', 'splice into the output file moved nothing');
    moved += m;
  }
  return t;
}
