import fs from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * The compiled script of a worker thread, `relative` to the module at
 * `from` (its import.meta.url), or null when there is none. Under the test
 * runner modules are TypeScript source, which a worker cannot load: the
 * built copy in dist/ stands in for the script then.
 */
export function findWorkerFile(relative: string, from: string): URL | null {
  const next = new URL(relative, from);
  const candidates = [next];
  if (from.endsWith('.ts')) {
    const built = next.pathname.replace(/\/src\/(?!.*\/src\/)/, '/dist/');
    if (built !== next.pathname) candidates.push(new URL(`file://${built}`));
  }
  return candidates.find((u) => fs.existsSync(fileURLToPath(u))) ?? null;
}
