import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** The repository root, where `bin/safebak` lives. */
export const repoRoot = path.resolve(import.meta.dirname, '../..');

/**
 * A fresh directory under the system temp dir. `open` makes it enterable by
 * every user, for tests that run a child as `nobody`.
 */
export function makeTempDir(prefix: string, open = false): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), `safebak-${prefix}-`));
  if (open) chmodSync(dir, 0o755);
  return dir;
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
