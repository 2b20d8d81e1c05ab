import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { FollowedFile } from '../archive/followed-file.js';
import { SafebakError } from '../errors.js';
import { loadNative } from '../native/native.js';
import type { SafebakErrorCode } from '../errors.js';
import { verifyArchive, verifyFollowedFile } from '../verify/verify-archive.js';
import type { VerifyOptions, VerifyResult } from '../verify/verify-archive.js';
import type { ReadBackMessage } from './read-back-worker.js';

const WORKER_SCRIPT = new URL('./read-back-worker.js', import.meta.url);

/** How the read-back runs: alongside the writing on a worker thread or on this one, or after it. */
export type ReadBackMode = 'worker' | 'following' | 'after';

/**
 * Create's read-back verification of a file output (DESIGN §7): the archive
 * is re-read from the disk and verified by the same code as `safebak verify`
 * before it may be renamed into place.
 *
 * Where the archive can be read directly (O_DIRECT), the read-back follows
 * the writing: each range is read from the device once it was written, while
 * later ones are still being made, and `finish()` has only the tail left. It
 * runs on a worker thread when the built worker script is present (the
 * second core parses and hashes), else on this thread. Where direct reads are
 * impossible it starts once the file is complete, fsynced and dropped from
 * the page cache (without the native addon nothing can drop it, and the
 * read-back may be served from memory).
 */
export class ReadBack {
  #path: string;
  #options: VerifyOptions;
  #follower: Follower | null;
  #writing: { value: boolean };
  /** Why the read-back runs after the writing, once that is known. */
  #afterReason: string | null;

  private constructor(path: string, options: VerifyOptions, follower: Follower | null, writing: { value: boolean }, afterReason: string | null) {
    this.#path = path;
    this.#options = options;
    this.#follower = follower;
    this.#writing = writing;
    this.#afterReason = afterReason;
  }

  /** Starts following the temporary file at `path`, where that is possible. */
  static async start(path: string, options: VerifyOptions): Promise<ReadBack> {
    // Progress of a following read-back is held back until the writing is done: one phase at a time.
    const writing = { value: true };
    const onProgress = options.onProgress;
    const gated: VerifyOptions = { ...options, onProgress: onProgress && ((p) => (writing.value ? undefined : onProgress(p))) };
    const native = loadNative();
    if (native.addon === null) return new ReadBack(path, options, null, writing, `no native addon (${native.reason})`);
    if (existsSync(fileURLToPath(WORKER_SCRIPT))) return new ReadBack(path, options, WorkerFollower.start(path, gated), writing, null);
    const followed = await FollowedFile.open(path);
    if (typeof followed === 'string') return new ReadBack(path, options, null, writing, followed);
    return new ReadBack(path, options, new ThreadFollower(followed, gated), writing, null);
  }

  /** How the read-back ran (or runs): alongside the writing on a worker thread or on this one, or after it. */
  get mode(): ReadBackMode {
    if (this.#follower === null || this.#afterReason !== null) return 'after';
    return this.#follower.mode;
  }

  /** Why the read-back ran after the writing instead of alongside it (null when it did not, or before that is known). */
  get afterReason(): string | null {
    return this.#afterReason;
  }

  /** Call once the output is finished (complete, fsynced, its pages dropped): resolves with the verdict. */
  async finish(): Promise<VerifyResult> {
    this.#writing.value = false;
    const followed = this.#follower === null ? null : await this.#follower.finish();
    if (typeof followed === 'string') this.#afterReason = followed;
    else if (followed !== null) return followed;
    return verifyArchive(this.#path, this.#options);
  }

  /** Stops a following read-back after a failure; resolves once it let go of the file. */
  async cancel(): Promise<void> {
    await this.#follower?.cancel();
  }
}

interface Follower {
  readonly mode: 'worker' | 'following';
  /** The verdict, or why the file could not be followed (then the read-back runs after the writing). */
  finish(): Promise<VerifyResult | string>;
  cancel(): Promise<void>;
}

/** Follows on this thread: for builds without the worker script (tests of the sources, bundlers). */
class ThreadFollower implements Follower {
  readonly mode = 'following';
  #followed: FollowedFile;
  #result: Promise<VerifyResult>;

  constructor(followed: FollowedFile, options: VerifyOptions) {
    this.#followed = followed;
    this.#result = verifyFollowedFile(followed, options);
    // Awaited by finish(); a failure before then must not count as unhandled.
    this.#result.catch(() => {});
  }

  finish(): Promise<VerifyResult> {
    this.#followed.end();
    return this.#result;
  }

  async cancel(): Promise<void> {
    this.#followed.cancel();
    await this.#result.catch(() => {});
  }
}

/**
 * Follows on a worker thread: the verification's parsing and hashing get the
 * second core. The worker says at once when it cannot read the file
 * directly; otherwise it says nothing until its verdict.
 */
class WorkerFollower implements Follower {
  readonly mode = 'worker';
  #worker: Worker;
  #outcome: Promise<VerifyResult | string>;

  private constructor(worker: Worker, outcome: Promise<VerifyResult | string>) {
    this.#worker = worker;
    this.#outcome = outcome;
  }

  static start(path: string, options: VerifyOptions): WorkerFollower {
    const worker = new Worker(WORKER_SCRIPT, { workerData: { path } });
    const outcome = new Promise<VerifyResult | string>((resolve, reject) => {
      worker.on('message', (m: ReadBackMessage) => {
        if (m.type === 'progress') options.onProgress?.(m.progress);
        else if (m.type === 'result') resolve(m.result);
        else if (m.type === 'unavailable') resolve(m.reason);
        else reject(rebuildError(m));
      });
      worker.on('error', reject);
      worker.on('exit', () => reject(new Error('the read-back thread stopped without a verdict')));
    });
    // Awaited by finish(); a failure before then must not count as unhandled.
    outcome.catch(() => {});
    const signal = options.signal;
    if (signal) {
      const onAbort = (): void => worker.postMessage('cancel');
      signal.addEventListener('abort', onAbort, { once: true });
      outcome.finally(() => signal.removeEventListener('abort', onAbort)).catch(() => {});
    }
    return new WorkerFollower(worker, outcome);
  }

  finish(): Promise<VerifyResult | string> {
    this.#worker.postMessage('end');
    return this.#outcome;
  }

  async cancel(): Promise<void> {
    this.#worker.postMessage('cancel');
    await this.#outcome.catch(() => {});
  }
}

/** An error from the worker, as the SafebakError (or plain Error) it was there. */
function rebuildError(m: Extract<ReadBackMessage, { type: 'error' }>): Error {
  if (m.code === null) return new Error(m.message);
  const prefix = m.path === undefined ? '' : `${m.path}: `;
  const message = prefix !== '' && m.message.startsWith(prefix) ? m.message.slice(prefix.length) : m.message;
  return new SafebakError(m.code as SafebakErrorCode, message, { path: m.path });
}
