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

interface Request {
  path: string;
  /** The archive name its entry's header carries. */
  name: string;
  resolve: (r: BatchedRead | null) => void;
  reject: (e: unknown) => void;
}

/** Most files one native call reads: enough to amortise the pool trip, few enough to start writing soon. */
const BATCH = 64;

/**
 * Gathers whole-file reads of small files into batches for the native
 * readSmallFiles call (one pool trip per batch instead of a dozen awaited fs
 * calls per file). A batch goes out when it is full or when the current turn
 * of work has queued all it will (`flush()`). Each read resolves to the copy
 * strategy's verdict and the file's tar entry, or null when the file turned out larger than
 * `maxBytes`; a file that cannot be opened rejects with an errno-coded
 * error, as fs would.
 */
export class SmallFileBatcher {
  #options: SmallReadOptions;
  #queue: Request[] = [];
  #scheduled = false;

  constructor(options: SmallReadOptions) {
    this.#options = options;
  }

  /** Queues a read; it goes out with its batch when the batch is full or at the next {@link flush}. */
  read(path: string, name: string): Promise<BatchedRead | null> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ path, name, resolve, reject });
      if (this.#queue.length >= BATCH) this.#send(this.#queue.splice(0, BATCH));
      else if (!this.#scheduled) {
        // A caller that forgets to flush still gets its reads, one turn of the event loop later.
        this.#scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Sends what is queued now rather than waiting for a full batch. */
  flush(): void {
    this.#scheduled = false;
    while (this.#queue.length > 0) this.#send(this.#queue.splice(0, BATCH));
  }

  #send(batch: Request[]): void {
    readSmallFiles(
      batch.map((b) => b.path),
      batch.map((b) => b.name),
      this.#options,
    ).then(
      (reads) => {
        if (reads === null) for (const b of batch) b.reject(new Error('native addon unavailable'));
        else {
          let readable = 0;
          for (const read of reads) if (!read.error && !read.notRegular && !read.tooLarge) readable++;
          const entries = reads[0] ? new EntryBatch(reads[0].entries, readable) : null;
          reads.forEach((read, i) => settle(batch[i]!, read, entries!));
        }
      },
      (err: unknown) => {
        for (const b of batch) b.reject(err);
      },
    );
  }
}

function settle(request: Request, read: SmallFileRead, entries: EntryBatch): void {
  if (read.error) {
    request.reject(Object.assign(new Error(`${read.error.code}: ${read.error.syscall} '${request.path}'`), read.error, { path: request.path }));
    return;
  }
  if (read.notRegular) {
    request.reject(new NotRegularFile('is no longer a regular file'));
    return;
  }
  if (read.tooLarge) {
    request.resolve(null);
    return;
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
  request.resolve({
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
  });
}
