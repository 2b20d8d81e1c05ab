import { createHash } from 'node:crypto';
import { closeSync, constants, promises as fsp, read, write } from 'node:fs';
import type { FileStat } from '../file-stat.js';
import { tmpdir } from 'node:os';
import { dirname } from 'node:path';
import { addSeals, cloneToTmpfile, errnoCode, memfdCreate, nativeConstants, openTmpfile } from '../native/native.js';
import { NotRegularFile } from './copy.js';
import type { FsProbe } from './fs-probe.js';
import type { LeaseKeeper } from './lease.js';
import { pumpDirect } from './pipe-pump.js';
import { checkPath, hashFd, hashOpenFile } from './recheck.js';
import { finishPumped } from './splice.js';
import type { RawEntrySink, TransferOptions } from './splice.js';
import { isRecent, metadataChanges, nowNs } from './stability.js';
import { StrategyUnavailable } from './strategy-unavailable.js';
import type { TransferResult } from './transfer-result.js';

export type ImageKind = 'reflink' | 'tmpfile' | 'memfd';

export interface SnapshotOptions extends TransferOptions {
  /** Whether the output takes raw writes (splice) or needs the bytes in user space (copy from the image). */
  raw: boolean;
  /** Per-filesystem clone capability, probed once per st_dev by the job. */
  probe: FsProbe;
  leases: LeaseKeeper;
  /** Where images go when not beside the source (must be on the same filesystem to clone); null: the source's directory. */
  dir: string | null;
  /** Private copies up to this size go into a sealed memfd instead of an O_TMPFILE. */
  memfdBytes: number;
}

export interface SnapshotResult extends TransferResult {
  /** How the point-in-time image was made: a reflink clone, or a private copy. */
  image: ImageKind;
}

const SOURCE_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
const CHUNK = 1024 * 1024;
/** FICLONE's answers on a filesystem (or pair of them) that cannot clone. */
const NO_CLONE = new Set(['ENOTSUP', 'EOPNOTSUPP', 'EXDEV', 'EINVAL', 'ENOTTY', 'ENOSYS']);
/** O_TMPFILE refused in that directory: try the system's temporary directory. */
const NO_TMPFILE = new Set(['EACCES', 'EPERM', 'EROFS', 'ENOTSUP', 'EOPNOTSUPP', 'EISDIR', 'EINVAL']);

/**
 * The `snapshot` strategy (DESIGN §5): a private point-in-time image of the
 * source — a reflink clone into an O_TMPFILE where the filesystem clones, a
 * private copy taken at local-disk speed elsewhere — checked against the
 * source (fstat before and after, content when hot or recent), then the
 * source is let go and the image is sent: spliced to a raw output, copied to
 * a compressed one. Nobody else holds the image; a read lease on it (or memfd
 * seals) catches even root reopening it for write.
 */
export async function snapshotFile(fsPath: string, sink: RawEntrySink, options: SnapshotOptions): Promise<SnapshotResult> {
  const src = await fsp.open(fsPath, SOURCE_FLAGS);
  let srcOpen = true;
  let image: { fd: number; kind: ImageKind } | null = null;
  try {
    const stat = await src.stat({ bigint: true });
    if (!stat.isFile()) throw new NotRegularFile('is no longer a regular file');
    const size = Number(stat.size);
    const reasons: string[] = [];
    image = await makeImage(src, fsPath, stat, size, options, reasons);
    let after = await src.stat({ bigint: true });
    reasons.push(...metadataChanges(stat, after));
    let imageHash: string | null = null;
    if (reasons.length === 0 && (options.hot || options.paranoid || isRecent(after, nowNs(), options.recentSeconds))) {
      imageHash = await hashFd(image.fd, size, options.signal);
      if ((await hashOpenFile(src, size, options.signal)) !== imageHash) reasons.push('content changed while being read');
      after = await src.stat({ bigint: true });
      reasons.push(...metadataChanges(stat, after));
    }
    const pathCheck = await checkPath(fsPath, stat);
    if (pathCheck) reasons.push(pathCheck);
    // The image stands in for the source from here: a slow output must not keep a production file open or leased.
    const sourceLease = await options.lease?.release();
    if (sourceLease) reasons.push(sourceLease);
    await src.close();
    srcOpen = false;

    const sent = await sendImage(image, size, stat, sink, options);
    image = null;
    reasons.push(...sent.reasons);
    if (imageHash !== null && imageHash !== sent.sha256 && sent.reasons.length === 0) reasons.push('snapshot image changed while being sent');
    return {
      strategy: 'snapshot',
      size,
      sha256: sent.sha256,
      stat,
      reasons: [...new Set(reasons)],
      vanished: pathCheck === 'vanished',
      image: sent.kind,
    };
  } finally {
    if (image) closeSync(image.fd);
    if (srcOpen) await src.close();
  }
}

async function makeImage(
  src: fsp.FileHandle,
  fsPath: string,
  stat: FileStat,
  size: number,
  options: SnapshotOptions,
  reasons: string[],
): Promise<{ fd: number; kind: ImageKind }> {
  const dir = options.dir ?? dirname(fsPath);
  if (options.probe.reflink(stat.dev) !== false) {
    try {
      const fd = await cloneToTmpfile(src.fd, dir, fsPath);
      options.probe.setReflink(stat.dev, true);
      return { fd, kind: 'reflink' };
    } catch (err) {
      const code = errnoCode(err);
      if (code === undefined || !(NO_CLONE.has(code) || NO_TMPFILE.has(code))) throw err;
      if (NO_CLONE.has(code)) options.probe.setReflink(stat.dev, false);
    }
  }
  let fd: number;
  let kind: ImageKind;
  if (size <= options.memfdBytes) {
    fd = memfdCreate('safebak-snapshot');
    kind = 'memfd';
  } else {
    fd = await openPrivateTmpfile(dir);
    kind = 'tmpfile';
  }
  try {
    await copyInto(src, fd, size, reasons, options.signal);
    if (kind === 'memfd') {
      const c = nativeConstants();
      addSeals(fd, c.F_SEAL_WRITE | c.F_SEAL_SHRINK | c.F_SEAL_GROW | c.F_SEAL_SEAL);
    }
    return { fd, kind };
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

async function openPrivateTmpfile(dir: string): Promise<number> {
  try {
    return await openTmpfile(dir);
  } catch (err) {
    const code = errnoCode(err);
    if (code === undefined || !NO_TMPFILE.has(code)) throw err;
  }
  try {
    return await openTmpfile(tmpdir());
  } catch (err) {
    throw new StrategyUnavailable(`no private image possible: O_TMPFILE refused in ${dir} and ${tmpdir()} (${errnoCode(err) ?? String(err)})`);
  }
}

/** The private copy: the source's first `size` bytes, read through the page cache (coherent with every writer). */
async function copyInto(src: fsp.FileHandle, fd: number, size: number, reasons: string[], signal?: AbortSignal): Promise<void> {
  const buf = Buffer.allocUnsafe(Math.min(CHUNK, Math.max(size, 1)));
  let pos = 0;
  while (pos < size) {
    signal?.throwIfAborted();
    const { bytesRead } = await src.read(buf, 0, Math.min(buf.length, size - pos), pos);
    if (bytesRead === 0) break;
    await writeAll(fd, buf.subarray(0, bytesRead), pos);
    pos += bytesRead;
  }
  if (pos < size) reasons.push(`shrank while being read (${pos} of ${size} bytes)`);
  else if ((await src.read(Buffer.allocUnsafe(1), 0, 1, size)).bytesRead > 0) reasons.push('grew while being read');
}

async function writeAll(fd: number, data: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < data.length) {
    done += await new Promise<number>((resolve, reject) =>
      write(fd, data, done, data.length - done, position + done, (err, n) => (err ? reject(err) : resolve(n))),
    );
  }
}

/**
 * Sends the image: a read-only reopen (a read lease is refused while even we
 * hold it writable), leased, O_DIRECT where the filesystem allows so that no
 * page-cache page goes into the output by reference; a sealed memfd goes as
 * is. Without a raw output, or without O_DIRECT, the bytes are copied.
 * Takes ownership of `image.fd`.
 */
async function sendImage(
  image: { fd: number; kind: ImageKind },
  size: number,
  stat: FileStat,
  sink: RawEntrySink,
  options: SnapshotOptions,
): Promise<{ sha256: string; reasons: string[]; kind: ImageKind }> {
  let ro: fsp.FileHandle | null = null;
  let direct = false;
  try {
    if (image.kind !== 'memfd') {
      if (options.raw) {
        try {
          ro = await fsp.open(`/proc/self/fd/${image.fd}`, constants.O_RDONLY | constants.O_DIRECT);
          direct = true;
        } catch (err) {
          if (errnoCode(err) !== 'EINVAL') throw err;
        }
      }
      ro ??= await fsp.open(`/proc/self/fd/${image.fd}`, constants.O_RDONLY);
      closeSync(image.fd);
      image.fd = -1;
    }
    const fd = ro?.fd ?? image.fd;
    const lease = image.kind === 'memfd' ? null : options.leases.leaseFd(fd, 'snapshot image');
    const hash = createHash('sha256');
    await sink.header(size, stat);
    let reasons: string[] = [];
    try {
      if (options.raw && (direct || image.kind === 'memfd')) {
        const pumped = await pumpDirect(fd, size, sink, hash, {
          signal: options.signal,
          stop: () => lease?.broken === true,
          direct,
          probeGrowth: false,
          label: 'snapshot image',
        });
        reasons = await finishPumped(pumped, size, sink, hash);
      } else {
        reasons = await copyOut(fd, size, sink, hash, options.signal);
      }
    } finally {
      if (lease && (await lease.release()) !== null) reasons = ['snapshot image opened for writing by another process'];
    }
    return { sha256: hash.digest('hex'), reasons, kind: image.kind };
  } finally {
    if (image.fd >= 0) closeSync(image.fd);
    await ro?.close();
  }
}

/** Copies the image into the stream: each chunk a fresh buffer, hashed and handed on as is. */
async function copyOut(fd: number, size: number, sink: RawEntrySink, hash: ReturnType<typeof createHash>, signal?: AbortSignal): Promise<string[]> {
  let pos = 0;
  while (pos < size) {
    signal?.throwIfAborted();
    const chunk = Buffer.allocUnsafe(Math.min(CHUNK, size - pos));
    let got = 0;
    while (got < chunk.length) {
      const n = await new Promise<number>((resolve, reject) =>
        read(fd, chunk, got, chunk.length - got, pos + got, (err, bytes) => (err ? reject(err) : resolve(bytes))),
      );
      if (n === 0) break;
      got += n;
    }
    if (got < chunk.length) {
      chunk.fill(0, got);
      hash.update(chunk);
      await sink.data(chunk);
      const rest = size - pos - chunk.length;
      await finishPumped({ sent: 0, short: false, grew: false, stopped: false }, rest, sink, hash);
      return [`shrank while being read (${pos + got} of ${size} bytes)`];
    }
    hash.update(chunk);
    await sink.data(chunk);
    pos += got;
  }
  return [];
}
