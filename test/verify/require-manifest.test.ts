import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createArchive, verifyArchive } from '../../src/index.js';
import { runCli, stderrLines } from '../helpers/cli.js';
import { makeTempDir, removeDir } from '../helpers/tmp-dir.js';

const work = makeTempDir('require-manifest');
beforeAll(() => {
  fs.mkdirSync(path.join(work, 'src'));
  fs.writeFileSync(path.join(work, 'src', 'a.txt'), 'alpha\n');
});
afterAll(() => removeDir(work));

describe('verify --require-manifest', () => {
  it('a safebak archive stripped of its only manifest segment verifies as foreign without it, and as damaged with it', async () => {
    const archive = path.join(work, 'a.tar');
    expect((await createArchive({ sources: ['src'], cwd: work, output: archive })).status).toBe(0);
    // GNU tar rewrites the archive without the segment: a well-formed tar with no manifest.
    execFileSync('tar', ['--delete', '-f', archive, '.safebak/manifest-000001.jsonl']);

    const lenient = await verifyArchive(archive);
    expect(lenient.kind).toBe('foreign');
    expect(lenient.status).toBe(0);
    expect(lenient.checksNotMade.join(' ')).toMatch(/no safebak manifest/);

    const strict = await verifyArchive(archive, { requireManifest: true });
    expect(strict.status).toBe(3);
    expect(strict.problems[0]?.message).toMatch(/no safebak manifest \(required\)/);

    const cli = await runCli(['verify', '--require-manifest', archive]);
    expect(cli.status).toBe(3);
    expect(stderrLines(cli).some((l) => /DAMAGED: the archive has no safebak manifest/.test(l))).toBe(true);
  });

  it('an intact safebak archive passes with it', async () => {
    const archive = path.join(work, 'b.tar.zst');
    expect((await createArchive({ sources: ['src'], cwd: work, output: archive })).status).toBe(0);
    expect((await verifyArchive(archive, { requireManifest: true })).status).toBe(0);
  });
});
