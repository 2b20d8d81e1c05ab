import fs from 'node:fs';
import type { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ArchiveFileWriter } from '../../src/archive/archive-file-writer.js';
import { TarWriter } from '../../src/archive/tar-writer.js';

/**
 * A file output that fails (ENOSPC) must fail the writer, whenever the
 * failure lands. A file stream without autoClose is errored but not
 * destroyed, and says 'error' once: a writer that started waiting for
 * 'drain' after that used to wait forever (a full disk hung the run).
 */
describe('TarWriter on a failing file stream', () => {
  const outputs: [string, (fd: number) => Writable][] = [
    ['the archive file writer', (fd) => new ArchiveFileWriter(fd, '/dev/full')],
    ['a file stream, queue 64 KiB', (fd) => fs.createWriteStream('', { fd, autoClose: false, highWaterMark: 64 * 1024 })],
    ['a file stream, queue 4 MiB', (fd) => fs.createWriteStream('', { fd, autoClose: false, highWaterMark: 4 * 1024 * 1024 })],
  ];
  for (const [label, open] of outputs) {
    it(`rejects with the write error instead of waiting for 'drain' (${label})`, async () => {
      const fd = fs.openSync('/dev/full', 'w');
      try {
        const out = open(fd);
        out.on('error', () => {});
        const writer = new TarWriter(out, true);
        const chunk = Buffer.alloc(1024 * 1024, 7);
        const writing = (async () => {
          await writer.header({ name: 'big', type: 'file', size: 64 * chunk.length, mode: 0o644, uid: 0, gid: 0, mtimeSec: 0, mtimeNsec: 0 });
          for (let i = 0; i < 64; i++) {
            await writer.data(chunk);
            // Let the failed write's callback run while no wait is pending.
            await new Promise((r) => setImmediate(r));
          }
        })();
        const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error('the writer hung')), 5000));
        await expect(Promise.race([writing, timeout])).rejects.toMatchObject({ code: 'ENOSPC' });
      } finally {
        fs.closeSync(fd);
      }
    });
  }
});
