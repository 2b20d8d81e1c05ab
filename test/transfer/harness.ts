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
