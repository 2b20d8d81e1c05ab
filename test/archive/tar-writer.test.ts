import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { TarWriter } from '../../src/archive/tar-writer.js';

/**
 * A file output that fails (ENOSPC) must fail the writer, whenever the
 * failure lands. A file stream without autoClose is errored but not
 * destroyed, and says 'error' once: a writer that started waiting for
 * 'drain' after that used to wait forever (a full disk hung the run).
 */
describe('TarWriter on a failing file stream', () => {
  for (const queue of [64 * 1024, 4 * 1024 * 1024]) {
    it(`rejects with the write error instead of waiting for 'drain' (queue ${queue} bytes)`, async () => {
      const fd = fs.openSync('/dev/full', 'w');
      try {
        const out = fs.createWriteStream('', { fd, autoClose: false, highWaterMark: queue });
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
