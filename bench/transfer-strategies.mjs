#!/usr/bin/env node
// Throughput of safebak's transfer strategies on one large file, as ratios
// against GNU tar in the same run: to a .tar file and into a pipe (read by cat).
//
//   npx tsc -p tsconfig.json     # measures dist/
//   node bench/transfer-strategies.mjs SRC_DIR OUT_DIR [warm|cold] [copy splice snapshot ...]
//
// SRC_DIR/big.bin is made (1 GiB from /dev/urandom) when missing. `cold`
// drops the page cache before every run (root). Put SRC_DIR on a loop-mounted
// xfs (reflink=1) to measure snapshot with clones; elsewhere it makes a private copy.
import { execSync, spawn } from 'node:child_process';
import { closeSync, createWriteStream, existsSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dist = new URL('../dist/', import.meta.url);
const { createArchive } = await import(new URL('create/create-archive.js', dist).href);
const { pipe2 } = await import(new URL('native/native.js', dist).href);

const [srcDir, outDir, mode = 'warm', ...given] = process.argv.slice(2);
if (!srcDir || !outDir) {
  console.error('usage: node bench/transfer-strategies.mjs SRC_DIR OUT_DIR [warm|cold] [strategy...]');
  process.exit(2);
}
const strategies = given.length ? given : ['copy', 'splice', 'snapshot'];
const big = join(srcDir, 'big.bin');
if (!existsSync(big)) execSync(`head -c 1G /dev/urandom > ${big} && sync`);
const bytes = statSync(big).size;

function prepare() {
  if (mode === 'cold') writeFileSync('/proc/sys/vm/drop_caches', '3');
  else execSync(`cat ${big} > /dev/null`);
}
const since = (t) => Number(process.hrtime.bigint() - t) / 1e9;
const used = (res) => Object.entries(res.strategies).filter(([, n]) => n).map(([k]) => k).join(',');

async function toFile(strategy) {
  const out = join(outDir, `bench-${strategy}.tar`);
  const t = process.hrtime.bigint();
  const res = await createArchive({ sources: ['big.bin'], cwd: srcDir, output: out, strategy, compress: 'none', verify: false });
  const s = since(t);
  rmSync(out);
  return { s, used: used(res) };
}

async function toPipe(strategy) {
  const [r, w] = pipe2(false);
  const reader = spawn('cat', [], { stdio: [r, 'ignore', 'inherit'] });
  closeSync(r);
  const t = process.hrtime.bigint();
  const res = await createArchive({ sources: ['big.bin'], cwd: srcDir, output: createWriteStream('', { fd: w }), strategy, compress: 'none' });
  await new Promise((ok) => reader.once('exit', ok));
  return { s: since(t), used: used(res) };
}

function shell(cmd) {
  const t = process.hrtime.bigint();
  execSync(cmd, { shell: '/bin/bash' });
  return since(t);
}

const rows = [];
const mbs = (s) => (bytes / s / 1e6).toFixed(0);
for (const rep of [1, 2]) {
  prepare();
  const tarFile = shell(`tar -cf ${outDir}/gnu.tar -C ${srcDir} big.bin && sync -f ${outDir}/gnu.tar`);
  rmSync(join(outDir, 'gnu.tar'));
  prepare();
  const tarPipe = shell(`tar -cf - -C ${srcDir} big.bin | cat > /dev/null`);
  rows.push({ rep, strategy: 'tar -cf', used: '', fileMBs: mbs(tarFile), fileVsTar: '1.00', pipeMBs: mbs(tarPipe), pipeVsTar: '1.00' });
  for (const strategy of strategies) {
    prepare();
    const f = await toFile(strategy);
    prepare();
    const p = await toPipe(strategy);
    rows.push({
      rep,
      strategy,
      used: `${f.used}/${p.used}`,
      fileMBs: mbs(f.s),
      fileVsTar: (tarFile / f.s).toFixed(2),
      pipeMBs: mbs(p.s),
      pipeVsTar: (tarPipe / p.s).toFixed(2),
    });
  }
}
console.log(`${bytes} bytes, ${mode} cache, source ${srcDir}, load average ${execSync('cut -d" " -f1-3 /proc/loadavg').toString().trim()}`);
console.table(rows);
