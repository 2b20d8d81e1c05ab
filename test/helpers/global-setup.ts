import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The CLI tests run `bin/safebak`, which imports `dist/`: build it once
 * before any test file. tsc emits even when it reports type errors; those
 * are the typecheck's business (`npm run typecheck`), so they are shown but
 * only a build that leaves no fresh CLI behind stops the run.
 */
export default function setup(): void {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const started = Date.now();
  const r = spawnSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: root, encoding: 'utf8' });
  const main = path.join(root, 'dist', 'cli', 'main.js');
  if (r.status !== 0) process.stderr.write(`global setup: tsc reported problems (exit ${r.status}):\n${r.stdout}${r.stderr}`);
  if (!existsSync(main) || statSync(main).mtimeMs < started - 1000) {
    throw new Error(`global setup: building dist/ failed; ${main} is missing or stale`);
  }
}
