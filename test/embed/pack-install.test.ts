import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');
const example = path.join(import.meta.dirname, 'example');
// npm install compiles two native addons (ours and zstd-napi, offline) with node-gyp: about two
// minutes on two cores, over the default suite's budget. CI sets SAFEBAK_PACK_TEST=1 (.ci/run).
const enabled = process.env.SAFEBAK_PACK_TEST === '1';
let work = '';
afterAll(() => {
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): string {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

describe.skipIf(!enabled)('installing safebak from its own npm pack tarball (SAFEBAK_PACK_TEST=1)', () => {
  it('installs into an empty project, runs the JS example (create, verify, extract) and type-checks the TS example', () => {
    const started = Date.now();
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'safebak-pack-'));
    // dist/ is fresh (the global setup built it); prepare would rebuild it for nothing.
    const packed = run('npm', ['pack', '--ignore-scripts', '--pack-destination', work, '--json'], root);
    const tgz = path.join(work, (JSON.parse(packed) as { filename: string }[])[0]!.filename);
    const project = path.join(work, 'host');
    fs.mkdirSync(project);
    fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'host-backup', version: '1.0.0', private: true, type: 'module' }));
    for (const f of ['example.mjs', 'example.ts', 'tsconfig.json']) fs.copyFileSync(path.join(example, f), path.join(project, f));
    // Everything from the local npm cache; node-gyp builds against the system's Node headers.
    run('npm', ['install', tgz, '--prefer-offline', '--no-audit', '--no-fund'], project, { npm_config_nodedir: '/usr' });
    const installed = Date.now();
    expect(fs.existsSync(path.join(project, 'node_modules/safebak/dist/index.d.ts'))).toBe(true);
    const out = JSON.parse(run(process.execPath, ['example.mjs'], project).trim());
    expect(out).toEqual({ version: expect.any(String), created: 0, fileVerified: true, streamed: 0, verified: 0, extracted: true, code: 'SAFEBAK_USAGE' });
    // The host's own project may lack @types/node: lend it ours, as a host's dev setup would provide it.
    const tsconfig = JSON.parse(fs.readFileSync(path.join(project, 'tsconfig.json'), 'utf8'));
    tsconfig.compilerOptions.typeRoots = [path.join(project, 'node_modules/@types'), path.join(root, 'node_modules/@types')];
    fs.writeFileSync(path.join(project, 'tsconfig.json'), JSON.stringify(tsconfig));
    run(path.join(root, 'node_modules/.bin/tsc'), ['--noEmit', '-p', 'tsconfig.json'], project);
    console.log(`pack+install ${((installed - started) / 1000).toFixed(1)} s, example and tsc ${((Date.now() - installed) / 1000).toFixed(1)} s`);
  }, 600_000);
});
