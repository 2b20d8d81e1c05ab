import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, writeFileSync } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isMainThread } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { errnoCode, getLease, leaseBreaks, setLease } from '../../src/native/native.js';
import { nativeMissing, nativeProbe } from './native-available.js';

async function waitFor(what: string, predicate: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

function collect(child: ChildProcess): { out: string } {
  const sink = { out: '' };
  child.stdout?.on('data', (d: Buffer) => (sink.out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (sink.out += d.toString()));
  return sink;
}

describe.skipIf(nativeMissing)('read leases', () => {
  let dir: string;
  let file: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'safebak-lease-'));
    file = join(dir, 'leased');
    writeFileSync(file, 'lease me');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('runs on the main thread, where SIGIO can be handled', () => {
    expect(isMainThread).toBe(true);
  });

  it('a read lease on an O_RDONLY fd is granted and released', () => {
    const fd = openSync(file, 'r');
    try {
      setLease(fd, 'read', file);
      expect(getLease(fd)).toBe('read');
      setLease(fd, 'unlock', file);
      expect(getLease(fd)).toBe('none');
    } finally {
      closeSync(fd);
    }
  });

  it('a read lease is refused with EAGAIN while this process itself holds the file open for writing', () => {
    const writer = openSync(file, 'r+');
    const fd = openSync(file, 'r');
    try {
      let caught: unknown;
      try {
        setLease(fd, 'read', file);
      } catch (err) {
        caught = err;
      }
      expect(caught).toMatchObject({ code: 'SAFEBAK_NATIVE', syscall: 'fcntl(F_SETLEASE)', path: file });
      expect(errnoCode(caught)).toBe('EAGAIN');
      expect(getLease(fd)).toBe('none');
    } finally {
      closeSync(fd);
      closeSync(writer);
    }
  });

  it('a child opening the leased file for write breaks the lease; we survive SIGIO, count the break, and its open completes once we release', async () => {
    const fd = openSync(file, 'r');
    const before = leaseBreaks();
    let child: ChildProcess | undefined;
    try {
      setLease(fd, 'read', file);
      const script =
        "const fs=require('fs');const t=Date.now();const fd=fs.openSync(process.argv[1],'r+');" +
        "process.stdout.write(String(Date.now()-t));fs.closeSync(fd);";
      child = spawn(process.execPath, ['-e', script, file], { stdio: ['ignore', 'pipe', 'pipe'] });
      const output = collect(child);

      await waitFor('the lease-break signal', () => leaseBreaks() > before);
      // The break is pending: F_GETLEASE already reports what the breaker
      // needs (nothing, for a writer), and the child's open is still blocked.
      expect(getLease(fd)).toBe('none');
      await sleep(200);
      expect(child.exitCode).toBeNull();

      const released = Date.now();
      setLease(fd, 'unlock', file);
      const { code } = await exited(child);
      expect(code, output.out).toBe(0);
      // Released at once, far inside /proc/sys/fs/lease-break-time (45 s here).
      expect(Date.now() - released).toBeLessThan(5_000);
      expect(Number(output.out)).toBeGreaterThanOrEqual(200);
      expect(getLease(fd)).toBe('none');
    } finally {
      if (child && child.exitCode === null) child.kill();
      closeSync(fd);
    }
  });

  it('the trap itself: a lease holder without a SIGIO handler is killed by the break', async () => {
    // Raw addon in a child, so no handler is installed there.
    const addonPath = String(nativeProbe.file);
    const script =
      "const n=require(process.argv[1]);const fs=require('fs');const fd=fs.openSync(process.argv[2],'r');" +
      "n.setLease(fd,'read');process.stdout.write('leased');setTimeout(()=>{},30000);";
    const child = spawn(process.execPath, ['-e', script, addonPath, file], { stdio: ['ignore', 'pipe', 'pipe'] });
    const output = collect(child);
    try {
      await waitFor('the child to take its lease', () => output.out.includes('leased') || child.exitCode !== null);
      expect(output.out).toBe('leased');
      const t = Date.now();
      // Async open: it blocks on the pool until the holder lets go (here: dies).
      const writer = await open(file, 'r+');
      await writer.close();
      const { signal } = await exited(child);
      expect(signal).toBe('SIGIO');
      expect(Date.now() - t).toBeLessThan(5_000);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill();
    }
  });
});
