#!/usr/bin/env node
// Benchmark runner: safebak against its GNU tar / zstd baseline, alternately
// in one series per pair of commands (warm-up A, B; then A B A B …), so that
// a shared machine's load drifts hit both sides alike and the per-pair ratio
// is what counts. See bench/README.md.
//
//   npm run bench -- [--pairs N] [--json FILE] [--seed N] [--only PAIR,...]
//                    [--safebak PATH] [--profile] [TREE...]
import { spawn, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ALL_TREE_NAMES, BENCH_ROOT, DEFAULT_SEED, DEFAULT_TREES_DIR, TREE_NAMES, ensureTree } from './generate.mjs';
import { summarize, seconds, mib, ratio } from './lib/stats.mjs';
import { analyzeProfileDir, formatProfile } from './lib/cpuprofile.mjs';

const REPO = path.dirname(BENCH_ROOT);
const OUT_DIR = process.env.SAFEBAK_BENCH_OUT ? path.resolve(process.env.SAFEBAK_BENCH_OUT) : path.join(BENCH_ROOT, 'out');
const TIME = '/usr/bin/time';
// Archives being measured; per process, so that two runs sharing OUT_DIR never delete each other's files.
const WORK_DIR = path.join(OUT_DIR, `work-${process.pid}`);
const RSS_LIMIT_KIB = 256 * 1024;
// The recent-change window of safebak's content re-check (config recentSeconds, 5 s) plus margin:
// a tree younger than this would be re-hashed for being fresh, not measured as a nightly run sees it.
const SETTLE_SECONDS = 10;

/** The issue's targets: median per-pair ratio safebak / baseline. */
const TARGETS = {
  large: { 'create-tar': 1.2, 'create-zst': 1.2, 'verify-zst': 1.5 },
  mixed: { 'create-tar': 1.3, 'create-zst': 1.2, 'verify-zst': 1.5 },
  small: { 'create-tar': 1.5, 'create-zst': 1.3, 'verify-zst': 1.5 },
};

const PAIR_NAMES = ['create-tar', 'create-zst', 'verify-zst'];
const PAIR_TITLES = {
  'create-tar': "create `.tar` vs `tar -W -cf`",
  'create-zst': "create `.tar.zst` vs `tar -I 'zstd -3 -T0' -cf`",
  'verify-zst': 'verify `.tar.zst` vs `zstd -t`',
};

function usage() {
  return `usage: npm run bench -- [options] [TREE...]     (TREE: ${TREE_NAMES.join(', ')}; default all three; tiny: a smoke test)

  --pairs N        timed A/B pairs per series after one untimed warm-up of each (default 5, at least 1)
  --only P,...     run only these pairs: ${PAIR_NAMES.join(', ')}
  --json FILE      also write every sample and the summary as JSON to FILE
  --seed N         tree seed (default ${DEFAULT_SEED})
  --safebak PATH   the safebak executable to measure (default: a frozen copy of this checkout's build)
  --report FILE    print the tables of a saved JSON result again (no runs)
  --live           measure bin/safebak of this checkout in place, even if dist/ is rebuilt mid-run
  --profile        instead of timing: run safebak create (.tar and .tar.zst) of each TREE once under
                   node --cpu-prof and print the top 25 functions by self time (default tree: small)

environment: SAFEBAK_BENCH_DIR (trees; default bench/trees), SAFEBAK_BENCH_OUT (archives, profiles; default bench/out)`;
}

function parseArgs(argv) {
  const opts = { pairs: 5, json: null, seed: DEFAULT_SEED, only: PAIR_NAMES, safebak: null, live: false, profile: false, trees: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--pairs') opts.pairs = Number(value());
    else if (a === '--json') opts.json = path.resolve(value());
    else if (a === '--seed') opts.seed = Number(value());
    else if (a === '--only') opts.only = value().split(',');
    else if (a === '--safebak') opts.safebak = path.resolve(value());
    else if (a === '--live') opts.live = true;
    else if (a === '--report') opts.report = path.resolve(value());
    else if (a === '--profile') opts.profile = true;
    else if (a === '-h' || a === '--help') opts.help = true;
    else if (a.startsWith('-')) throw new Error(`unknown option ${a}\n${usage()}`);
    else opts.trees.push(a);
  }
  if (!Number.isInteger(opts.pairs) || opts.pairs < 1) throw new Error('--pairs takes a positive integer');
  for (const p of opts.only) if (!PAIR_NAMES.includes(p)) throw new Error(`unknown pair ${p} (known: ${PAIR_NAMES.join(', ')})`);
  for (const t of opts.trees) if (!ALL_TREE_NAMES.includes(t)) throw new Error(`unknown tree ${t} (known: ${ALL_TREE_NAMES.join(', ')})`);
  if (opts.trees.length === 0) opts.trees = opts.profile ? ['small'] : [...TREE_NAMES];
  return opts;
}

function loadavg() {
  return os.loadavg().map((x) => Number(x.toFixed(2)));
}

function git(...args) {
  try {
    return execFileSync('git', args, { cwd: REPO, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

/** A hash of the built JavaScript actually measured: src/ may be ahead of or behind dist/. */
function distHash() {
  const dist = path.join(REPO, 'dist');
  if (!fs.existsSync(dist)) return null;
  const files = fs.readdirSync(dist, { recursive: true }).filter((f) => f.endsWith('.js')).sort();
  const h = createHash('sha256');
  for (const f of files) h.update(f).update('\0').update(fs.readFileSync(path.join(dist, f)));
  // The executable too: its shebang carries Node flags that change what is measured.
  h.update('bin/safebak\0').update(fs.readFileSync(path.join(REPO, 'bin', 'safebak')));
  return h.digest('hex').slice(0, 12);
}

function provenance() {
  const dirty = git('status', '--porcelain', '--', 'src', 'bin', 'binding.gyp', 'package.json');
  return {
    date: new Date().toISOString(),
    commit: git('rev-parse', 'HEAD'),
    srcDirty: dirty === null ? null : dirty.length > 0,
    distHash: distHash(),
    node: process.version,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? null,
    memGiB: Number((os.totalmem() / 2 ** 30).toFixed(1)),
    kernel: os.release(),
    tar: execText('tar', ['--version']).split('\n')[0] || null,
    zstd: execText('zstd', ['--version']).trim() || null,
  };
}

function execText(cmd, args) {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return '';
  }
}

/**
 * A frozen copy of this checkout's build (bin, dist, config, package.json,
 * binding.gyp, the native addon; node_modules linked), so that a rebuild of
 * dist/ by someone else during a long run does not mix two builds into one
 * series. Keyed by the dist hash; reused when it already exists.
 */
function snapshotBuild() {
  const hash = distHash();
  const dir = path.join(OUT_DIR, 'snapshot', hash);
  const bin = path.join(dir, 'bin', 'safebak');
  if (fs.existsSync(path.join(dir, '.complete'))) return { bin, hash, dir };
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  for (const item of ['bin', 'dist', 'config', 'package.json', 'binding.gyp']) {
    const from = path.join(REPO, item);
    if (fs.existsSync(from)) fs.cpSync(from, path.join(dir, item), { recursive: true });
  }
  for (const config of ['Release', 'Debug']) {
    const addon = path.join(REPO, 'build', config, 'safebak_native.node');
    if (fs.existsSync(addon)) {
      fs.mkdirSync(path.join(dir, 'build', config), { recursive: true });
      fs.copyFileSync(addon, path.join(dir, 'build', config, 'safebak_native.node'));
    }
  }
  fs.symlinkSync(path.join(REPO, 'node_modules'), path.join(dir, 'node_modules'));
  // dist/ may have been rewritten while it was copied: then the copy is not one build.
  if (distHash() !== hash) throw new Error('dist/ changed while it was being copied; run again');
  fs.writeFileSync(path.join(dir, '.complete'), '');
  return { bin, hash, dir };
}

/** Empties a directory without removing it (outputs of the previous run, safebak's temp files). */
function emptyDir(dir) {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
}

/**
 * Runs one command under /usr/bin/time and returns its wall time (measured
 * here, with hrtime) and its peak RSS (GNU time's %M: the largest resident set
 * of the process or of any descendant it waited for, in KiB).
 */
function timed(cmd, args, { cwd = REPO } = {}) {
  // Per process: a --profile run may share OUT_DIR with a timing run.
  const rssFile = path.join(OUT_DIR, `.rss-${process.pid}`);
  const errFile = path.join(OUT_DIR, `.stderr-${process.pid}`);
  fs.rmSync(rssFile, { force: true });
  const errFd = fs.openSync(errFile, 'w');
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(TIME, ['-f', '%M', '-o', rssFile, cmd, ...args], { cwd, stdio: ['ignore', 'ignore', errFd] });
    child.on('error', (err) => {
      fs.closeSync(errFd);
      reject(err);
    });
    child.on('close', (code, signal) => {
      const wall = Number(process.hrtime.bigint() - started) / 1e9;
      fs.closeSync(errFd);
      let rssKiB = NaN;
      try {
        // GNU time prefixes "Command exited with non-zero status N" when it did.
        const lines = fs.readFileSync(rssFile, 'utf8').trim().split('\n');
        rssKiB = Number(lines[lines.length - 1]);
      } catch {}
      const stderr = fs.readFileSync(errFile, 'utf8');
      resolve({ wall, rssKiB, exit: signal ? `signal ${signal}` : code, stderrTail: stderr.split('\n').slice(-8).join('\n').trim() });
    });
  });
}

/** The two commands of each pair for one tree; `prepare` runs (untimed) before every run of either side. */
function pairsFor(tree, opts, treesDir) {
  const work = WORK_DIR;
  const input = path.join(OUT_DIR, `verify-input-${process.pid}`, `${tree}.tar.zst`);
  // Run as users run it: the executable itself, so that its shebang's Node flags apply.
  const sb = (...args) => ({ cmd: opts.safebak, args });
  const clean = () => emptyDir(work);
  return {
    'create-tar': {
      a: { label: `safebak create -o ${tree}.tar`, ...sb('create', '-o', path.join(work, `${tree}.tar`), '-C', treesDir, tree) },
      b: { label: `tar -W -cf ${tree}.tar`, cmd: 'tar', args: ['-W', '-cf', path.join(work, `${tree}.gnu.tar`), '-C', treesDir, tree] },
      prepare: clean,
    },
    'create-zst': {
      a: { label: `safebak create -o ${tree}.tar.zst`, ...sb('create', '-o', path.join(work, `${tree}.tar.zst`), '-C', treesDir, tree) },
      b: { label: `tar -I 'zstd -3 -T0' -cf ${tree}.tar.zst`, cmd: 'tar', args: ['-I', 'zstd -3 -T0', '-cf', path.join(work, `${tree}.gnu.tar.zst`), '-C', treesDir, tree] },
      prepare: clean,
    },
    'verify-zst': {
      a: { label: `safebak verify ${tree}.tar.zst`, ...sb('verify', input) },
      b: { label: `zstd -t ${tree}.tar.zst`, cmd: 'zstd', args: ['-q', '-t', input] },
      prepare: () => {},
      // Both sides read the same safebak-made archive, written once, untimed.
      setup: async () => {
        fs.mkdirSync(path.dirname(input), { recursive: true });
        fs.rmSync(input, { force: true });
        const r = await timed(opts.safebak, ['create', '-o', input, '-C', treesDir, tree]);
        if (r.exit !== 0) throw new Error(`making the verify input failed (exit ${r.exit}):\n${r.stderrTail}`);
      },
    },
  };
}

function walls(runs) {
  return runs.map((r) => r.wall);
}

// A failed run (any non-zero exit: the trees are static, so even safebak's
// "finished, some files flagged" is wrong here, and an uncaught exception also
// exits 1) does not count; its round is run again, up to this many times per series.
const MAX_FAILED_ROUNDS = 3;

async function runSide(side, prepare) {
  prepare();
  const r = await timed(side.cmd, side.args);
  if (r.exit !== 0) console.log(`    FAILED: ${side.label} exited ${r.exit}\n${r.stderrTail.replace(/^/gm, '      ')}`);
  return r;
}

/** One round (A then B), repeated while either side fails, until MAX_FAILED_ROUNDS. */
async function runRound(pair, failures) {
  for (;;) {
    const ra = await runSide(pair.a, pair.prepare);
    const rb = await runSide(pair.b, pair.prepare);
    if (ra.exit === 0 && rb.exit === 0) return [ra, rb];
    failures.count++;
    if (failures.count >= MAX_FAILED_ROUNDS) throw new Error(`${failures.count} rounds failed (last: A exit ${ra.exit}, B exit ${rb.exit})`);
    console.log('    round discarded; running it again');
  }
}

async function runSeries(tree, name, pair, pairs) {
  console.log(`\n[${tree}] ${name}: A = ${pair.a.label}  |  B = ${pair.b.label}`);
  if (pair.setup) await pair.setup();
  const failures = { count: 0 };
  const [wa, wb] = await runRound(pair, failures);
  console.log(`  warm-up   A ${seconds(wa.wall).padStart(8)} ${mib(wa.rssKiB).padStart(8)}   B ${seconds(wb.wall).padStart(8)} ${mib(wb.rssKiB).padStart(8)}`);
  const a = [];
  const b = [];
  for (let i = 0; i < pairs; i++) {
    const [ra, rb] = await runRound(pair, failures);
    a.push(ra);
    b.push(rb);
    console.log(
      `  pair ${String(i + 1).padStart(2)}   A ${seconds(ra.wall).padStart(8)} ${mib(ra.rssKiB).padStart(8)}   B ${seconds(rb.wall).padStart(8)} ${mib(rb.rssKiB).padStart(8)}   A/B ${ratio(ra.wall / rb.wall)}   load ${os.loadavg()[0].toFixed(1)}`,
    );
  }
  pair.prepare();
  const ratios = a.map((r, i) => r.wall / b[i].wall);
  const result = {
    a: { command: [pair.a.cmd, ...pair.a.args].join(' '), wall: a.map((r) => r.wall), rssKiB: a.map((r) => r.rssKiB), exit: a.map((r) => r.exit), warmup: wa.wall },
    b: { command: [pair.b.cmd, ...pair.b.args].join(' '), wall: b.map((r) => r.wall), rssKiB: b.map((r) => r.rssKiB), exit: b.map((r) => r.exit), warmup: wb.wall },
    ratios,
    failedRounds: failures.count,
    ratio: summarize(ratios),
    aWall: summarize(walls(a)),
    bWall: summarize(walls(b)),
    aPeakRssKiB: Math.max(...a.map((r) => r.rssKiB), wa.rssKiB),
    bPeakRssKiB: Math.max(...b.map((r) => r.rssKiB), wb.rssKiB),
  };
  console.log(
    `  => A median ${seconds(result.aWall.median)}, B median ${seconds(result.bWall.median)}, ratio median ${ratio(result.ratio.median)} (${ratio(result.ratio.min)}–${ratio(result.ratio.max)}), peak RSS A ${mib(result.aPeakRssKiB)} B ${mib(result.bPeakRssKiB)}`,
  );
  return result;
}

async function waitUntilSettled(stamp) {
  const ageSeconds = (Date.now() - Date.parse(stamp.generatedAt)) / 1000;
  if (ageSeconds < SETTLE_SECONDS) {
    const wait = Math.ceil(SETTLE_SECONDS - ageSeconds);
    console.log(`  (tree generated ${ageSeconds.toFixed(0)} s ago: waiting ${wait} s so no file counts as recently changed)`);
    await new Promise((r) => setTimeout(r, wait * 1000));
  }
}

function writeJson(file, results) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file + '.tmp', JSON.stringify(results, null, 2) + '\n');
  fs.renameSync(file + '.tmp', file);
}

function mark(value, target) {
  if (!Number.isFinite(value) || target === undefined) return '';
  return value <= target ? 'PASS' : 'MISS';
}

function report(results, opts) {
  const lines = [];
  const trees = Object.keys(results.trees);
  lines.push(`### Targets: median per-pair ratio safebak / baseline (min–max), ${opts.pairs} pairs`);
  lines.push('');
  lines.push(`| tree | ${opts.only.map((p) => PAIR_TITLES[p]).join(' | ')} |`);
  lines.push(`|---|${opts.only.map(() => '---').join('|')}|`);
  for (const tree of ['large', 'mixed', 'small', 'tiny'].filter((t) => trees.includes(t))) {
    const cells = opts.only.map((p) => {
      const r = results.trees[tree].pairs[p];
      if (!r) return 'not run';
      if (r.error) return `failed: ${r.error}`;
      const target = TARGETS[tree]?.[p];
      return `**${ratio(r.ratio.median)}** (${ratio(r.ratio.min)}–${ratio(r.ratio.max)})${target === undefined ? '' : ` ≤ ${target} ${mark(r.ratio.median, target)}`}`;
    });
    lines.push(`| ${tree} | ${cells.join(' | ')} |`);
  }
  lines.push('');
  lines.push('### Wall time (median) and peak RSS (largest over warm-up and pairs)');
  lines.push('');
  lines.push('| tree | pair | safebak | baseline | ratio (min–max) | safebak RSS | baseline RSS | RSS ≤ 256 MiB |');
  lines.push('|---|---|---:|---:|---|---:|---:|---|');
  for (const tree of trees) {
    for (const p of opts.only) {
      const r = results.trees[tree].pairs[p];
      if (!r || r.error) continue;
      lines.push(
        `| ${tree} | ${p} | ${seconds(r.aWall.median)} | ${seconds(r.bWall.median)} | ${ratio(r.ratio.median)} (${ratio(r.ratio.min)}–${ratio(r.ratio.max)}) | ${mib(r.aPeakRssKiB)} | ${mib(r.bPeakRssKiB)} | ${r.aPeakRssKiB <= RSS_LIMIT_KIB ? 'PASS' : 'MISS'} |`,
      );
    }
  }
  lines.push('');
  const p = results.provenance;
  lines.push(
    `Measured ${p.date} on ${p.cpus} × ${p.cpuModel}, ${p.memGiB} GiB, Linux ${p.kernel}, Node ${p.node}; commit ${p.commit?.slice(0, 12)}` +
      `${p.srcDirty ? ' (src/ had uncommitted changes)' : ''}, dist ${p.distHash}, measured: ${p.safebak}; load average before ${results.loadBefore.join(' ')}, after ${results.loadAfter.join(' ')}.`,
  );
  return lines.join('\n');
}

async function profile(opts, treesDir) {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  for (const tree of opts.trees) {
    await waitUntilSettled(ensureTree(tree, { seed: opts.seed, dir: treesDir }));
    for (const ext of ['tar', 'tar.zst']) {
      const dir = path.join(OUT_DIR, 'profile', `${tree}-${ext.replace('.', '-')}-${stamp}`);
      fs.mkdirSync(dir, { recursive: true });
      const work = WORK_DIR;
      emptyDir(work);
      console.log(`\n## CPU profile: safebak create -o ${tree}.${ext} (${dir})`);
      const r = await timed(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${dir}`, opts.safebak, 'create', '-o', path.join(work, `${tree}.${ext}`), '-C', treesDir, tree]);
      emptyDir(work);
      console.log(`wall ${seconds(r.wall)} (under the profiler), peak RSS ${mib(r.rssKiB)}, exit ${r.exit}${r.exit ? `\n${r.stderrTail}` : ''}`);
      console.log(formatProfile(analyzeProfileDir(dir, { limit: 25, repoRoot: REPO })));
    }
  }
}

async function main(argv) {
  const opts = parseArgs(argv);
  if (opts.help) {
    console.log(usage());
    return 0;
  }
  if (opts.report) {
    const saved = JSON.parse(fs.readFileSync(opts.report, 'utf8'));
    saved.loadAfter ??= ['?'];
    const only = PAIR_NAMES.filter((p) => Object.values(saved.trees).some((t) => t.pairs[p]));
    console.log(report(saved, { pairs: saved.pairs, only }));
    return 0;
  }
  if (!fs.existsSync(TIME)) throw new Error(`${TIME} is missing: peak RSS is read from GNU time (apt-get install -y time)`);
  const treesDir = DEFAULT_TREES_DIR;
  fs.mkdirSync(OUT_DIR, { recursive: true });
  let measured;
  if (opts.safebak) measured = `${opts.safebak} (given with --safebak)`;
  else {
    if (!fs.existsSync(path.join(REPO, 'dist', 'cli', 'main.js'))) throw new Error('dist/ is not built: run npx tsc -p tsconfig.json first');
    if (opts.live) {
      opts.safebak = path.join(REPO, 'bin', 'safebak');
      measured = `${opts.safebak} (live checkout)`;
    } else {
      const snap = snapshotBuild();
      opts.safebak = snap.bin;
      measured = `a frozen copy of dist ${snap.hash} (${path.relative(REPO, snap.dir)})`;
    }
  }
  if (!fs.existsSync(opts.safebak)) throw new Error(`no safebak at ${opts.safebak}`);
  if (opts.profile) {
    await profile(opts, treesDir);
    fs.rmSync(WORK_DIR, { recursive: true, force: true });
    for (const f of [`.rss-${process.pid}`, `.stderr-${process.pid}`]) fs.rmSync(path.join(OUT_DIR, f), { force: true });
    return 0;
  }

  const results = { provenance: { ...provenance(), safebak: measured }, seed: opts.seed, pairs: opts.pairs, loadBefore: loadavg(), trees: {}, loadAfter: null };
  console.log(`safebak bench: trees ${opts.trees.join(', ')}; pairs ${opts.only.join(', ')}; ${opts.pairs} timed pairs each after a warm-up`);
  console.log(`commit ${results.provenance.commit?.slice(0, 12)}${results.provenance.srcDirty ? ' + uncommitted src/' : ''}, dist ${results.provenance.distHash}, node ${process.version}, ${os.cpus().length} CPUs`);
  const jsonPath = opts.json ?? path.join(OUT_DIR, `bench-${results.provenance.date.replace(/[:.]/g, '-')}.json`);
  console.log(`measuring ${measured}`);
  console.log(`load average before: ${results.loadBefore.join(' ')}`);
  for (const tree of opts.trees) {
    const stamp = ensureTree(tree, { seed: opts.seed, dir: treesDir, log: (m) => console.log(m) });
    await waitUntilSettled(stamp);
    const entry = { stats: stamp.stats, distHash: opts.live ? distHash() : undefined, commit: git('rev-parse', 'HEAD'), loadBefore: loadavg(), pairs: {}, loadAfter: null };
    results.trees[tree] = entry;
    const pairs = pairsFor(tree, opts, treesDir);
    for (const name of opts.only) {
      try {
        entry.pairs[name] = await runSeries(tree, name, pairs[name], opts.pairs);
      } catch (err) {
        entry.pairs[name] = { error: err.message.split('\n')[0] };
        console.log(`  series failed: ${err.message}`);
      }
      // Written after every series, so an interrupted run keeps what it measured.
      writeJson(jsonPath, results);
    }
    entry.loadAfter = loadavg();
    // Others may rebuild dist/ while a long run goes on: say so rather than mix two builds silently.
    const distAfter = distHash();
    if (opts.live && distAfter !== entry.distHash) {
      entry.distHashAfter = distAfter;
      console.log(`  WARNING: dist/ changed during the ${tree} series (${entry.distHash} -> ${distAfter}): its samples mix two builds`);
    }
    console.log(`[${tree}] load average before ${entry.loadBefore.join(' ')}, after ${entry.loadAfter.join(' ')}`);
  }
  fs.rmSync(path.join(OUT_DIR, `verify-input-${process.pid}`), { recursive: true, force: true });
  fs.rmSync(WORK_DIR, { recursive: true, force: true });
  for (const f of [`.rss-${process.pid}`, `.stderr-${process.pid}`]) fs.rmSync(path.join(OUT_DIR, f), { force: true });
  results.loadAfter = loadavg();
  console.log(`\nload average after: ${results.loadAfter.join(' ')}\n`);
  console.log(report(results, opts));
  writeJson(jsonPath, results);
  console.log(`\nsamples and summary: ${path.relative(process.cwd(), jsonPath) || jsonPath}`);
  const failed = Object.values(results.trees).some((t) => Object.values(t.pairs).some((p) => p.error));
  return failed ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (err) => {
    console.error(`bench: ${err.message}`);
    process.exitCode = 2;
  },
);
