import { createHash } from 'node:crypto';
import type { Hash } from 'node:crypto';
import { constants, promises as fsp } from 'node:fs';
import { errnoCode } from '../native/native.js';
import { NotRegularFile } from './copy.js';
import type { CopyOptions, EntrySink } from './copy.js';
import type { Lease } from './lease.js';
import { pumpDirect } from './pipe-pump.js';
import type { PumpResult, RawEntryTarget } from './pipe-pump.js';
import { checkPath, hashFd } from './recheck.js';
import { isRecent, metadataChanges, nowNs } from './stability.js';
import { StrategyUnavailable } from './strategy-unavailable.js';
import type { TransferResult } from './transfer-result.js';

/** The tar writer as the zero-copy strategies see it: header and padding through the stream, data past it. */
export interface RawEntrySink extends EntrySink, RawEntryTarget {}

export interface TransferOptions extends CopyOptions {
  /** The read lease held on the source over this attempt, if any. */
  lease?: Lease | null | undefined;
  /** A writer had the file open when the lease was asked for: re-check the content. */
  hot?: boolean | undefined;
}

// O_NONBLOCK: a path that became a FIFO must not hang the open; O_NOFOLLOW: nor become a symlink.
const DIRECT_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_DIRECT;
const ZEROS = 1024 * 1024;

/**
 * The `splice` strategy (DESIGN §5): the source opened with O_DIRECT, its
 * bytes pumped to the raw output without a user-space copy and hashed from
 * the very pages that went out. The header promises the first fstat's size:
 * a short file is padded with zeros and a grown one cut, both flagged.
 * Throws StrategyUnavailable (nothing written) when the filesystem refuses O_DIRECT.
 */
export async function spliceFile(fsPath: string, sink: RawEntrySink, options: TransferOptions): Promise<TransferResult> {
  const fh = await openDirectFile(fsPath);
  try {
    const stat = await fh.stat({ bigint: true });
    if (!stat.isFile()) throw new NotRegularFile('is no longer a regular file');
    const size = Number(stat.size);
    await sink.header(size, stat);
    const hash = createHash('sha256');
    const pumped = await pumpDirect(fh.fd, size, sink, hash, {
      signal: options.signal,
      stop: () => options.lease?.broken === true,
      label: fsPath,
    });
    const reasons = await finishPumped(pumped, size, sink, hash);
    const sha256 = hash.digest('hex');
    let after = await fh.stat({ bigint: true });
    reasons.push(...metadataChanges(stat, after));
    if (reasons.length === 0 && (options.hot || options.paranoid || isRecent(after, nowNs(), options.recentSeconds))) {
      // Through the page cache: that is where writers' (and mmap) stores land, and it costs no device read when warm.
      if ((await hashFd(fh.fd, size, options.signal)) !== sha256) reasons.push('content changed while being read');
      after = await fh.stat({ bigint: true });
      reasons.push(...metadataChanges(stat, after));
    }
    const pathCheck = await checkPath(fsPath, stat);
    if (pathCheck) reasons.push(pathCheck);
    return { strategy: 'splice', size, sha256, stat, reasons: [...new Set(reasons)], vanished: pathCheck === 'vanished' };
  } finally {
    await fh.close();
  }
}

/** Opens for O_DIRECT reading; a filesystem that refuses O_DIRECT becomes StrategyUnavailable. */
export async function openDirectFile(fsPath: string): Promise<fsp.FileHandle> {
  try {
    return await fsp.open(fsPath, DIRECT_FLAGS);
  } catch (err) {
    if (errnoCode(err) === 'EINVAL') throw new StrategyUnavailable('the filesystem refuses O_DIRECT');
    throw err;
  }
}

/** Pads a short or stopped transfer to the promised size and turns the pump's findings into change reasons. */
export async function finishPumped(pumped: PumpResult, size: number, sink: EntrySink, hash: Hash): Promise<string[]> {
  const reasons: string[] = [];
  if (pumped.short) reasons.push(`shrank while being read (${pumped.sent} of ${size} bytes)`);
  if (pumped.grew) reasons.push('grew while being read');
  let missing = size - pumped.sent;
  while (missing > 0) {
    // A fresh buffer each time: the sink may still hold the previous one.
    const zeros = Buffer.alloc(Math.min(ZEROS, missing));
    hash.update(zeros);
    await sink.data(zeros);
    missing -= zeros.length;
  }
  return reasons;
}
