import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import { MANIFEST_FORMAT, SEGMENT_NAME } from '../archive/manifest.js';
import type { HeaderRecord } from '../archive/manifest.js';
import { fsyncDirectory } from '../archive/output.js';
import { readArchive } from '../archive/read-archive.js';
import { describeSystemError, ExitStatus, SafebakError, ioError } from '../errors.js';
import { verifyArchive } from '../verify/verify-archive.js';
import type { VerifyResult } from '../verify/verify-archive.js';
import { parseDuration, subtractDuration } from './duration.js';
import { DEFAULT_TEMPLATE, templatePattern } from './output-name.js';
import { hasRetentionRule } from './retention-rules.js';
import type { RetentionRules } from './retention-rules.js';

export type { RetentionRules } from './retention-rules.js';

export interface PruneOptions extends Partial<RetentionRules> {
  /** The output template whose archives are pruned (its file-name shape); default `{host}-{date}-{time}.tar.zst`. */
  template?: string | undefined;
  /** The job whose archives may be deleted: only archives whose manifest header names it are candidates. */
  job: string;
  /** Decide and report, delete nothing. */
  dryRun?: boolean | undefined;
  /** Prune even though the clock, a future-dated archive or a lost source root says something is wrong. */
  force?: boolean | undefined;
  /** How far in the future an archive's `createdAt` may lie before prune refuses (default one hour). */
  futureToleranceMs?: number | undefined;
  /** The host name `{host}` stands for; default this host's. */
  host?: string | undefined;
  /** Archives already verified by this process (the one just written): not read again. */
  verified?: readonly string[] | undefined;
  signal?: AbortSignal | undefined;
  logger?: Logger | undefined;
}

/** What prune decided about one archive, and why. */
export interface PruneDecision {
  name: string;
  path: string;
  /** From the archive's manifest header. */
  createdAt: string;
  action: 'keep' | 'delete';
  reasons: string[];
}

export interface PruneResult {
  directory: string;
  job: string;
  dryRun: boolean;
  /** 0 done, 2 refused or some deletion failed. */
  status: ExitStatus;
  /** Why prune refused to delete anything (with `force`: what it was told to ignore). */
  refusals: string[];
  forced: boolean;
  kept: PruneDecision[];
  deleted: PruneDecision[];
  /** Files of the template's shape that are not this job's safebak archives: never deleted. */
  ignored: { name: string; reason: string }[];
  /** The newest archive that verified (always kept), or null when none did or none was checked. */
  newestVerified: string | null;
  errors: { name: string; message: string }[];
}

interface Candidate {
  name: string;
  path: string;
  created: Date;
  createdAt: string;
  sources: string[];
  reasons: string[];
}

const HOUR = 3_600_000;

/**
 * Applies retention to a directory of nightly archives. Only files whose
 * name has the template's shape *and* whose first manifest segment opens
 * with a safebak header naming `job` count; everything else is left alone.
 * Age is the manifest's `createdAt`, never a file's name or mtime. Keeps the
 * N newest (`keepLast`), those within `keepWithin` of the newest, the newest
 * of each of the last N days, ISO weeks, months and years (local time), always
 * the newest archive that verifies in full, and anything newer than the newest
 * kept. Refuses (status 2, nothing deleted) when the clock is behind the
 * newest archive, an archive is dated more than the tolerance into the future,
 * or the newest archive lacks a source root the one before it holds — unless
 * `force`. With no rule at all it throws rather than keep nothing.
 */
export async function pruneArchives(directory: string, options: PruneOptions): Promise<PruneResult> {
  const within = options.keepWithin ? parseDuration(options.keepWithin) : null;
  if (!hasRetentionRule(options)) {
    throw new SafebakError(
      'SAFEBAK_USAGE',
      'no retention rule: give --keep-last, --keep-daily, --keep-weekly, --keep-monthly, --keep-yearly (one above 0) or --keep-within; refusing to delete everything',
    );
  }
  if (!options.job) throw new SafebakError('SAFEBAK_USAGE', 'no job: prune deletes only archives whose manifest names their job (--config FILE or --job NAME)');
  const log = options.logger?.child({ component: 'prune' });
  const pattern = templatePattern(options.template ?? DEFAULT_TEMPLATE, options.host ?? os.hostname());
  let names: string[];
  try {
    names = await fsp.readdir(directory);
  } catch (err) {
    throw ioError(directory, err, 'cannot read the archive directory');
  }
  const ignored: PruneResult['ignored'] = [];
  const archives: Candidate[] = [];
  for (const name of names.sort()) {
    if (!pattern.test(name)) continue;
    options.signal?.throwIfAborted();
    const full = path.join(directory, name);
    const stat = await fsp.lstat(full).catch(() => null);
    if (!stat?.isFile()) {
      ignored.push({ name, reason: 'not a regular file' });
      continue;
    }
    const header = await readManifestHeader(full, options.signal);
    if (typeof header === 'string') {
      ignored.push({ name, reason: header });
      continue;
    }
    if (header.job !== options.job) {
      ignored.push({ name, reason: header.job === undefined ? 'its manifest names no job: not this job\'s' : `written by another job (${header.job})` });
      continue;
    }
    const created = new Date(header.createdAt);
    if (Number.isNaN(created.getTime())) {
      ignored.push({ name, reason: 'manifest header has no valid createdAt' });
      continue;
    }
    archives.push({ name, path: full, created, createdAt: header.createdAt, sources: header.sources ?? [], reasons: [] });
  }
  archives.sort((a, b) => b.created.getTime() - a.created.getTime() || (a.name < b.name ? 1 : -1));

  const result: PruneResult = {
    directory,
    job: options.job,
    dryRun: options.dryRun === true,
    status: ExitStatus.ok,
    refusals: refusalsOf(archives, new Date(), options.futureToleranceMs ?? HOUR),
    forced: options.force === true,
    kept: [],
    deleted: [],
    ignored,
    newestVerified: null,
    errors: [],
  };
  if (result.refusals.length > 0) {
    log?.warn({ refusals: result.refusals, forced: result.forced }, result.forced ? 'pruning despite refusals (--force)' : 'prune refused');
    if (!result.forced) {
      result.status = ExitStatus.fatal;
      for (const a of archives) {
        result.kept.push({ name: a.name, path: a.path, createdAt: a.createdAt, action: 'keep', reasons: ['prune refused: nothing is deleted'] });
      }
      return result;
    }
  }

  const keep = new Set<Candidate>();
  const keepLast = options.keepLast ?? 0;
  archives.slice(0, keepLast).forEach((a, i) => {
    keep.add(a);
    a.reasons.push(`one of the last ${keepLast} (#${i + 1})`);
  });
  if (within !== null && archives.length > 0) {
    const since = subtractDuration(archives[0]!.created, within);
    for (const a of archives) {
      if (a.created < since) break;
      keep.add(a);
      a.reasons.push(`within ${options.keepWithin} of the newest`);
    }
  }
  bucketKeep(archives, options.keepDaily ?? 0, dayKey, 'day', 'daily', keep);
  bucketKeep(archives, options.keepWeekly ?? 0, weekKey, 'week', 'weekly', keep);
  bucketKeep(archives, options.keepMonthly ?? 0, (d) => dayKey(d).slice(0, 7), 'month', 'monthly', keep);
  bucketKeep(archives, options.keepYearly ?? 0, (d) => dayKey(d).slice(0, 4), 'year', 'yearly', keep);

  let newestVerified: Candidate | null = null;
  if (archives.some((a) => !keep.has(a))) {
    const known = new Set((options.verified ?? []).map((p) => path.resolve(p)));
    for (const a of archives) {
      options.signal?.throwIfAborted();
      if (known.has(path.resolve(a.path))) {
        newestVerified = a;
        break;
      }
      const verdict: VerifyResult | Error = await verifyArchive(a.path, { signal: options.signal }).catch((err: unknown) => (err instanceof Error ? err : new Error(String(err))));
      if (options.signal?.aborted) throw options.signal.reason;
      if (!(verdict instanceof Error) && verdict.status !== ExitStatus.integrity && verdict.complete && verdict.kind === 'safebak') {
        newestVerified = a;
        break;
      }
      const why = verdict instanceof Error ? verdict.message : (verdict.problems[0]?.message ?? 'incomplete');
      a.reasons.push(`did not verify: ${why}`);
      log?.warn({ archive: a.path, reason: why }, 'archive did not verify');
    }
    if (newestVerified) {
      keep.add(newestVerified);
      newestVerified.reasons.push('the newest archive that verifies (never deleted)');
    }
    // Whatever the rules say, an archive newer than the newest one kept is never the one to go.
    const newestKept = archives.find((a) => keep.has(a));
    for (const a of archives) {
      if (newestKept === undefined || a === newestKept) break;
      keep.add(a);
      a.reasons.push(`newer than the newest archive kept (${newestKept.name})`);
    }
  }
  result.newestVerified = newestVerified?.name ?? null;

  for (const a of archives) {
    const decision: PruneDecision = { name: a.name, path: a.path, createdAt: a.createdAt, action: keep.has(a) ? 'keep' : 'delete', reasons: a.reasons };
    if (decision.action === 'keep') {
      result.kept.push(decision);
      continue;
    }
    decision.reasons.push('matched no retention rule');
    if (!result.dryRun) {
      try {
        await fsp.unlink(a.path);
      } catch (err) {
        result.errors.push({ name: a.name, message: describeSystemError(err) });
        result.status = ExitStatus.fatal;
        decision.action = 'keep';
        decision.reasons.push(`could not be deleted: ${describeSystemError(err)}`);
        result.kept.push(decision);
        continue;
      }
      log?.info({ archive: a.path, reasons: decision.reasons }, 'deleted');
    }
    result.deleted.push(decision);
  }
  if (!result.dryRun && result.deleted.length > 0) await fsyncDirectory(directory).catch(() => {});
  return result;
}

/**
 * Why pruning now would make things worse, judged from the manifests alone
 * (archives sorted newest first): a clock set back would make tonight's
 * archive look oldest, a future-dated one would outrank every real archive,
 * and a newest archive without a source root the previous one holds means
 * that root was lost (unmounted, removed from the job) rather than aged out.
 */
function refusalsOf(archives: readonly Candidate[], now: Date, toleranceMs: number): string[] {
  const refusals: string[] = [];
  const newest = archives[0];
  if (newest === undefined) return refusals;
  // Whether the clock or the archives are wrong cannot be told from here; either way nothing may go.
  const ahead = archives.filter((a) => a.created.getTime() > now.getTime() + toleranceMs);
  if (ahead.length > 0) {
    const listed = ahead.slice(0, 5).map((a) => `${a.name} (created ${a.createdAt})`);
    if (ahead.length > 5) listed.push(`and ${ahead.length - 5} more`);
    refusals.push(
      `the clock (${now.toISOString()}) is behind ${ahead.length === 1 ? '1 archive' : `${ahead.length} archives`} by more than ${toleranceMs / 60_000} minutes ` +
        `(it was set back, or ${ahead.length === 1 ? 'that archive claims' : 'they claim'} a future date): ${listed.join(', ')}`,
    );
  } else if (now < newest.created) {
    refusals.push(`the clock (${now.toISOString()}) is behind the newest archive ${newest.name} (created ${newest.createdAt})`);
  }
  const previous = archives[1];
  const lost = previous?.sources.filter((s) => !newest.sources.includes(s)) ?? [];
  if (lost.length > 0) refusals.push(`the newest archive ${newest.name} lacks source root ${lost.join(', ')} that ${previous!.name} holds`);
  return refusals;
}

function bucketKeep(archives: Candidate[], count: number, key: (d: Date) => string, unit: string, label: string, keep: Set<Candidate>): void {
  if (count <= 0) return;
  const seen = new Set<string>();
  for (const a of archives) {
    const k = key(a.created);
    if (seen.has(k)) continue;
    seen.add(k);
    keep.add(a);
    a.reasons.push(`newest of ${unit} ${k} (${label} ${seen.size}/${count})`);
    if (seen.size === count) return;
  }
}

function dayKey(d: Date): string {
  const p2 = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p2(d.getMonth() + 1)}-${p2(d.getDate())}`;
}

/** ISO 8601 week of the local date, as `2026-W48`. */
function weekKey(d: Date): string {
  const t = new Date(Date.UTC(d.getFullYear(), d.getMonth(), d.getDate()));
  const weekday = t.getUTCDay() || 7;
  t.setUTCDate(t.getUTCDate() + 4 - weekday);
  const yearStart = Date.UTC(t.getUTCFullYear(), 0, 1);
  const week = Math.ceil(((t.getTime() - yearStart) / 86_400_000 + 1) / 7);
  return `${t.getUTCFullYear()}-W${String(week).padStart(2, '0')}`;
}

/** The archive read stops here: the header is the first line of the first segment. */
class HeaderFound extends Error {}

/**
 * The safebak manifest header of an archive, read from its beginning up to
 * the first line of the first manifest segment (nothing after), or the reason
 * it is not a safebak archive.
 */
export async function readManifestHeader(file: string, signal?: AbortSignal): Promise<HeaderRecord | string> {
  const stop = new AbortController();
  const onAbort = (): void => stop.abort(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  let inSegment = false;
  let collected: Buffer[] = [];
  let size = 0;
  let header: HeaderRecord | string | null = null;
  const settle = (value: HeaderRecord | string): void => {
    header = value;
    stop.abort(new HeaderFound());
  };
  try {
    await readArchive(
      file,
      file,
      {
        entry(e) {
          if (header !== null) return;
          inSegment = e.type === 'file' && SEGMENT_NAME.test(e.name);
          if (inSegment && e.name !== '.safebak/manifest-000001.jsonl') settle('its first manifest segment is missing');
        },
        data(chunk) {
          if (!inSegment || header !== null) return;
          collected.push(Buffer.from(chunk));
          size += chunk.length;
          const all = Buffer.concat(collected);
          const nl = all.indexOf(0x0a);
          if (nl >= 0) settle(parseHeader(all.subarray(0, nl).toString('utf8')));
          else if (size > 64 * 1024) settle('manifest header line is implausibly long');
          else collected = [all];
        },
        entryEnd() {
          if (inSegment && header === null) settle(parseHeader(Buffer.concat(collected).toString('utf8')));
        },
      },
      stop.signal,
    );
  } catch (err) {
    if (!(stop.signal.reason instanceof HeaderFound)) {
      if (signal?.aborted) throw signal.reason;
      return `not a readable archive: ${describeSystemError(err)}`;
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
  return header ?? 'no safebak manifest';
}

function parseHeader(line: string): HeaderRecord | string {
  try {
    const v = JSON.parse(line) as HeaderRecord;
    if (v.kind === 'header' && v.format === MANIFEST_FORMAT && typeof v.createdAt === 'string') return v;
  } catch {
    // fall through
  }
  return 'its manifest does not open with a safebak header';
}
