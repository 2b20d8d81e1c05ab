import { readSmallFiles, releaseEntries } from '../native/batch.js';
import type { SmallFileRead, SmallReadOptions } from '../native/batch.js';
import { LEASE_BROKEN } from './lease.js';
import { metadataChanges } from './stability.js';
import { NotRegularFile } from './copy.js';
import type { TransferResult } from './transfer-result.js';

/**
 * The buffer of one native batch's tar entries. Whoever copies an entry out
 * calls {@link EntryBatch.done}; after the last one the buffer is reused for
 * later batches (its memory already faulted in) rather than left for the
 * garbage collector, which would let finished batches pile up meanwhile.
 */
export class EntryBatch {
  readonly entries: Buffer;
  #pending: number;

  constructor(entries: Buffer, pending: number) {
    this.entries = entries;
    this.#pending = pending;
  }

  /** One entry of the batch has been copied out and will not be read again. */
  done(): void {
    if (--this.#pending === 0) releaseEntries(this.entries);
  }
}

/**
 * A small file read by the batch: the copy strategy's verdict, its finished
 * tar entry (`batch.entries[start, end)`), and whether its lease was refused
 * (the file is hot).
 */
export interface BatchedRead {
  result: TransferResult;
  batch: EntryBatch;
  start: number;
  end: number;
  hot: boolean;
}

/** Why a file of a batch has no read: errno-coded as fs would reject, or the batch itself failed. */
export interface BatchFailure {
  error: unknown;
}

/** One file's outcome: its read, null when it turned out larger than `maxBytes`, or a failure. */
export type BatchOutcome = BatchedRead | null | BatchFailure;

/** A batch sent to the addon: its files' paths and names, then their outcomes. */
class PendingBatch {
  paths: string[] = [];
  names: string[] = [];
  /** Set when the batch has come back: one per file, in order. */
  outcomes: BatchOutcome[] | null = null;
  /** Settles (never rejects) when `outcomes` is set; null until the batch is sent. */
  done: Promise<void> | null = null;
  /** Sends the batch if it has not gone out yet. */
  send: () => void;

  constructor(send: () => void) {
    this.send = send;
  }
}

/**
 * A file's place in a batch. Its outcome is read straight from the batch once
 * that has come back: no promise per file, one per batch.
 */
export class BatchSlot {
  readonly #batch: PendingBatch;
  readonly #index: number;

  constructor(batch: PendingBatch, index: number) {
    this.#batch = batch;
    this.#index = index;
  }

  /** The outcome, or undefined while the batch is still out (then await {@link wait}). */
  get outcome(): BatchOutcome | undefined {
    return this.#batch.outcomes?.[this.#index];
  }

  /** Resolves when the outcome is there; the batch goes out now if it had not yet. */
  async wait(): Promise<BatchOutcome> {
    if (this.#batch.done === null) this.#batch.send();
    if (this.#batch.outcomes === null) await this.#batch.done;
    return this.#batch.outcomes![this.#index]!;
  }
}

/** Most files one native call reads: enough to amortise the pool trip, few enough to start writing soon. */
const BATCH = 64;

/**
 * Gathers whole-file reads of small files into batches for the native
 * readSmallFiles call (one pool trip per batch instead of a dozen awaited fs
 * calls per file). A batch goes out when it is full or when the current turn
 * of work has queued all it will (`flush()`). Each file's outcome is the copy
 * strategy's verdict and its tar entry, null when the file turned out larger
 * than `maxBytes`, or a failure carrying an errno-coded error as fs would
 * reject with.
 */
export class SmallFileBatcher {
  #options: SmallReadOptions;
  #open: PendingBatch | null = null;
  #scheduled = false;

  constructor(options: SmallReadOptions) {
    this.#options = options;
  }

  /** Queues a read; it goes out with its batch when the batch is full or at the next {@link flush}. */
  read(path: string, name: string): BatchSlot {
    const batch = (this.#open ??= new PendingBatch(() => this.flush()));
    const slot = new BatchSlot(batch, batch.paths.length);
    batch.paths.push(path);
    batch.names.push(name);
    if (batch.paths.length >= BATCH) this.flush();
    else if (!this.#scheduled) {
      // A caller that forgets to flush still gets its reads, one turn of the event loop later.
      this.#scheduled = true;
      setImmediate(() => this.flush());
    }
    return slot;
  }

  /** Sends what is queued now rather than waiting for a full batch. */
  flush(): void {
    this.#scheduled = false;
    const batch = this.#open;
    this.#open = null;
    if (batch !== null) this.#send(batch);
  }

  #send(batch: PendingBatch): void {
    const fail = (error: unknown): void => {
      batch.outcomes = batch.paths.map(() => ({ error }));
    };
    batch.done = readSmallFiles(batch.paths, batch.names, this.#options).then(
      (reads) => {
        if (reads === null) {
          fail(new Error('native addon unavailable'));
          return;
        }
        let readable = 0;
        for (const read of reads) if (!read.error && !read.notRegular && !read.tooLarge) readable++;
        const entries = reads[0] ? new EntryBatch(reads[0].entries, readable) : null;
        batch.outcomes = reads.map((read, i) => settle(batch.paths[i]!, read, entries!));
      },
      fail,
    );
  }
}

function settle(path: string, read: SmallFileRead, entries: EntryBatch): BatchOutcome {
  if (read.error) {
    return { error: Object.assign(new Error(`${read.error.code}: ${read.error.syscall} '${path}'`), read.error, { path }) };
  }
  if (read.notRegular) {
    return { error: new NotRegularFile('is no longer a regular file') };
  }
  if (read.tooLarge) {
    return null;
  }
  const expected = read.expectedLength;
  const got = read.length;
  const reasons: string[] = [];
  if (got < expected) reasons.push(`shrank while being read (${got} of ${expected} bytes)`);
  if (got > expected) reasons.push('grew while being read');
  // The packed stats are compared (a dozen bigints) only when the addon saw them differ.
  if (read.moved) for (const reason of metadataChanges(read.before, read.after)) reasons.push(reason);
  if (read.recheck === 'differs') reasons.push('content changed while being read');
  if (read.lease === 'broken') reasons.push(LEASE_BROKEN);
  if (read.path === 'vanished') reasons.push('vanished');
  if (read.path === 'other') reasons.push('path now names another file');
  return {
    result: {
      strategy: 'copy',
      size: got,
      sha256: read.sha256,
      stat: read.before,
      reasons: reasons.length > 1 ? [...new Set(reasons)] : reasons,
      vanished: read.path === 'vanished',
    },
    batch: entries,
    start: read.entryStart,
    end: read.entryEnd,
    hot: read.lease === 'refused',
  };
}
