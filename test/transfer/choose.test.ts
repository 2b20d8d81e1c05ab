import { describe, expect, it } from 'vitest';

import { chooseStrategy } from '../../src/transfer/choose.js';
import type { ChoiceInput } from '../../src/transfer/choose.js';

const base: ChoiceInput = {
  requested: 'auto',
  size: 10 * 1024 * 1024,
  hot: false,
  attempt: 1,
  nativeMissing: null,
  rawMissing: null,
  direct: true,
  reflink: false,
  smallFileBytes: 262_144,
  spliceMinBytes: 8 * 1024 * 1024,
};
const pick = (over: Partial<ChoiceInput>): string => chooseStrategy({ ...base, ...over }).strategy;

describe('chooseStrategy (DESIGN §5)', () => {
  it('auto: copy below smallFileBytes, splice above on a raw output where O_DIRECT opens', () => {
    expect(pick({ size: 1000 })).toBe('copy');
    expect(pick({})).toBe('splice');
    expect(pick({ direct: false })).toBe('copy');
    expect(pick({ size: 1024 * 1024 })).toBe('copy');
  });
  it('auto: into a raw file output copies large files (O_DIRECT reads lose to the page cache there)', () => {
    expect(pick({ rawKind: 'pipe' })).toBe('splice');
    expect(pick({ rawKind: 'file' })).toBe('copy');
    expect(chooseStrategy({ ...base, rawKind: 'file' }).reason).toMatch(/file output/);
    expect(pick({ rawKind: 'file', reflink: true })).toBe('snapshot');
  });
  it('auto: snapshot where the filesystem clones and the file is large or hot', () => {
    expect(pick({ reflink: true })).toBe('snapshot');
    expect(pick({ reflink: true, hot: true })).toBe('snapshot');
    expect(pick({ reflink: false, hot: true })).toBe('copy');
  });
  it('auto: compressed output copies unless a reflink is free', () => {
    expect(pick({ rawMissing: 'zstd' })).toBe('copy');
    expect(pick({ rawMissing: 'zstd', reflink: true })).toBe('snapshot');
  });
  it('auto: a retry escalates to a clone where there is one, else to copy', () => {
    expect(pick({ attempt: 2 })).toBe('copy');
    expect(pick({ attempt: 2, reflink: true })).toBe('snapshot');
  });
  it('forced strategies fall back to copy with the reason when they cannot serve', () => {
    expect(chooseStrategy({ ...base, requested: 'splice', rawMissing: 'the output is zstd-compressed' })).toEqual({
      strategy: 'copy',
      reason: '--strategy splice fell back to copy: no raw output (the output is zstd-compressed)',
    });
    expect(chooseStrategy({ ...base, requested: 'splice', direct: false }).reason).toMatch(/refuses O_DIRECT/);
    expect(chooseStrategy({ ...base, requested: 'snapshot', nativeMissing: 'off' }).strategy).toBe('copy');
    expect(pick({ requested: 'splice', size: 10 })).toBe('splice');
    expect(pick({ requested: 'snapshot', rawMissing: 'zstd' })).toBe('snapshot');
  });
  it('a hot file says so in the reason whatever is chosen', () => {
    expect(chooseStrategy({ ...base, hot: true, requested: 'copy' }).reason).toMatch(/^hot/);
    expect(chooseStrategy({ ...base, hot: true, size: 10 }).reason).toMatch(/^hot/);
  });
});
