import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, createWriteStream, readFileSync } from 'node:fs';
import { extract } from 'tar-stream';
import { Readable } from 'node:stream';

import { createArchive } from '../../src/create/create-archive.js';
import type { CreateOptions, CreateResult } from '../../src/create/create-archive.js';
import { pipe2 } from '../../src/native/native.js';

/** Every entry of an uncompressed tar in memory, in order (retries give a path several entries). */
export async function tarEntries(archive: Buffer): Promise<{ name: string; data: Buffer }[]> {
  const out: { name: string; data: Buffer }[] = [];
  const ex = extract();
  const done = (async () => {
    for await (const entry of ex) {
      const parts: Buffer[] = [];
      for await (const chunk of entry) parts.push(chunk as Buffer);
      out.push({ name: entry.header.name, data: Buffer.concat(parts) });
    }
  })();
  Readable.from([archive]).pipe(ex);
  await done;
  return out;
}

/**
 * Runs createArchive into a real pipe (pipe2) whose reader is a child that
 * reads a little, sleeps, reads, and stores what it got in `capture`.
 * Node's own child 'pipe' stdio would be a socketpair, not a pipe.
 */
export async function createIntoSlowPipe(options: Omit<CreateOptions, 'output'>, capture: string, pauseMs = 2): Promise<CreateResult> {
  const [r, w] = pipe2(false);
  const reader = spawn(
    'python3',
    ['-c', `import os,sys,time\nf=open(sys.argv[1],'wb')\nwhile True:\n  b=os.read(0,65536)\n  if not b: break\n  f.write(b)\n  time.sleep(${pauseMs / 1000})\nf.close()`, capture],
    { stdio: [r, 'ignore', 'inherit'] },
  );
  closeSync(r);
  const output = createWriteStream('', { fd: w });
  try {
    return await createArchive({ ...options, output });
  } finally {
    output.destroy();
    await exited(reader);
  }
}

export function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

export function readCapture(path: string): Buffer {
  return readFileSync(path);
}

/** How a rewriting child reaches the file: a fresh open per version, one fd held open, or stores through a shared mmap. */
export type WriterMode = 'reopen' | 'hold' | 'mmap';

const WRITER = String.raw`
import os, sys, time, mmap
path, mode, size, gap = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
pats = [bytes([66 + i]) * 65536 for i in range(20)]
fd = None; mm = None
if mode in ('hold', 'mmap'): fd = os.open(path, os.O_RDWR)
if mode == 'mmap': mm = mmap.mmap(fd, size)
sys.stdout.write('ready\n'); sys.stdout.flush()
v = 0
while True:
    v = (v + 1) % 20
    p = pats[v]
    if mode == 'reopen': fd = os.open(path, os.O_RDWR)
    # Chunk by chunk, so a reader in the middle sees a torn file; no pause inside a
    # version: a writer stalled mid-update for a whole transfer leaves a file whose
    # content simply is that torn state, which no check can tell from a real one.
    for off in range(0, size, 65536):
        n = min(65536, size - off)
        if mode == 'mmap': mm[off:off + n] = p[:n]
        else: os.pwrite(fd, p[:n], off)
    if mode == 'reopen': os.close(fd)
    time.sleep(gap)
`;

/** Starts a child that rewrites `path` in place, version after version, each version one repeated byte ('B', 'C', …). */
export async function startRewriter(path: string, mode: WriterMode, size: number, gapSeconds: number): Promise<ChildProcess> {
  const child = spawn('python3', ['-c', WRITER, path, mode, String(size), String(gapSeconds)], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`rewriter exited early (${code})`)));
  });
  return child;
}

/** Whether `data` is one whole version: a single repeated byte. */
export function oneVersion(data: Buffer): boolean {
  return data.length === 0 || data.every((b) => b === data[0]);
}
