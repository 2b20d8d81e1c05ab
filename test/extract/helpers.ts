import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { join } from 'node:path';
import { loadNative } from '../../src/native/native.js';
import type { ResolverMode } from '../../src/extract/extract-archive.js';

/** Every resolver this machine can run: both when the addon is loaded, else only the fallback. */
export const resolverModes: ResolverMode[] = loadNative().addon !== null ? ['kernel', 'fdwalk'] : ['fdwalk'];
if (loadNative().addon === null) console.warn(`extract tests: kernel resolver not tested: ${loadNative().reason}`);

export interface Member {
  name: string;
  type?: 'file' | 'dir' | 'symlink' | 'hardlink' | 'chr' | 'fifo';
  data?: string;
  link?: string;
  /** Extended header records, e.g. `{ path: '../x' }`: they take precedence over the ustar name. */
  pax?: Record<string, string>;
  mode?: number;
}

const BUILD_TAR = `
import io, json, sys, tarfile
spec = json.loads(sys.stdin.read())
with tarfile.open(spec['out'], 'w', format=tarfile.PAX_FORMAT) as t:
    for m in spec['members']:
        ti = tarfile.TarInfo(m['name'])
        ti.mtime = 1700000000
        typ = m.get('type', 'file')
        data = m.get('data', '').encode()
        ti.mode = m.get('mode', 0o755 if typ == 'dir' else 0o644)
        if typ == 'file':
            ti.type = tarfile.REGTYPE
            ti.size = len(data)
        elif typ == 'dir':
            ti.type = tarfile.DIRTYPE
        elif typ == 'symlink':
            ti.type = tarfile.SYMTYPE
            ti.linkname = m['link']
        elif typ == 'hardlink':
            ti.type = tarfile.LNKTYPE
            ti.linkname = m['link']
        elif typ == 'chr':
            ti.type = tarfile.CHRTYPE
            ti.devmajor, ti.devminor = 1, 3
        elif typ == 'fifo':
            ti.type = tarfile.FIFOTYPE
        if 'pax' in m:
            ti.pax_headers = m['pax']
        t.addfile(ti, io.BytesIO(data) if typ == 'file' else None)
`;

/** Writes a tar archive with exactly these members, names untouched (python3's tarfile, as an attacker would). */
export function buildTar(out: string, members: Member[]): void {
  const r = spawnSync('python3', ['-c', BUILD_TAR], { input: JSON.stringify({ out, members }), encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`python3 tarfile failed: ${r.stderr}`);
}

export interface SnapshotOptions {
  /** Names (relative to the root) whose subtree is left out. */
  exclude?: string[];
  /** Compare mtimes to the microsecond only (Node cannot set nanoseconds). */
  microseconds?: boolean;
  /** Leave out atime-sensitive or irrelevant fields of the root directory itself. */
  skipRootMeta?: boolean;
}

/**
 * Everything a restore must reproduce, per path: type, mode, owner, size,
 * content hash or link target, mtime in ns, and which paths share an inode.
 */
export function snapshot(root: string, options: SnapshotOptions = {}): Record<string, string> {
  const out: Record<string, string> = {};
  const inodes = new Map<string, string>();
  const visit = (rel: string): void => {
    const full = rel === '' ? root : join(root, rel);
    const st = fs.lstatSync(full, { bigint: true });
    const mtime = options.microseconds ? st.mtimeNs / 1000n : st.mtimeNs;
    let what: string;
    if (st.isFile()) {
      const key = `${st.dev}:${st.ino}`;
      const first = inodes.get(key);
      if (first === undefined) inodes.set(key, rel);
      what = `file ${st.size} ${createHash('sha256').update(fs.readFileSync(full)).digest('hex')}${first !== undefined ? ` link-of ${first}` : ''}`;
    } else if (st.isSymbolicLink()) what = `symlink -> ${fs.readlinkSync(full)}`;
    else if (st.isDirectory()) what = 'dir';
    else if (st.isFIFO()) what = 'fifo';
    else if (st.isCharacterDevice()) what = `chardev ${st.rdev}`;
    else what = 'other';
    const meta = `mode ${(st.mode & 0o7777n).toString(8)} uid ${st.uid} gid ${st.gid} mtime ${mtime}`;
    if (!(rel === '' && options.skipRootMeta)) out[rel === '' ? '.' : rel] = `${what} ${st.isSymbolicLink() ? `uid ${st.uid} mtime ${mtime}` : meta}`;
    if (st.isDirectory()) {
      for (const name of fs.readdirSync(full).sort()) {
        const child = rel === '' ? name : `${rel}/${name}`;
        if (options.exclude?.includes(child)) continue;
        visit(child);
      }
    }
  };
  visit('');
  return out;
}

/** Temporary names extraction leaves behind, anywhere below `root`. */
export function tempFilesBelow(root: string): string[] {
  const found: string[] = [];
  const visit = (dir: string): void => {
    let names: fs.Dirent[];
    try {
      names = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const d of names) {
      if (d.name.startsWith('.safebak-')) found.push(join(dir, d.name));
      if (d.isDirectory()) visit(join(dir, d.name));
    }
  };
  visit(root);
  return found;
}
