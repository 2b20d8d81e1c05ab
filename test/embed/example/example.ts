// The same host, in TypeScript: `tsc --noEmit` must resolve every type from the package.
import type { Writable } from 'node:stream';
import { createArchive, ExitStatus, SafebakError, verifyArchive } from 'safebak';
import type { CreateProgress, CreateResult, SafebakErrorCode, VerifyResult } from 'safebak';

export async function nightly(dest: Writable, signal: AbortSignal): Promise<{ result: CreateResult; status: ExitStatus }> {
  const seen: CreateProgress[] = [];
  try {
    const result = await createArchive({ sources: ['/etc'], output: dest, signal, onProgress: (p) => seen.push(p) });
    const status: ExitStatus = result.status;
    return { result, status };
  } catch (err) {
    if (err instanceof SafebakError) {
      const code: SafebakErrorCode = err.code;
      throw new Error(`safebak failed (${code}, exit ${err.exitStatus})`, { cause: err });
    }
    throw err;
  }
}

export async function check(path: string): Promise<boolean> {
  const v: VerifyResult = await verifyArchive(path);
  return v.status !== ExitStatus.integrity && v.complete;
}
