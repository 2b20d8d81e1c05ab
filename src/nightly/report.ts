import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Strategy } from '../archive/manifest.js';
import type { CreateResult, FileIssue } from '../create/create-archive.js';
import { SafebakError } from '../errors.js';
import type { ExitStatus } from '../errors.js';
import { TOOL } from '../version.js';
import type { PruneResult } from './prune.js';

/** One run's account, written as one JSON document by `--report FILE`. */
export interface RunReport {
  format: 'safebak-report';
  version: 1;
  tool: string;
  host: string;
  pid: number;
  startedAt: string;
  endedAt: string;
  durationMs: number;
  /** The CLI's exit status: 0 ok, 1 flagged, 2 fatal, 3 integrity, 130 interrupted. */
  exitStatus: ExitStatus | number;
  /** The archive's final path, `-` for stdout, null when the run never got that far. */
  output: string | null;
  sources: string[];
  /** Null when no archive was finished. */
  totals: CreateResult['totals'] | null;
  /** Data bytes of the archived files, and the archive's size on disk. */
  bytes: { data: number; archive: number | null } | null;
  flagged: FileIssue[];
  strategies: Record<Strategy, number> | null;
  verification: { verdict: 'verified' | 'not-verified' | 'failed' | 'not-reached'; detail: string };
  retention: PruneResult | null;
  /** The fatal error, when the run failed. */
  error: { code: string; message: string } | null;
  /** Warnings of the run (a stale lock taken over, a retention problem). */
  warnings: string[];
}

/** The parts of a report a run fills in; the rest is derived. */
export interface ReportInput {
  startedAt: Date;
  endedAt: Date;
  host: string;
  exitStatus: number;
  output: string | null;
  sources: string[];
  result: CreateResult | null;
  archiveBytes: number | null;
  retention: PruneResult | null;
  error: unknown;
  warnings: string[];
}

export function buildReport(input: ReportInput): RunReport {
  const r = input.result;
  const err = input.error;
  return {
    format: 'safebak-report',
    version: 1,
    tool: TOOL,
    host: input.host,
    pid: process.pid,
    startedAt: input.startedAt.toISOString(),
    endedAt: input.endedAt.toISOString(),
    durationMs: input.endedAt.getTime() - input.startedAt.getTime(),
    exitStatus: input.exitStatus,
    output: input.output,
    sources: input.sources,
    totals: r?.totals ?? null,
    bytes: r ? { data: r.totals.bytes, archive: input.archiveBytes } : null,
    flagged: r?.flagged ?? [],
    strategies: r?.strategies ?? null,
    verification: verdictOf(r, err),
    retention: input.retention,
    error: err === null || err === undefined ? null : errorOf(err),
    warnings: input.warnings,
  };
}

/** A fatal error as the report and `--json` state it: its stable code and its one line. */
export function errorOf(err: unknown): { code: string; message: string } {
  return err instanceof SafebakError
    ? { code: err.code, message: err.message }
    : { code: 'SAFEBAK_INTERNAL', message: err instanceof Error ? err.message : String(err) };
}

function verdictOf(r: CreateResult | null, err: unknown): RunReport['verification'] {
  if (r) {
    return r.verification.performed
      ? { verdict: 'verified', detail: `read back ${r.verification.result.files} files; every checksum matches` }
      : { verdict: 'not-verified', detail: r.verification.reason };
  }
  if (err instanceof SafebakError && err.code === 'SAFEBAK_VERIFY_FAILED') return { verdict: 'failed', detail: err.message };
  return { verdict: 'not-reached', detail: 'the run ended before an archive was complete' };
}

/**
 * Writes the report atomically: a temporary beside it, fsynced, renamed over
 * it. A reader (a monitoring check) sees the previous report or this one,
 * never half of one.
 */
export async function writeReport(file: string, report: RunReport): Promise<void> {
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.safebak-${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
  try {
    const fh = await fsp.open(temp, 'wx', 0o644);
    try {
      await fh.writeFile(`${JSON.stringify(report, null, 2)}\n`);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.rename(temp, file);
  } catch (err) {
    await fsp.rm(temp, { force: true }).catch(() => {});
    throw new SafebakError('SAFEBAK_IO', `cannot write the report: ${(err as Error).message}`, { path: file, cause: err });
  }
}
