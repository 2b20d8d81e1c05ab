/**
 * The read-back of an archive being written, on its own thread: the
 * verification's parsing and hashing run on the second core while the main
 * thread goes on making the archive. Messages in: 'end' (the output is
 * complete and fsynced), 'cancel'. Messages out: see ReadBackMessage.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { FollowedFile } from '../archive/followed-file.js';
import { SafebakError } from '../errors.js';
import { verifyFollowedFile } from '../verify/verify-archive.js';
import type { VerifyProgress, VerifyResult } from '../verify/verify-archive.js';

export type ReadBackMessage =
  | { type: 'unavailable'; reason: string }
  | { type: 'progress'; progress: VerifyProgress }
  | { type: 'result'; result: VerifyResult }
  | { type: 'error'; code: string | null; message: string; path: string | undefined };

/** Progress crosses threads at most this often: one message per entry would cost more than the entry. */
const PROGRESS_MS = 100;

async function main(): Promise<void> {
  const port = parentPort!;
  const post = (m: ReadBackMessage): void => port.postMessage(m);
  const followed = await FollowedFile.open((workerData as { path: string }).path);
  if (typeof followed === 'string') return post({ type: 'unavailable', reason: followed });
  port.on('message', (m: unknown) => (m === 'end' ? followed.end() : followed.cancel()));
  let last = 0;
  try {
    const result = await verifyFollowedFile(followed, {
      onProgress: (progress) => {
        const now = Date.now();
        if (now - last < PROGRESS_MS) return;
        last = now;
        post({ type: 'progress', progress });
      },
    });
    post({ type: 'result', result });
  } catch (err) {
    const e = err as Error;
    post({ type: 'error', code: err instanceof SafebakError ? err.code : null, message: e.message, path: err instanceof SafebakError ? err.path : undefined });
  } finally {
    port.close();
  }
}

void main();
