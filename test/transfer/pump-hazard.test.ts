import { createHash } from 'node:crypto';
import { closeSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { RawOutput } from '../../src/archive/output.js';
import { pipe2, setPipeSize } from '../../src/native/native.js';
import { pumpDirect } from '../../src/transfer/pipe-pump.js';
import { openDirectFile } from '../../src/transfer/splice.js';
import { nativeMissing } from '../native/native-available.js';
import { readExactly } from '../helpers/read-fd.js';

const SIZE = 256 * 1024 + 100;

describe.skipIf(nativeMissing)("safebak's splice path under the seed's sequence (splice, rewrite the file, then read the pipe)", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'safebak-pump-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  for (const kind of ['pipe', 'file'] as const) {
    it(`the ${kind} output still holds the original bytes, and the hash is theirs`, async () => {
      const src = join(dir, `src-${kind}`);
      writeFileSync(src, Buffer.alloc(SIZE, 'A'));
      const fh = await openDirectFile(src);
      const [r, w] = kind === 'pipe' ? pipe2() : [-1, -1];
      if (kind === 'pipe') setPipeSize(w, 1024 * 1024);
      const outPath = join(dir, `out-${kind}`);
      const outFd = kind === 'pipe' ? w : openSync(outPath, 'w+');
      const raw: RawOutput = { fd: outFd, kind, drained: async () => {} };
      let accounted = 0;
      const hash = createHash('sha256');
      try {
        const pumped = await pumpDirect(fh.fd, SIZE, { raw: async () => raw, rawWritten: (n) => (accounted += n) }, hash, { label: src });
        expect(pumped).toEqual({ sent: SIZE, short: false, grew: false, stopped: false });
        expect(accounted).toBe(SIZE);
        // The writer strikes after the splice returned and before anyone read the output.
        const wfd = openSync(src, 'r+');
        writeSync(wfd, Buffer.alloc(SIZE, 'D'), 0, SIZE, 0);
        closeSync(wfd);
        const got = kind === 'pipe' ? readExactly(r, SIZE) : (await (await open(outPath)).readFile());
        expect(got.equals(Buffer.alloc(SIZE, 'A'))).toBe(true);
        expect(hash.digest('hex')).toBe(createHash('sha256').update(got).digest('hex'));
      } finally {
        await fh.close();
        if (kind === 'pipe') {
          closeSync(r);
          closeSync(w);
        } else closeSync(outFd);
      }
    });
  }

  it('a file that grew is cut at the promised size and flagged; one that shrank is reported short', async () => {
    const src = join(dir, 'grown');
    writeFileSync(src, Buffer.alloc(10_000, 'g'));
    const fh = await openDirectFile(src);
    const [r, w] = pipe2();
    const raw: RawOutput = { fd: w, kind: 'pipe', drained: async () => {} };
    try {
      const target = { raw: async () => raw, rawWritten: () => {} };
      const grown = await pumpDirect(fh.fd, 8_000, target, createHash('sha256'), {});
      expect(grown).toMatchObject({ sent: 8_000, grew: true, short: false });
      expect(readExactly(r, 8_000).length).toBe(8_000);
      const short = await pumpDirect(fh.fd, 20_000, target, createHash('sha256'), {});
      expect(short).toMatchObject({ sent: 10_000, short: true });
      expect(readExactly(r, 10_000).length).toBe(10_000);
    } finally {
      await fh.close();
      closeSync(r);
      closeSync(w);
    }
  });
});
