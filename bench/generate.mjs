#!/usr/bin/env node
// Seeded generator of the benchmark trees (see bench/README.md):
//   small  100,000 files of 0–16 KiB (40% random, 60% text) in ~2,000 directories
//   large  4 × 256 MiB random + 4 × 256 MiB text
//   mixed  ~20,000 files, log-normal sizes 100 B–64 MiB, ~2 GiB, with symlinks and hard links
// The same seed gives the same names, sizes and bytes. A tree whose stamp file
// (`<dir>/<tree>.stamp.json`) matches the generator version, seed and spec is
// left alone; anything else is removed and generated again.
//
//   node bench/generate.mjs [--seed N] [--dir DIR] [--force] [small|large|mixed]...
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { mulberry32, deriveSeed, normal, randomStream } from './lib/prng.mjs';
import { textSource } from './lib/text.mjs';

const GENERATOR_VERSION = 1;
const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
const CHUNK = 8 * MiB;

export const DEFAULT_SEED = 20261127;
export const BENCH_ROOT = path.dirname(fileURLToPath(import.meta.url));
export const DEFAULT_TREES_DIR = process.env.SAFEBAK_BENCH_DIR
  ? path.resolve(process.env.SAFEBAK_BENCH_DIR)
  : path.join(BENCH_ROOT, 'trees');

export const SPECS = {
  small: { files: 100_000, maxBytes: 16 * KiB, randomShare: 0.4, topDirs: 20, leafDirsPerTop: 100 },
  large: { random: 4, text: 4, bytes: 256 * MiB },
  mixed: {
    files: 20_000,
    dirs: 1_000,
    maxDepth: 6,
    minBytes: 100,
    maxBytes: 64 * MiB,
    totalBytes: 2 * GiB,
    sigma: 2.5,
    randomShare: 0.4,
    symlinks: 200,
    danglingSymlinks: 10,
    dirSymlinks: 20,
    hardlinks: 200,
  },
  // Not a benchmark: a few seconds' smoke test of the harness itself.
  tiny: { files: 1_000, maxBytes: 16 * KiB, randomShare: 0.4, topDirs: 2, leafDirsPerTop: 10 },
};

/** The benchmark trees, run by default; `tiny` only when named. */
export const TREE_NAMES = ['small', 'large', 'mixed'];
export const ALL_TREE_NAMES = Object.keys(SPECS);

/** Writes one regular file of `size` bytes, random or text, seeded by its relative path. */
function writeContent(ctx, absPath, relPath, size, kind) {
  const fd = fs.openSync(absPath, 'wx', 0o644);
  try {
    if (kind === 'random') {
      const next = randomStream(ctx.seed, relPath);
      for (let done = 0; done < size; ) {
        const n = Math.min(CHUNK, size - done);
        const buf = next(n);
        fs.writeSync(fd, buf, 0, n);
        done += n;
      }
    } else {
      const rand = mulberry32(deriveSeed(ctx.seed, `text\0${relPath}`));
      let buf = ctx.scratch;
      for (let done = 0; done < size; ) {
        const n = Math.min(CHUNK, size - done);
        const view = buf.subarray(0, n);
        ctx.text(rand, view);
        fs.writeSync(fd, view, 0, n);
        done += n;
      }
    }
  } finally {
    fs.closeSync(fd);
  }
  ctx.stats.files++;
  ctx.stats.bytes += size;
  ctx.stats[kind === 'random' ? 'randomBytes' : 'textBytes'] += size;
}

function generateSmall(ctx, root, spec) {
  const rand = mulberry32(deriveSeed(ctx.seed, 'small:layout'));
  const leaves = [];
  for (let t = 0; t < spec.topDirs; t++) {
    const top = `d${String(t).padStart(2, '0')}`;
    fs.mkdirSync(path.join(root, top));
    ctx.stats.dirs++;
    for (let s = 0; s < spec.leafDirsPerTop; s++) {
      const leaf = path.join(top, `s${String(s).padStart(3, '0')}`);
      fs.mkdirSync(path.join(root, leaf));
      ctx.stats.dirs++;
      leaves.push(leaf);
    }
  }
  for (let i = 0; i < spec.files; i++) {
    const kind = rand() < spec.randomShare ? 'random' : 'text';
    const size = Math.floor(rand() * (spec.maxBytes + 1));
    const rel = path.join(leaves[i % leaves.length], `f${String(i).padStart(6, '0')}.${kind === 'random' ? 'bin' : 'txt'}`);
    writeContent(ctx, path.join(root, rel), rel, size, kind);
  }
}

function generateLarge(ctx, root, spec) {
  for (let i = 0; i < spec.random; i++) writeContent(ctx, path.join(root, `random-${i}.bin`), `random-${i}.bin`, spec.bytes, 'random');
  for (let i = 0; i < spec.text; i++) writeContent(ctx, path.join(root, `text-${i}.txt`), `text-${i}.txt`, spec.bytes, 'text');
}

/** Log-normal sizes clamped to [min, max], rescaled (deterministically) until they add up to about the target. */
function mixedSizes(rand, spec) {
  const median = spec.totalBytes / spec.files / Math.exp((spec.sigma * spec.sigma) / 2);
  const raw = Array.from({ length: spec.files }, () => median * Math.exp(spec.sigma * normal(rand)));
  let factor = 1;
  let sizes = [];
  for (let round = 0; round < 30; round++) {
    sizes = raw.map((x) => Math.round(Math.min(spec.maxBytes, Math.max(spec.minBytes, x * factor))));
    const total = sizes.reduce((a, b) => a + b, 0);
    if (Math.abs(total - spec.totalBytes) / spec.totalBytes < 0.005) break;
    factor *= spec.totalBytes / total;
  }
  return sizes;
}

function generateMixed(ctx, root, spec) {
  const rand = mulberry32(deriveSeed(ctx.seed, 'mixed:layout'));
  const dirs = [{ rel: '', depth: 0 }];
  for (let d = 0; d < spec.dirs; d++) {
    let parent;
    do parent = dirs[Math.floor(rand() * dirs.length)];
    while (parent.depth >= spec.maxDepth);
    const rel = path.join(parent.rel, `d${String(d).padStart(4, '0')}`);
    fs.mkdirSync(path.join(root, rel));
    ctx.stats.dirs++;
    dirs.push({ rel, depth: parent.depth + 1 });
  }
  const sizes = mixedSizes(rand, spec);
  const files = [];
  for (let i = 0; i < spec.files; i++) {
    const kind = rand() < spec.randomShare ? 'random' : 'text';
    const dir = dirs[Math.floor(rand() * dirs.length)];
    const rel = path.join(dir.rel, `f${String(i).padStart(5, '0')}.${kind === 'random' ? 'bin' : 'txt'}`);
    writeContent(ctx, path.join(root, rel), rel, sizes[i], kind);
    files.push(rel);
  }
  const pickDir = () => dirs[Math.floor(rand() * dirs.length)];
  const relLink = (fromDir, target) => path.relative(path.join(root, fromDir), path.join(root, target)) || '.';
  for (let i = 0; i < spec.symlinks; i++) {
    const dir = pickDir();
    const target = files[Math.floor(rand() * files.length)];
    fs.symlinkSync(relLink(dir.rel, target), path.join(root, dir.rel, `l${String(i).padStart(4, '0')}.lnk`));
    ctx.stats.symlinks++;
  }
  for (let i = 0; i < spec.dirSymlinks; i++) {
    const dir = pickDir();
    const target = pickDir();
    fs.symlinkSync(relLink(dir.rel, target.rel), path.join(root, dir.rel, `ld${String(i).padStart(3, '0')}.lnk`));
    ctx.stats.symlinks++;
  }
  for (let i = 0; i < spec.danglingSymlinks; i++) {
    const dir = pickDir();
    fs.symlinkSync(`missing-${i}`, path.join(root, dir.rel, `lx${String(i).padStart(3, '0')}.lnk`));
    ctx.stats.symlinks++;
  }
  for (let i = 0; i < spec.hardlinks; i++) {
    const dir = pickDir();
    const target = files[Math.floor(rand() * files.length)];
    fs.linkSync(path.join(root, target), path.join(root, dir.rel, `h${String(i).padStart(4, '0')}${path.extname(target)}`));
    ctx.stats.hardlinks++;
  }
}

const GENERATORS = { small: generateSmall, large: generateLarge, mixed: generateMixed, tiny: generateSmall };

function stampPath(dir, name) {
  return path.join(dir, `${name}.stamp.json`);
}

function wantedStamp(name, seed) {
  return { generator: GENERATOR_VERSION, name, seed, spec: SPECS[name] };
}

/** The stamp of an existing, complete tree that matches (name, seed), or null. */
export function readMatchingStamp(dir, name, seed) {
  try {
    const stamp = JSON.parse(fs.readFileSync(stampPath(dir, name), 'utf8'));
    const want = wantedStamp(name, seed);
    const same = stamp.generator === want.generator && stamp.seed === want.seed && JSON.stringify(stamp.spec) === JSON.stringify(want.spec);
    return same && fs.statSync(path.join(dir, name)).isDirectory() ? stamp : null;
  } catch {
    return null;
  }
}

let textCache = null;

/**
 * Makes sure tree `name` exists under `dir` for `seed`; generates it (into a
 * temporary directory, renamed into place, stamp written last) when not.
 * Returns the stamp.
 */
export function ensureTree(name, { seed = DEFAULT_SEED, dir = DEFAULT_TREES_DIR, force = false, log = console.error } = {}) {
  if (!SPECS[name]) throw new Error(`unknown tree ${JSON.stringify(name)} (known: ${ALL_TREE_NAMES.join(', ')})`);
  fs.mkdirSync(dir, { recursive: true });
  if (!force) {
    const stamp = readMatchingStamp(dir, name, seed);
    if (stamp) {
      log(`tree ${name}: up to date (seed ${seed}, ${stamp.stats.files} files, ${(stamp.stats.bytes / MiB).toFixed(0)} MiB)`);
      return stamp;
    }
  }
  const final = path.join(dir, name);
  const temp = path.join(dir, `.${name}.generating`);
  fs.rmSync(stampPath(dir, name), { force: true });
  fs.rmSync(final, { recursive: true, force: true });
  fs.rmSync(temp, { recursive: true, force: true });
  fs.mkdirSync(temp);
  if (!textCache || textCache.seed !== seed) textCache = { seed, fill: textSource(seed) };
  const ctx = {
    seed,
    text: textCache.fill,
    scratch: Buffer.alloc(CHUNK),
    stats: { files: 0, dirs: 1, symlinks: 0, hardlinks: 0, bytes: 0, randomBytes: 0, textBytes: 0 },
  };
  log(`tree ${name}: generating under ${final} (seed ${seed}) ...`);
  const started = performance.now();
  GENERATORS[name](ctx, temp, SPECS[name]);
  fs.renameSync(temp, final);
  const seconds = (performance.now() - started) / 1000;
  const stamp = { ...wantedStamp(name, seed), stats: ctx.stats, generatedAt: new Date().toISOString(), seconds: Number(seconds.toFixed(1)) };
  fs.writeFileSync(stampPath(dir, name), JSON.stringify(stamp, null, 2) + '\n');
  log(
    `tree ${name}: ${ctx.stats.files} files, ${ctx.stats.dirs} dirs, ${ctx.stats.symlinks} symlinks, ${ctx.stats.hardlinks} hard links, ` +
      `${(ctx.stats.bytes / MiB).toFixed(0)} MiB (${((100 * ctx.stats.randomBytes) / Math.max(1, ctx.stats.bytes)).toFixed(0)}% random) in ${seconds.toFixed(1)} s`,
  );
  return stamp;
}

async function main(argv) {
  const trees = [];
  let seed = DEFAULT_SEED;
  let dir = DEFAULT_TREES_DIR;
  let force = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--seed') seed = Number(argv[++i]);
    else if (a === '--dir') dir = path.resolve(argv[++i]);
    else if (a === '--force') force = true;
    else if (a === '-h' || a === '--help') {
      console.log('usage: node bench/generate.mjs [--seed N] [--dir DIR] [--force] [small|large|mixed|tiny]...');
      return 0;
    } else if (a.startsWith('-')) throw new Error(`unknown option ${a}`);
    else trees.push(a);
  }
  if (!Number.isSafeInteger(seed) || seed < 0) throw new Error('--seed takes a non-negative integer');
  for (const name of trees.length ? trees : TREE_NAMES) ensureTree(name, { seed, dir, force });
  return 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (err) => {
      console.error(`generate: ${err.message}`);
      process.exitCode = 2;
    },
  );
}
