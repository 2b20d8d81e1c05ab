import fs from 'node:fs';
import path from 'node:path';

export interface TreeEntry {
  rel: string;
  type: 'file' | 'dir' | 'symlink' | 'fifo' | 'other';
  mode: number;
  size: bigint;
  mtimeNs: bigint;
  ino: bigint;
  linkTarget?: string;
  content?: Buffer;
}

/** Every path under `root` (root itself as ''), lstat'ed, sorted, with file contents and link targets. */
export function snapshotTree(root: string, skip: (rel: string) => boolean = () => false): TreeEntry[] {
  const out: TreeEntry[] = [];
  const visit = (rel: string): void => {
    const p = rel === '' ? root : path.join(root, rel);
    const st = fs.lstatSync(p, { bigint: true });
    const type = st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : st.isFIFO() ? 'fifo' : 'other';
    const e: TreeEntry = { rel, type, mode: Number(st.mode & 0o7777n), size: st.size, mtimeNs: st.mtimeNs, ino: st.ino };
    if (type === 'file') e.content = fs.readFileSync(p);
    if (type === 'symlink') e.linkTarget = fs.readlinkSync(p);
    out.push(e);
    if (type === 'dir') {
      for (const name of fs.readdirSync(p).sort()) {
        const childRel = rel === '' ? name : `${rel}/${name}`;
        if (!skip(childRel)) visit(childRel);
      }
    }
  };
  visit('');
  return out;
}

/** Differences between two snapshots as readable lines (empty when identical). */
export function diffTrees(expected: TreeEntry[], actual: TreeEntry[], options: { symlinkTimes?: boolean } = {}): string[] {
  const diffs: string[] = [];
  const byRel = new Map(actual.map((e) => [e.rel, e]));
  for (const e of expected) {
    const a = byRel.get(e.rel);
    byRel.delete(e.rel);
    if (!a) {
      diffs.push(`${e.rel}: missing`);
      continue;
    }
    if (a.type !== e.type) diffs.push(`${e.rel}: type ${a.type}, expected ${e.type}`);
    else {
      if (e.type !== 'symlink' && a.mode !== e.mode) diffs.push(`${e.rel}: mode ${a.mode.toString(8)}, expected ${e.mode.toString(8)}`);
      if ((e.type !== 'symlink' || options.symlinkTimes !== false) && a.mtimeNs !== e.mtimeNs) {
        diffs.push(`${e.rel}: mtime ${a.mtimeNs}, expected ${e.mtimeNs}`);
      }
      if (e.type === 'file' && !a.content!.equals(e.content!)) diffs.push(`${e.rel}: content differs`);
      if (e.type === 'symlink' && a.linkTarget !== e.linkTarget) diffs.push(`${e.rel}: link target ${a.linkTarget}, expected ${e.linkTarget}`);
    }
  }
  for (const rel of byRel.keys()) diffs.push(`${rel}: unexpected`);
  return diffs;
}
