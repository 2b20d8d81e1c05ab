import { describeSystemError, SafebakError } from '../errors.js';
import { describeFilesystem } from './filesystem-name.js';

/** Errors by which a pipe or socket says its reader went away. */
const READER_GONE = new Set(['EPIPE', 'ECONNRESET', 'ERR_STREAM_DESTROYED', 'ERR_STREAM_PREMATURE_CLOSE']);

/**
 * A failed write to a file output as one line an operator can act on: the
 * archive, the error, and the file system it happened on
 * (`…: cannot write the archive: no space left on device (ENOSPC) on tmpfs at /mnt/b (device 0:52, source tmpfs)`).
 */
export function fileWriteFailure(finalPath: string, err: unknown, what = 'cannot write the archive'): SafebakError {
  if (err instanceof SafebakError) return err;
  const code = (err as NodeJS.ErrnoException)?.code;
  return new SafebakError('SAFEBAK_IO', `${what}: ${describeSystemError(err)} on ${describeFilesystem(finalPath)}`, {
    path: finalPath,
    cause: err,
    syscall: (err as NodeJS.ErrnoException)?.syscall ?? (code ? 'write' : undefined),
  });
}

/** A failed write to a stream output; a reader that closed its end is said in plain words. */
export function streamWriteFailure(err: unknown): SafebakError {
  if (err instanceof SafebakError) return err;
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code && READER_GONE.has(code)) {
    return new SafebakError('SAFEBAK_IO', 'the archive stream was closed by its reader: the archive is incomplete', { cause: err, syscall: 'write' });
  }
  return new SafebakError('SAFEBAK_IO', `cannot write the archive stream: ${describeSystemError(err)}`, { cause: err });
}

/** Errnos that only a write to the output can raise, whichever path (stream, splice, tee) raised them. */
const OUTPUT_ONLY = new Set(['ENOSPC', 'EDQUOT', 'EFBIG']);

/**
 * A run's fatal error as the caller should see it: an output-only errno
 * raised anywhere (a zero-copy splice or tee as much as a stream write)
 * becomes the one-line output failure; anything else passes unchanged.
 */
export function explainOutputFailure(err: unknown, finalPath: string | null): unknown {
  const code = rootCode(err);
  if (code === undefined) return err;
  if (finalPath === null && READER_GONE.has(code)) return streamWriteFailure(rootCause(err));
  if (finalPath !== null && OUTPUT_ONLY.has(code)) return fileWriteFailure(finalPath, rootCause(err));
  return err;
}

function rootCause(err: unknown): unknown {
  let e = err;
  while (e instanceof SafebakError && e.cause !== undefined) e = e.cause;
  return e;
}

function rootCode(err: unknown): string | undefined {
  const code = (rootCause(err) as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}
