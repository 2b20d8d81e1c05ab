import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');

describe('public API types', () => {
  // vitest's expectTypeOf is checked by the compiler, not at run time: compile the type tests.
  it('test/embed/types/public-api.ts compiles against the published declarations (expectTypeOf, @ts-expect-error)', () => {
    const r = spawnSync(path.join(root, 'node_modules/.bin/tsc'), ['-p', path.join(root, 'test/embed/types/tsconfig.json')], { encoding: 'utf8', cwd: root });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});
