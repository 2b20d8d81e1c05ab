import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createArchive } from '../../src/index.js';
import { readEntries, tarBytesOf } from '../helpers/archive-bytes.js';
import { flipBitOf } from '../helpers/corrupt.js';
import { runCli } from '../helpers/cli.js';
import { runCliMeasuringRss } from '../helpers/max-rss.js';
import { makeTempDir, removeDir } from '../helpers/tmp-dir.js';
import { buildTree } from '../helpers/tree.js';

// `safebak verify` with zstd decoded on a worker thread (SAFEBAK_DECODE_THREAD=1)
// and in-thread (=0): the same verdicts, the same problems, bounded memory.
let work: string;
let tar: Buffer;
const zstd = (args: string[], input: Buffer): Buffer => execFileSync('zstd', ['-q', ...args], { input, maxBuffer: 1 << 28 });
const env = (mode: '0' | '1'): NodeJS.ProcessEnv => ({ ...process.env, SAFEBAK_DECODE_THREAD: mode });

/** The tar stream recompressed as three independent frames, cut at these fractions. */
function threeFrames(bytes: Buffer): Buffer[] {
  const a = Math.floor(bytes.length / 3);
  const b = Math.floor((bytes.length * 2) / 3);
  return [bytes.subarray(0, a), bytes.subarray(a, b), bytes.subarray(b)].map((part) => zstd(['--check', '-c'], part));
}

beforeAll(async () => {
  work = makeTempDir('decode-thread-verify');
  const files: Record<string, Buffer> = {};
  // Incompressible files: the archive is several MiB, well past the ring's 4 MiB.
  for (let i = 0; i < 12; i++) files[`r${i}.bin`] = randomBytes(300_000 + i * 77_777);
  for (let i = 0; i < 300; i++) files[`s${i}.txt`] = Buffer.from(`small file ${i}\n`.repeat(i));
  buildTree(path.join(work, 'src'), { tree: files });
  const r = await createArchive({ sources: ['tree'], cwd: path.join(work, 'src'), output: path.join(work, 'a.tar.zst'), segmentEntries: 100 });
  expect(r.status).toBe(0);
  tar = await tarBytesOf(path.join(work, 'a.tar.zst'));
  expect(tar.length).toBeGreaterThan(6 * 2 ** 20);
});
afterAll(() => removeDir(work));

async function verifyJson(archive: string, environment: NodeJS.ProcessEnv): Promise<{ status: number | null; json: Record<string, unknown> }> {
  const r = await runCli(['verify', '--json', archive], { env: environment });
  return { status: r.status, json: JSON.parse(r.stdout.toString('utf8')) as Record<string, unknown> };
}

async function bothWays(archive: string): Promise<{ status: number | null; json: Record<string, unknown> }[]> {
  return [await verifyJson(archive, env('1')), await verifyJson(archive, env('0'))];
}

/** The decoding thread hashing every file it can ahead of the parser (by default it does so only while the parser is behind). */
const hashingAhead = (archive: string): ReturnType<typeof verifyJson> => verifyJson(archive, { ...env('1'), SAFEBAK_DECODE_HASH: 'all' });

describe('verify with the decoding thread and without', () => {
  it('an intact multi-frame archive: exit 0 both ways, identical results', async () => {
    const archive = path.join(work, 'frames.tar.zst');
    fs.writeFileSync(archive, Buffer.concat(threeFrames(tar)));
    const [threaded, inline] = await bothWays(archive);
    expect(threaded!.status).toBe(0);
    expect(threaded).toEqual(inline);
    expect(threaded!.json['files']).toBe(312);
  });

  it('a damaged frame in the middle: exit 3 both ways, naming the zstd layer', async () => {
    const frames = threeFrames(tar);
    const bad = Buffer.from(frames[1]!);
    bad[Math.floor(bad.length / 2)]! ^= 0x08;
    const archive = path.join(work, 'bad-middle.tar.zst');
    fs.writeFileSync(archive, Buffer.concat([frames[0]!, bad, frames[2]!]));
    const [threaded, inline] = await bothWays(archive);
    for (const r of [threaded!, inline!]) {
      expect(r.status).toBe(3);
      const messages = (r.json['problems'] as { message: string }[]).map((p) => p.message);
      expect(messages.some((m) => /zstd compression layer is damaged/.test(m)), messages.join('\n')).toBe(true);
      expect(r.json['complete']).toBe(false);
    }
    // Where inside the damaged frame decoding stops may differ; the zstd error may not.
    const zstdError = (r: { json: Record<string, unknown> }): string | undefined =>
      (r.json['problems'] as { message: string }[]).find((p) => /zstd/.test(p.message))?.message;
    expect(zstdError(threaded!)).toBe(zstdError(inline!));
  });

  it('cut inside the last frame: exit 3 both ways', async () => {
    const whole = Buffer.concat(threeFrames(tar));
    const archive = path.join(work, 'cut.tar.zst');
    fs.writeFileSync(archive, whole.subarray(0, whole.length - 1000));
    const [threaded, inline] = await bothWays(archive);
    expect(threaded!.status).toBe(3);
    expect(threaded).toEqual(inline);
  });
});

describe('many small files, with the decoding thread and without', () => {
  let many: Buffer;
  beforeAll(async () => {
    // Entries of every small size, many per ring slot, cut anywhere by slot boundaries.
    const files: Record<string, Record<string, string>> = {};
    for (let d = 0; d < 20; d++) {
      const dir: Record<string, string> = {};
      for (let i = 0; i < 1000; i++) dir[`f${i}.txt`] = `file ${d}/${i} `.repeat(i % 40) + (i % 7 === 0 ? '' : '\n');
      files[`d${d}`] = dir;
    }
    buildTree(path.join(work, 'many-src'), { tree: files });
    const r = await createArchive({ sources: ['tree'], cwd: path.join(work, 'many-src'), output: path.join(work, 'many.tar.zst'), segmentEntries: 5000 });
    expect(r.status).toBe(0);
    many = await tarBytesOf(path.join(work, 'many.tar.zst'));
  });

  it('intact: exit 0 both ways, identical results', async () => {
    const archive = path.join(work, 'many-frames.tar.zst');
    fs.writeFileSync(archive, Buffer.concat(threeFrames(many)));
    const [threaded, inline] = await bothWays(archive);
    expect(threaded!.status, JSON.stringify(threaded!.json['problems'])).toBe(0);
    expect(threaded).toEqual(inline);
    expect(await hashingAhead(archive)).toEqual(inline);
    expect(threaded!.json['files']).toBe(20_000);
  });

  it('one flipped bit in a small file, recompressed: exit 3 both ways, the same file named', async () => {
    const entries = await readEntries(many);
    const victim = entries.find((e) => e.entry.name === 'tree/d13/f777.txt')!;
    expect(victim.data.length).toBeGreaterThan(0);
    const archive = path.join(work, 'many-flip.tar.zst');
    fs.writeFileSync(archive, Buffer.concat(threeFrames(flipBitOf(many, victim.dataOffset + 3, 2))));
    const [threaded, inline] = await bothWays(archive);
    expect(threaded!.status).toBe(3);
    expect(threaded).toEqual(inline);
    // Hashed ahead (where it lies wholly in one slot), its digest is that of the damaged bytes.
    expect(await hashingAhead(archive)).toEqual(inline);
    expect(threaded!.json['problems']).toEqual([{ path: 'tree/d13/f777.txt', message: 'tree/d13/f777.txt: data does not match its recorded sha256 (the archive is damaged)' }]);
  });

});

describe('--against, with the decoding thread and without', () => {
  it('every file intact both ways, then a changed source named both ways', async () => {
    const archive = path.join(work, 'against.tar.zst');
    fs.writeFileSync(archive, Buffer.concat(threeFrames(tar)));
    const run = async (): Promise<{ status: number | null; files: { path: string; verdict: string }[] }[]> => {
      const out = [];
      for (const mode of ['1', '0'] as const) {
        const r = await runCli(['verify', '--json', '--against', path.join(work, 'src'), archive], { env: env(mode) });
        const json = JSON.parse(r.stdout.toString('utf8')) as { against: { files: { path: string; verdict: string }[] } };
        out.push({ status: r.status, files: [...json.against.files].sort((a, b) => a.path.localeCompare(b.path)) });
      }
      return out;
    };
    const [intactThreaded, intactInline] = await run();
    expect(intactThreaded!.status).toBe(0);
    expect(intactThreaded).toEqual(intactInline);
    expect(intactThreaded!.files.length).toBe(312);
    fs.writeFileSync(path.join(work, 'src/tree/r5.bin'), 'changed since the archive was made\n');
    const [threaded, inline] = await run();
    expect(threaded!.status).toBe(1);
    expect(threaded).toEqual(inline);
    expect(threaded!.files.filter((f) => f.verdict !== 'intact').map((f) => f.path)).toEqual(['tree/r5.bin']);
  });
});

describe('peak RSS through the decoding thread', () => {
  it('2 GiB of zeros in one entry verify in bounded memory (under 200 MiB)', async () => {
    const dir = path.join(work, 'zeros');
    fs.mkdirSync(dir);
    execFileSync('truncate', ['-s', '2G', path.join(dir, 'zeros-2g')]);
    const archive = path.join(work, 'zeros.tar.zst');
    // GNU tar without --sparse writes every zero; zstd makes them a few hundred KiB.
    execFileSync('sh', ['-c', `tar -cf - -C "${dir}" zeros-2g | zstd -q -c > "${archive}"`]);
    fs.rmSync(dir, { recursive: true });
    const before = process.env['SAFEBAK_DECODE_THREAD'];
    process.env['SAFEBAK_DECODE_THREAD'] = '1';
    try {
      const r = await runCliMeasuringRss(['verify', archive]);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr).toContain('no safebak manifest');
      console.log(`peak RSS: verify through the decoding thread ${Math.round(r.maxRssBytes / 2 ** 20)} MiB`);
      expect(r.maxRssBytes).toBeLessThan(200 * 2 ** 20);
      expect(r.maxRssBytes).toBeGreaterThan(20 * 2 ** 20);
    } finally {
      if (before === undefined) delete process.env['SAFEBAK_DECODE_THREAD'];
      else process.env['SAFEBAK_DECODE_THREAD'] = before;
    }
  });
});
