import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';

/**
 * How a writer changes its file in place:
 * - `reopen`: opens the file for every version, writes it in chunks, closes it;
 * - `held`: keeps one fd open and pwrite()s every version in chunks;
 * - `mmap`: stores every version through a shared mapping (python3 `mmap`),
 *   which moves mtime only when a clean page is first dirtied.
 */
export type WriterKind = 'reopen' | 'held' | 'mmap';
export const WRITER_KINDS: readonly WriterKind[] = ['reopen', 'held', 'mmap'];

/** The byte a whole version `v` consists of; version 0 is the file's initial content. */
export function versionByte(v: number): number {
  return 0x41 + (v % 26);
}

/** Whether `data` is one whole version: `size` copies of one version byte. */
export function isWholeVersion(data: Buffer, size: number): boolean {
  if (data.length !== size) return false;
  if (size === 0) return true;
  const b = data[0]!;
  if (b < 0x41 || b > 0x5a) return false;
  for (let i = 1; i < data.length; i++) if (data[i] !== b) return false;
  return true;
}

export interface WriterOptions {
  /** Bytes per write call (or per mmap store): smaller means a wider window for a torn copy. */
  chunk?: number;
  /** Pause between versions, in ms. */
  pauseMs?: number;
}

export interface RunningWriter {
  kind: WriterKind;
  path: string;
  /** Stops after the version in progress; resolves with the number of versions written. */
  stop(): Promise<number>;
  /**
   * Where the writer was off the CPU in the middle of a version for more than
   * 0.25 ms (a 4 KiB write takes microseconds): the file then really holds a
   * mix of two versions, stable for that long, and a copy of a small file
   * taken then (read and re-read within that pause) is a faithful copy of a
   * torn file.
   */
  stalls(): Stall[];
}

export interface Stall {
  /** The version being written, whose byte is versionByte(version). */
  version: number;
  /** Bytes of that version written before the pause. */
  offset: number;
  ms: number;
}

const NODE_WRITER = `
const fs = require('node:fs');
const [kind, p, sizeText, chunkText, pauseText] = process.argv.slice(1);
const size = Number(sizeText), chunk = Number(chunkText), pause = Number(pauseText);
const STALL_MS = 0.25;
let stopping = false;
process.on('SIGTERM', () => { stopping = true; });
const held = kind === 'held' ? fs.openSync(p, 'r+') : null;
let v = 1;
async function main() {
  process.stdout.write('ready\\n');
  while (!stopping) {
    const fd = held ?? fs.openSync(p, 'r+');
    const buf = Buffer.alloc(chunk, 0x41 + (v % 26));
    let last = performance.now();
    for (let off = 0; off < size; off += chunk) {
      fs.writeSync(fd, buf, 0, Math.min(chunk, size - off), off);
      const now = performance.now();
      // The file rests half-written while this process is off the CPU: report where and how long.
      if (now - last > STALL_MS && off + chunk < size) process.stdout.write('stall ' + v + ' ' + (off + chunk) + ' ' + (now - last).toFixed(2) + '\\n');
      last = now;
    }
    if (held === null) fs.closeSync(fd);
    v++;
    await new Promise((r) => setTimeout(r, pause));
  }
  process.stdout.write('versions ' + (v - 1) + '\\n');
}
main();
`;

const PY_WRITER = `
import mmap, os, signal, sys, time
p, size, chunk, pause = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]) / 1000
stopping = False
def stop(*_):
    global stopping
    stopping = True
signal.signal(signal.SIGTERM, stop)
fd = os.open(p, os.O_RDWR)
m = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
v = 1
print('ready', flush=True)
while not stopping:
    b = bytes([0x41 + v % 26]) * chunk
    last = time.monotonic()
    for off in range(0, size, chunk):
        n = min(chunk, size - off)
        m[off:off + n] = b[:n]
        now = time.monotonic()
        if now - last > 0.00025 and off + n < size:
            print('stall', v, off + n, '%.2f' % ((now - last) * 1000), flush=True)
        last = now
    v += 1
    time.sleep(pause)
m.close()
print('versions', v - 1, flush=True)
`;

/** Starts a child process that rewrites `path` (already `size` bytes) version after version until stopped. */
export async function startWriter(kind: WriterKind, path: string, size: number, options: WriterOptions = {}): Promise<RunningWriter> {
  const chunk = String(options.chunk ?? 4096);
  const pause = String(options.pauseMs ?? 1);
  const child: ChildProcess =
    kind === 'mmap'
      ? spawn('python3', ['-c', PY_WRITER, path, String(size), chunk, pause], { stdio: ['ignore', 'pipe', 'inherit'] })
      : spawn(process.execPath, ['-e', NODE_WRITER, kind, path, String(size), chunk, pause], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (s: string) => (out += s));
  await new Promise<void>((resolve, reject) => {
    const check = (): void => {
      if (out.includes('ready')) resolve();
    };
    child.stdout!.on('data', check);
    child.once('exit', (code) => reject(new Error(`${kind} writer exited early (${code})`)));
    child.once('error', reject);
  });
  return {
    kind,
    path,
    async stop() {
      if (child.exitCode === null) {
        const exited = once(child, 'exit');
        child.kill('SIGTERM');
        await exited;
      }
      const m = /versions (\d+)/.exec(out);
      return m ? Number(m[1]) : 0;
    },
    stalls() {
      return [...out.matchAll(/^stall (\d+) (\d+) ([\d.]+)$/gm)].map((m) => ({ version: Number(m[1]), offset: Number(m[2]), ms: Number(m[3]) }));
    },
  };
}
