import type { FileStat } from '../file-stat.js';

/**
 * Reasons a file counts as changed between two fstat calls that bracket a
 * transfer (DESIGN §6). An empty list means no metadata moved.
 */
export function metadataChanges(before: FileStat, after: FileStat): string[] {
  const reasons: string[] = [];
  if (before.ino !== after.ino || before.dev !== after.dev) reasons.push('inode changed');
  if (before.size !== after.size) reasons.push(`size changed from ${before.size} to ${after.size}`);
  if (before.mtimeNs !== after.mtimeNs) reasons.push('mtime changed');
  if (before.ctimeNs !== after.ctimeNs) reasons.push('ctime changed');
  return reasons;
}

/**
 * Whether a file moved so recently that its timestamps cannot be trusted to
 * show a change: a write inside one timestamp tick, or an mmap store to an
 * already-dirty page, leaves mtime and ctime alone, so only a content check
 * sees it.
 */
export function isRecent(stat: FileStat, nowNs: bigint, windowSeconds: number): boolean {
  const window = BigInt(Math.round(windowSeconds * 1e9));
  return nowNs - stat.mtimeNs < window || nowNs - stat.ctimeNs < window;
}

/** Wall-clock now in nanoseconds, comparable with stat times. */
export function nowNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}
