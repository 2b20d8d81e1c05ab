import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { FileStat } from '../file-stat.js';
import { scanDir } from '../native/batch.js';

/** One entry of a directory, lstat'ed, in byte order of names. */
export interface Child {
  /** The name, or null when its bytes are not valid UTF-8 (it cannot round-trip through a string path). */
  name: string | null;
  /** The name for messages, with invalid bytes replaced. */
  display: string;
  /** The lstat, or the errno code that prevented it ('ENOENT': vanished since the listing). */
  stat: FileStat | string;
  /** A symlink's target when the listing read it already; a Buffer when not valid UTF-8. */
  linkTarget?: string | Buffer | undefined;
}

/** How many lstat calls the fallback keeps in flight: one awaited call at a time costs ~55 µs each. */
const LSTAT_BATCH = 64;

/**
 * Lists a directory sorted by name bytes with every entry lstat'ed: in one
 * native call where the addon is loaded, else with fs.promises, lstats in
 * parallel batches. Rejects like fs.readdir when the directory itself cannot
 * be read.
 */
export async function listChildren(dir: string): Promise<Child[]> {
  const scanned = await scanDir(dir);
  if (scanned !== null) {
    return scanned.map((e) => {
      const name = typeof e.name === 'string' ? e.name : null;
      return { name, display: e.name.toString(), stat: e.stat ?? e.error ?? 'EIO', linkTarget: e.linkTarget };
    });
  }
  const raw = await fsp.readdir(dir, { encoding: 'buffer' });
  raw.sort(Buffer.compare);
  const children: Child[] = [];
  for (let i = 0; i < raw.length; i += LSTAT_BATCH) {
    const batch = raw.slice(i, i + LSTAT_BATCH).map(async (bytes): Promise<Child> => {
      const text = bytes.toString('utf8');
      if (!Buffer.from(text, 'utf8').equals(bytes)) return { name: null, display: text, stat: 'EILSEQ' };
      try {
        return { name: text, display: text, stat: await fsp.lstat(path.join(dir, text), { bigint: true }) };
      } catch (err) {
        return { name: text, display: text, stat: (err as NodeJS.ErrnoException).code ?? 'EIO' };
      }
    });
    children.push(...(await Promise.all(batch)));
  }
  return children;
}
