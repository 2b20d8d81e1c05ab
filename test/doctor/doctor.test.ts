import { readdirSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, stderrLines } from '../helpers/cli.js';
import { makeTempDir, removeDir } from '../helpers/tmp-dir.js';

interface Diagnosis {
  path: string;
  checks: { name: string; ok: boolean; detail: string }[];
  strategies: { copy: boolean; splice: boolean; snapshot: boolean };
}

const dir = makeTempDir('doctor');
afterAll(() => removeDir(dir));

describe('safebak doctor', () => {
  it('tries each capability on a probe file and leaves nothing behind', async () => {
    const r = await runCli(['doctor', dir, '--json']);
    expect(r.status).toBe(0);
    const d = JSON.parse(r.stdout.toString()) as Diagnosis;
    const byName = new Map(d.checks.map((c) => [c.name, c]));
    expect([...byName.keys()].sort()).toEqual(['O_DIRECT', 'filesystem', 'leases', 'native addon', 'pipe size', 'reflinks', 'splice'].sort());
    expect(d.strategies.copy).toBe(true);
    if (byName.get('native addon')!.ok) {
      // The test machine's /tmp is ext4: O_DIRECT and splice work, FICLONE does not.
      expect(byName.get('filesystem')!.detail).toMatch(/^(ext4|xfs|btrfs|tmpfs|0x[0-9a-f]+)$/);
      expect(d.strategies.splice).toBe(byName.get('O_DIRECT')!.ok && byName.get('splice')!.ok);
      if (byName.get('filesystem')!.detail === 'ext4') expect(byName.get('reflinks')!.ok).toBe(false);
    } else {
      console.warn(`native addon unavailable here: ${byName.get('native addon')!.detail}`);
    }
    expect(readdirSync(dir)).toEqual([]);
  });

  it('says plainly that only copy works when the addon is disabled', async () => {
    const r = await runCli(['doctor', dir], { env: { ...process.env, SAFEBAK_NO_NATIVE: '1' } });
    expect(r.status).toBe(0);
    expect(r.stderr).toContain('SAFEBAK_NO_NATIVE=1');
    expect(stderrLines(r).at(-1)).toBe('safebak: strategies available here: copy');
  });

  it('exits 2 with one line for a path that does not exist', async () => {
    const r = await runCli(['doctor', `${dir}/missing`]);
    expect(r.status).toBe(2);
    expect(stderrLines(r)).toHaveLength(1);
    expect(r.stderr).toMatch(/missing: cannot examine: no such file or directory/);
  });
});
