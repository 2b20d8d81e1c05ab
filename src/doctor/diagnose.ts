import { randomBytes } from 'node:crypto';
import fs, { promises as fsp } from 'node:fs';
import path from 'node:path';
import {
  allocAligned,
  cloneToTmpfile,
  errnoCode,
  fsTypeName,
  getLease,
  loadNative,
  openDirect,
  pipe2,
  pipeMaxSize,
  preadDirect,
  setLease,
  splice,
  statfsType,
} from '../native/native.js';
import { describeSystemError, SafebakError } from '../errors.js';

/** One capability that `safebak doctor` checks, and what it found. */
export interface Check {
  name: 'native addon' | 'filesystem' | 'O_DIRECT' | 'splice' | 'reflinks' | 'leases' | 'pipe size';
  ok: boolean;
  /** What was found, in plain words: why it works, or why not. */
  detail: string;
}

export interface Diagnosis {
  path: string;
  checks: Check[];
  /** The strategies that can serve files under `path`, with copy always among them. */
  strategies: { copy: true; splice: boolean; snapshot: boolean };
}

/**
 * Finds out which transfer strategies work for files under `dir`, by trying
 * each capability on a probe file there (removed afterwards): the addon, the
 * filesystem, O_DIRECT reads, splicing, FICLONE reflinks, read leases and the
 * largest pipe. Nothing is assumed from the filesystem's name.
 */
export async function diagnose(dir: string): Promise<Diagnosis> {
  let stat: fs.Stats;
  try {
    stat = await fsp.stat(dir);
  } catch (err) {
    throw new SafebakError('SAFEBAK_USAGE', `cannot examine: ${describeSystemError(err)}`, { path: dir, cause: err });
  }
  const where = stat.isDirectory() ? dir : path.dirname(dir);
  const checks: Check[] = [];
  const native = loadNative();
  checks.push({ name: 'native addon', ok: native.addon !== null, detail: native.reason });
  if (native.addon === null) {
    const why = 'needs the native addon';
    for (const name of ['filesystem', 'O_DIRECT', 'splice', 'reflinks', 'leases', 'pipe size'] as const) checks.push({ name, ok: false, detail: why });
    return { path: where, checks, strategies: { copy: true, splice: false, snapshot: false } };
  }
  checks.push({ name: 'filesystem', ok: true, detail: fsTypeName(await statfsType(where)) });

  const probePath = path.join(where, `.safebak-doctor-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    await fsp.writeFile(probePath, Buffer.alloc(8192, 0x5a), { flag: 'wx', mode: 0o600 });
  } catch (err) {
    const why = `not checked: cannot write a probe file in ${where}: ${describeSystemError(err)}`;
    for (const name of ['O_DIRECT', 'splice', 'reflinks', 'leases'] as const) checks.push({ name, ok: false, detail: why });
    checks.push(pipeCheck());
    return { path: where, checks, strategies: { copy: true, splice: false, snapshot: false } };
  }
  try {
    const direct = await directCheck(probePath);
    checks.push(direct, await spliceCheck(probePath), await reflinkCheck(probePath, where), leaseCheck(probePath), pipeCheck());
    const reflink = checks.find((c) => c.name === 'reflinks')!.ok;
    const spliceOk = checks.find((c) => c.name === 'splice')!.ok;
    return { path: where, checks, strategies: { copy: true, splice: direct.ok && spliceOk, snapshot: spliceOk || reflink } };
  } finally {
    await fsp.rm(probePath, { force: true });
  }
}

async function directCheck(probePath: string): Promise<Check> {
  try {
    const fd = await openDirect(probePath);
    try {
      const buf = allocAligned(4096);
      const n = await preadDirect(fd, buf, 4096, 0, probePath);
      return { name: 'O_DIRECT', ok: n === 4096, detail: n === 4096 ? 'aligned reads bypass the page cache' : `short aligned read (${n} bytes)` };
    } finally {
      fs.closeSync(fd);
    }
  } catch (err) {
    return { name: 'O_DIRECT', ok: false, detail: `refused: ${describeSystemError(err)} (splice falls back to copy)` };
  }
}

async function spliceCheck(probePath: string): Promise<Check> {
  let fd = -1;
  let pipe: [number, number] | null = null;
  try {
    fd = fs.openSync(probePath, 'r');
    pipe = pipe2(false);
    const n = await splice(fd, 0, pipe[1], null, 4096, 0, probePath);
    return { name: 'splice', ok: n === 4096, detail: n === 4096 ? 'file → pipe splicing works' : `spliced ${n} of 4096 bytes` };
  } catch (err) {
    return { name: 'splice', ok: false, detail: `refused: ${describeSystemError(err)}` };
  } finally {
    if (fd >= 0) fs.closeSync(fd);
    if (pipe) for (const p of pipe) fs.closeSync(p);
  }
}

async function reflinkCheck(probePath: string, dir: string): Promise<Check> {
  const fd = fs.openSync(probePath, 'r');
  try {
    const clone = await cloneToTmpfile(fd, dir, probePath);
    fs.closeSync(clone);
    return { name: 'reflinks', ok: true, detail: 'FICLONE works: snapshots are reflink clones, instant and private' };
  } catch (err) {
    const code = errnoCode(err);
    const why = code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'EINVAL' || code === 'EXDEV' ? 'this filesystem cannot clone' : describeSystemError(err);
    return { name: 'reflinks', ok: false, detail: `${why}: snapshots are private copies instead` };
  } finally {
    fs.closeSync(fd);
  }
}

function leaseCheck(probePath: string): Check {
  const fd = fs.openSync(probePath, 'r');
  try {
    setLease(fd, 'read', probePath);
    const held = getLease(fd, probePath);
    setLease(fd, 'unlock', probePath);
    return { name: 'leases', ok: held === 'read', detail: 'read leases work on files this user owns (root: any file): a writer opening a file mid-transfer is seen' };
  } catch (err) {
    const code = errnoCode(err);
    const why = code === 'EACCES' || code === 'EPERM' ? 'refused: leases need file ownership or CAP_LEASE' : `refused: ${describeSystemError(err)}`;
    return { name: 'leases', ok: false, detail: `${why}; changes are still caught by stat and content checks` };
  } finally {
    fs.closeSync(fd);
  }
}

function pipeCheck(): Check {
  try {
    const max = pipeMaxSize();
    return { name: 'pipe size', ok: true, detail: `pipes can grow to ${max} bytes (/proc/sys/fs/pipe-max-size)` };
  } catch (err) {
    return { name: 'pipe size', ok: false, detail: describeSystemError(err) };
  }
}
