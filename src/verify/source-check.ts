import { createHash } from 'node:crypto';
import fs, { promises as fsp } from 'node:fs';
import path from 'node:path';

/** DESIGN §7's per-file verdicts of `verify --against DIR`. */
export type SourceVerdict = 'intact' | 'source-changed' | 'source-damaged' | 'source-missing' | 'archive-corrupt';

export interface ArchivedFile {
  name: string;
  size: number;
  mtimeSec: number;
  /** null where the archive keeps whole seconds only (a foreign tar without pax times). */
  mtimeNsec: number | null;
  sha256: string;
}

/**
 * Compares one archived file with the file now at the same place under
 * `root`: content equal is intact; content different with metadata moved is
 * a change since the backup; content different with size and mtime unchanged
 * is damage to the source (bit rot).
 */
export async function checkSource(root: string, file: ArchivedFile): Promise<{ verdict: SourceVerdict; detail?: string }> {
  const rel = file.name.replace(/^\/+/, '');
  if (rel.split('/').includes('..')) return { verdict: 'archive-corrupt', detail: 'entry name climbs out of the tree' };
  const fsPath = path.join(root, rel);
  let stat: fs.BigIntStats;
  try {
    stat = await fsp.lstat(fsPath, { bigint: true });
  } catch {
    return { verdict: 'source-missing' };
  }
  if (!stat.isFile()) return { verdict: 'source-changed', detail: 'no longer a regular file' };
  const metadataSame =
    stat.size === BigInt(file.size) &&
    (file.mtimeNsec === null
      ? stat.mtimeNs / 1_000_000_000n === BigInt(file.mtimeSec)
      : stat.mtimeNs === BigInt(file.mtimeSec) * 1_000_000_000n + BigInt(file.mtimeNsec));
  let sha: string;
  try {
    sha = await hashFile(fsPath);
  } catch (err) {
    return { verdict: 'source-changed', detail: `unreadable: ${(err as Error).message}` };
  }
  if (sha === file.sha256) return { verdict: 'intact' };
  return metadataSame
    ? { verdict: 'source-damaged', detail: 'content differs although size and mtime are unchanged' }
    : { verdict: 'source-changed', detail: 'modified since the backup' };
}

async function hashFile(fsPath: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of fs.createReadStream(fsPath, { highWaterMark: 1024 * 1024 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
