/**
 * Exit statuses shared by every command (DESIGN §8). 0–2 mean what they mean
 * for GNU tar so that existing cron wrappers keep working.
 */
export const ExitStatus = {
  ok: 0,
  flagged: 1,
  fatal: 2,
  integrity: 3,
  interrupted: 130,
} as const;
export type ExitStatus = (typeof ExitStatus)[keyof typeof ExitStatus];

/**
 * Stable error codes; a host may switch on them. Each maps to one exit status
 * (see {@link SafebakError.exitStatus}).
 *
 * - `SAFEBAK_USAGE` — the call or command line asks for something impossible (no sources, no output, conflicting options). Exit 2.
 * - `SAFEBAK_CONFIG` — a configuration file or object is unreadable, not JSON, has an unknown key or a value of the wrong type; the message names the key. Exit 2.
 * - `SAFEBAK_IO` — reading or writing failed (the archive, the output file system: ENOSPC, EIO; a closed output stream). The message names the path and, for the output, its file system. Exit 2.
 * - `SAFEBAK_LOCKED` — another live run holds the output directory's `.safebak.lock`; nothing was touched. Exit 2.
 * - `SAFEBAK_SOURCE_MISSING` — a source root does not exist, cannot be read, or (when required) is not a mount point or lacks its marker file; no archive was written. Exit 2.
 * - `SAFEBAK_NOT_AN_ARCHIVE` — the input is not a tar archive (in any compression safebak reads). Exit 2.
 * - `SAFEBAK_ARCHIVE_CORRUPT` — the archive's bytes, compression layer or manifest are damaged. Exit 3.
 * - `SAFEBAK_ARCHIVE_TRUNCATED` — the archive ends early (no manifest footer). Exit 3.
 * - `SAFEBAK_VERIFY_FAILED` — the read-back of a freshly written archive did not match; it was not moved into place. Exit 3.
 * - `SAFEBAK_NATIVE` — the native addon failed in a way that cannot fall back. Exit 2.
 * - `SAFEBAK_ABORTED` — the AbortSignal fired (SIGINT/SIGTERM in the CLI); temporaries were removed. Exit 130.
 */
export type SafebakErrorCode =
  | 'SAFEBAK_USAGE'
  | 'SAFEBAK_CONFIG'
  | 'SAFEBAK_IO'
  | 'SAFEBAK_LOCKED'
  | 'SAFEBAK_SOURCE_MISSING'
  | 'SAFEBAK_NOT_AN_ARCHIVE'
  | 'SAFEBAK_ARCHIVE_CORRUPT'
  | 'SAFEBAK_ARCHIVE_TRUNCATED'
  | 'SAFEBAK_VERIFY_FAILED'
  | 'SAFEBAK_NATIVE'
  | 'SAFEBAK_ABORTED';

const exitByCode: Record<SafebakErrorCode, ExitStatus> = {
  SAFEBAK_USAGE: ExitStatus.fatal,
  SAFEBAK_CONFIG: ExitStatus.fatal,
  SAFEBAK_IO: ExitStatus.fatal,
  SAFEBAK_LOCKED: ExitStatus.fatal,
  SAFEBAK_SOURCE_MISSING: ExitStatus.fatal,
  SAFEBAK_NOT_AN_ARCHIVE: ExitStatus.fatal,
  SAFEBAK_ARCHIVE_CORRUPT: ExitStatus.integrity,
  SAFEBAK_ARCHIVE_TRUNCATED: ExitStatus.integrity,
  SAFEBAK_VERIFY_FAILED: ExitStatus.integrity,
  SAFEBAK_NATIVE: ExitStatus.fatal,
  SAFEBAK_ABORTED: ExitStatus.interrupted,
};

export interface SafebakErrorOptions {
  path?: string | undefined;
  cause?: unknown;
  /** The syscall that failed, for errors that come from one. */
  syscall?: string | undefined;
}

/**
 * The one error class of safebak: a stable `code`, the `path` concerned and
 * the original `cause`. `message` is one human line that names both.
 */
export class SafebakError extends Error {
  override readonly name = 'SafebakError';
  readonly code: SafebakErrorCode;
  readonly path: string | undefined;
  readonly syscall: string | undefined;

  constructor(code: SafebakErrorCode, message: string, options: SafebakErrorOptions = {}) {
    super(options.path === undefined ? message : `${options.path}: ${message}`, { cause: options.cause });
    this.code = code;
    this.path = options.path;
    this.syscall = options.syscall;
  }

  /** The exit status a command that fails with this error ends with. */
  get exitStatus(): ExitStatus {
    return exitByCode[this.code];
  }
}

/** The short reason of a Node system error (`ENOENT: no such file…` → `no such file or directory`). */
export function describeSystemError(err: unknown): string {
  if (err instanceof SafebakError) return err.message;
  const e = err as NodeJS.ErrnoException;
  if (e && typeof e.code === 'string' && typeof e.message === 'string') {
    const m = /^[A-Z0-9_]+: ([^,]+)/.exec(e.message);
    return `${m ? m[1] : e.message} (${e.code})`;
  }
  return err instanceof Error ? err.message : String(err);
}

/** Wraps a Node system error as a SafebakError that names the path and the reason. */
export function ioError(path: string, err: unknown, what = ''): SafebakError {
  if (err instanceof SafebakError) return err;
  const reason = describeSystemError(err);
  const syscall = (err as NodeJS.ErrnoException)?.syscall;
  return new SafebakError('SAFEBAK_IO', what ? `${what}: ${reason}` : reason, { path, cause: err, syscall });
}
