import { randomBytes } from 'node:crypto';
import fs, { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import { fsyncDirectory } from '../archive/output.js';
import { SafebakError, ioError } from '../errors.js';
import { formatAge, parseDuration, subtractDuration } from './duration.js';

/** The lock's name inside the output directory. */
export const LOCK_NAME = '.safebak.lock';

/** What a lock file says about its holder. */
export interface LockOwner {
  pid: number;
  /** /proc/sys/kernel/random/boot_id: a pid from an earlier boot means nothing now. */
  bootId: string | null;
  /** The holder's start time in clock ticks since boot (/proc/PID/stat field 22): catches a recycled pid. */
  pidStart: string | null;
  host: string;
  /** When the lock was taken (ISO 8601). */
  since: string;
  command: string;
}

/** A held lock. `release()` is idempotent and removes the file only while it is still ours. */
export interface DirectoryLock {
  readonly path: string;
  readonly owner: LockOwner;
  /** Set when a stale lock was taken over: who held it. */
  readonly tookOverFrom: LockOwner | null;
  release(): Promise<void>;
  /** For exit paths that cannot await (a process 'exit' handler). */
  releaseSync(): void;
}

export interface LockOptions {
  logger?: Logger | undefined;
  command?: string | undefined;
}

/**
 * Takes the lock of an output directory: `.safebak.lock` created with O_EXCL,
 * holding the pid, boot id and process start time. A live holder makes this
 * reject with SAFEBAK_LOCKED ("locked by pid N since …") before anything is
 * touched; a dead holder's lock (pid gone, other boot, recycled pid) is taken
 * over with a warning.
 */
export async function acquireLock(directory: string, options: LockOptions = {}): Promise<DirectoryLock> {
  const lockPath = path.join(directory, LOCK_NAME);
  const log = options.logger?.child({ component: 'lock' });
  const owner: LockOwner = {
    pid: process.pid,
    bootId: readBootId(),
    pidStart: processStart(process.pid),
    host: os.hostname(),
    since: new Date().toISOString(),
    command: options.command ?? 'safebak',
  };
  const body = `${JSON.stringify(owner)}\n`;
  let tookOverFrom: LockOwner | null = null;
  for (let round = 0; round < 5; round++) {
    if (await createExclusive(lockPath, body)) return held(lockPath, owner, body, tookOverFrom);
    const text = await readLockText(lockPath);
    if (text === null) continue; // released between our create and read: try again
    const current = parseOwner(text);
    if (current !== null && isAlive(current)) throw new SafebakError('SAFEBAK_LOCKED', describeHolder(current, directory), { path: lockPath });
    const why = current === null ? 'unreadable' : staleReason(current);
    if (!(await removeIfUnchanged(lockPath, text))) continue;
    tookOverFrom = current;
    log?.warn({ lock: lockPath, previous: current, reason: why }, 'took over a stale lock');
  }
  throw new SafebakError('SAFEBAK_LOCKED', 'the lock keeps changing hands; another run is starting', { path: lockPath });
}

/** Who holds a lock, where and for how long, as one line. */
function holderLine(owner: LockOwner): string {
  const age = formatAge(Date.now() - new Date(owner.since).getTime());
  return `locked by pid ${owner.pid} since ${owner.since} (${owner.command} on ${owner.host}, held ${age})`;
}

/**
 * Why a live lock stops a run. Another host's lock cannot be judged from
 * here, so the line says how to clear it once that run is known to be gone.
 */
function describeHolder(owner: LockOwner, directory: string): string {
  return owner.host === os.hostname()
    ? `${holderLine(owner)}; not touching it`
    : `${holderLine(owner)}; another host's lock is never judged stale here: if that run is gone, \`safebak unlock ${directory}\` removes it (older than --older-than, default ${DEFAULT_UNLOCK_AGE}; or --force)`;
}

/** How old another host's lock must be before `safebak unlock` removes it without --force. */
export const DEFAULT_UNLOCK_AGE = '1d';

export interface UnlockOptions {
  /** Remove a lock only when it is older than this duration (default {@link DEFAULT_UNLOCK_AGE}); a dead local holder's lock goes at any age. */
  olderThan?: string | undefined;
  /** Remove any lock, even one of a live local process. */
  force?: boolean | undefined;
}

export interface UnlockResult {
  path: string;
  /** Whether a lock was removed. */
  removed: boolean;
  /** Who held it (null: no lock, or one that could not be parsed). */
  owner: LockOwner | null;
  /** Why it was (or was not) removed. */
  reason: string;
}

/**
 * Clears a directory's lock by hand, as restic's `unlock` does: a lock whose
 * local holder is gone is removed at any age; another host's lock (which a
 * run never takes over by itself) when it is older than `olderThan`; a live
 * local holder's, or a young foreign one, only with `force` — otherwise this
 * rejects with SAFEBAK_LOCKED and leaves it in place.
 */
export async function unlockDirectory(directory: string, options: UnlockOptions = {}): Promise<UnlockResult> {
  const lockPath = path.join(directory, LOCK_NAME);
  const text = await readLockText(lockPath);
  if (text === null) return { path: lockPath, removed: false, owner: null, reason: 'no lock' };
  const owner = parseOwner(text);
  const olderThan = options.olderThan ?? DEFAULT_UNLOCK_AGE;
  let reason: string;
  if (options.force === true) reason = 'removed with --force';
  else if (owner === null) reason = 'unreadable lock';
  else if (owner.host !== os.hostname()) {
    const since = new Date(owner.since);
    if (!(since <= subtractDuration(new Date(), parseDuration(olderThan)))) {
      throw new SafebakError('SAFEBAK_LOCKED', `${holderLine(owner)}: younger than ${olderThan}; not removed (--older-than, or --force)`, {
        path: lockPath,
      });
    }
    reason = `another host's lock, older than ${olderThan}`;
  } else if (isAlive(owner)) {
    throw new SafebakError('SAFEBAK_LOCKED', `${holderLine(owner)}: the process is alive; not removed (--force removes it anyway)`, {
      path: lockPath,
    });
  } else reason = `stale: ${staleReason(owner)}`;
  const removed = await removeIfUnchanged(lockPath, text);
  if (!removed) throw new SafebakError('SAFEBAK_LOCKED', 'the lock changed while it was being removed; another run took it', { path: lockPath });
  await fsyncDirectory(directory).catch(() => {});
  return { path: lockPath, removed: true, owner, reason };
}

/** Whether the lock's holder is still running. Exported for `safebak prune` and tests. */
export function isAlive(owner: LockOwner): boolean {
  return staleReason(owner) === '';
}

/** Why a lock is stale, or '' when its holder is alive. */
function staleReason(owner: LockOwner): string {
  if (owner.host !== os.hostname()) return ''; // another host's lock (shared storage): never ours to judge
  const boot = readBootId();
  if (owner.bootId !== null && boot !== null && owner.bootId !== boot) return 'left from an earlier boot';
  try {
    process.kill(owner.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return `pid ${owner.pid} is gone`;
  }
  const start = processStart(owner.pid);
  if (owner.pidStart !== null && start !== null && owner.pidStart !== start) return `pid ${owner.pid} now belongs to another process`;
  return '';
}

async function createExclusive(lockPath: string, body: string): Promise<boolean> {
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(lockPath, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o644);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw ioError(lockPath, err, 'cannot create the lock');
  }
  try {
    await fh.writeFile(body);
  } catch (err) {
    await fh.close().catch(() => {});
    await fsp.rm(lockPath, { force: true }).catch(() => {});
    throw ioError(lockPath, err, 'cannot write the lock');
  } finally {
    await fh.close().catch(() => {});
  }
  return true;
}

async function readLockText(lockPath: string): Promise<string | null> {
  try {
    return await fsp.readFile(lockPath, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw ioError(lockPath, err, 'cannot read the lock');
  }
}

function parseOwner(text: string): LockOwner | null {
  try {
    const v = JSON.parse(text) as LockOwner;
    return Number.isInteger(v.pid) && v.pid > 0 && typeof v.since === 'string' ? v : null;
  } catch {
    return null;
  }
}

/**
 * Removes a stale lock only if it still holds the text judged stale: it is
 * first renamed aside (atomic), so two runs taking over at once cannot
 * delete each other's fresh lock; a fresh one caught by mistake goes back.
 */
async function removeIfUnchanged(lockPath: string, staleText: string): Promise<boolean> {
  const aside = `${lockPath}.stale-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await fsp.rename(lockPath, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw ioError(lockPath, err, 'cannot take over the stale lock');
  }
  const text = await fsp.readFile(aside, 'utf8').catch(() => null);
  if (text === staleText) {
    await fsp.rm(aside, { force: true });
    return true;
  }
  // Someone else's fresh lock: put it back unless yet another one appeared.
  await fsp.link(aside, lockPath).catch(() => {});
  await fsp.rm(aside, { force: true });
  return false;
}

function held(lockPath: string, owner: LockOwner, body: string, tookOverFrom: LockOwner | null): DirectoryLock {
  let released = false;
  const stillOurs = (text: string | null): boolean => text === body;
  return {
    path: lockPath,
    owner,
    tookOverFrom,
    async release() {
      if (released) return;
      released = true;
      if (stillOurs(await fsp.readFile(lockPath, 'utf8').catch(() => null))) await fsp.rm(lockPath, { force: true }).catch(() => {});
    },
    releaseSync() {
      if (released) return;
      released = true;
      let text: string | null = null;
      try {
        text = fs.readFileSync(lockPath, 'utf8');
      } catch {
        return;
      }
      if (stillOurs(text)) fs.rmSync(lockPath, { force: true });
    },
  };
}

function readBootId(): string | null {
  try {
    return fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || null;
  } catch {
    return null;
  }
}

/** Field 22 of /proc/PID/stat (start time); the command name in field 2 may hold spaces and parentheses. */
function processStart(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19] ?? null;
  } catch {
    return null;
  }
}
