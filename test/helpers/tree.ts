import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/**
 * A fixture tree as a nested map: a string or Buffer is a regular file with
 * that content, a plain object is a directory, and the node builders below
 * add modes, nanosecond mtimes, links and FIFOs.
 */
export type TreeNode = string | Buffer | FileNode | DirNode | SymlinkNode | HardlinkNode | FifoNode | SocketNode | TreeSpec;
export interface TreeSpec {
  [name: string]: TreeNode;
}

const KIND = Symbol('tree-node');

interface Times {
  /** Nanoseconds since the epoch (may be negative). */
  mtimeNs?: bigint | undefined;
}
interface FileNode extends Times {
  [KIND]: 'file';
  content: string | Buffer;
  mode?: number | undefined;
}
interface DirNode extends Times {
  [KIND]: 'dir';
  children: TreeSpec;
  mode?: number | undefined;
}
interface SymlinkNode extends Times {
  [KIND]: 'symlink';
  target: string;
}
interface HardlinkNode {
  [KIND]: 'hardlink';
  /** The existing file, relative to the tree's root. */
  to: string;
}
interface FifoNode extends Times {
  [KIND]: 'fifo';
  mode?: number | undefined;
}
interface SocketNode {
  [KIND]: 'socket';
}

export const file = (content: string | Buffer, opts: { mode?: number; mtimeNs?: bigint } = {}): FileNode => ({ [KIND]: 'file', content, ...opts });
export const dir = (children: TreeSpec, opts: { mode?: number; mtimeNs?: bigint } = {}): DirNode => ({ [KIND]: 'dir', children, ...opts });
export const symlink = (target: string, opts: { mtimeNs?: bigint } = {}): SymlinkNode => ({ [KIND]: 'symlink', target, ...opts });
export const hardlink = (to: string): HardlinkNode => ({ [KIND]: 'hardlink', to });
export const fifo = (opts: { mode?: number; mtimeNs?: bigint } = {}): FifoNode => ({ [KIND]: 'fifo', ...opts });
/** A unix socket file (bound by python3, then left behind). */
export const socket = (): SocketNode => ({ [KIND]: 'socket' });

interface Deferred {
  times: { path: string; ns: bigint; follow: boolean }[];
  modes: { path: string; mode: number }[];
  links: { path: string; to: string }[];
  fifos: string[];
  sockets: string[];
}

/**
 * Writes `spec` under `root` (created if missing). Times are set last and
 * bottom-up, so a directory's mtime survives the creation of its children;
 * one python3 process sets every nanosecond time (Node's utimes takes
 * doubles and cannot express nanoseconds).
 */
export function buildTree(root: string, spec: TreeSpec): void {
  fs.mkdirSync(root, { recursive: true });
  const d: Deferred = { times: [], modes: [], links: [], fifos: [], sockets: [] };
  writeLevel(root, '', spec, d);
  for (const l of d.links) fs.linkSync(path.join(root, l.to), l.path);
  if (d.fifos.length || d.sockets.length || d.times.length) runPython(d);
  // Modes last: a read-only directory must not stop its own children from being made.
  for (const m of d.modes.reverse()) fs.chmodSync(m.path, m.mode);
}

function writeLevel(dirPath: string, rel: string, spec: TreeSpec, d: Deferred): void {
  for (const [name, node] of Object.entries(spec)) {
    const p = path.join(dirPath, name);
    const relName = rel === '' ? name : `${rel}/${name}`;
    // A key may hold slashes ("a/b/c"): the directories on the way are made plainly.
    if (name.includes('/')) fs.mkdirSync(path.dirname(p), { recursive: true });
    if (typeof node === 'string' || Buffer.isBuffer(node)) {
      fs.writeFileSync(p, node);
      continue;
    }
    const kind = (node as { [KIND]?: string })[KIND];
    if (kind === undefined) {
      fs.mkdirSync(p);
      writeLevel(p, relName, node as TreeSpec, d);
      continue;
    }
    const n = node as FileNode | DirNode | SymlinkNode | HardlinkNode | FifoNode | SocketNode;
    switch (n[KIND]) {
      case 'file':
        fs.writeFileSync(p, n.content);
        if (n.mode !== undefined) d.modes.push({ path: p, mode: n.mode });
        if (n.mtimeNs !== undefined) d.times.push({ path: p, ns: n.mtimeNs, follow: true });
        break;
      case 'dir':
        fs.mkdirSync(p);
        writeLevel(p, relName, n.children, d);
        if (n.mode !== undefined) d.modes.push({ path: p, mode: n.mode });
        // Children's times are pushed first; a directory's own time is set after them.
        if (n.mtimeNs !== undefined) d.times.push({ path: p, ns: n.mtimeNs, follow: true });
        break;
      case 'symlink':
        fs.symlinkSync(n.target, p);
        if (n.mtimeNs !== undefined) d.times.push({ path: p, ns: n.mtimeNs, follow: false });
        break;
      case 'hardlink':
        d.links.push({ path: p, to: n.to });
        break;
      case 'fifo':
        d.fifos.push(p);
        if (n.mode !== undefined) d.modes.push({ path: p, mode: n.mode });
        if (n.mtimeNs !== undefined) d.times.push({ path: p, ns: n.mtimeNs, follow: false });
        break;
      case 'socket':
        d.sockets.push(p);
        break;
    }
  }
}

const PY = `
import json, os, socket, sys
d = json.load(sys.stdin)
for p in d['fifos']:
    os.mkfifo(p)
for p in d['sockets']:
    s = socket.socket(socket.AF_UNIX)
    s.bind(p)
    s.close()
for t in d['times']:
    ns = int(t['ns'])
    os.utime(t['path'], ns=(ns, ns), follow_symlinks=t['follow'])
`;

function runPython(d: Deferred): void {
  const input = JSON.stringify({ fifos: d.fifos, sockets: d.sockets, times: d.times.map((t) => ({ ...t, ns: String(t.ns) })) });
  execFileSync('python3', ['-c', PY], { input });
}

/** Sets a path's atime and mtime to `ns` nanoseconds, without following a symlink. */
export function setMtimeNs(p: string, ns: bigint): void {
  runPython({ times: [{ path: p, ns, follow: false }], modes: [], links: [], fifos: [], sockets: [] });
}
