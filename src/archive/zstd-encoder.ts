import type { CompressParameters } from 'zstd-napi';
import zstdBinding from 'zstd-napi/binding.js';

/**
 * zstd's unit of work per thread. Its default at level 3 (8 MiB) held ~95 MiB
 * in a 2-thread compressor; 4 MiB holds ~70 MiB and compressed the bench's
 * text 0.8% worse, at the same speed.
 */
const ZSTD_JOB_BYTES = 4 * 1024 * 1024;

/**
 * The compression of every zstd archive: a content checksum in the frame,
 * and two workers, so that compression runs on zstd's threads while this
 * one hashes. Named as zstd-napi's CompressStream takes them.
 */
export function zstdParameters(level: number): CompressParameters {
  return { compressionLevel: level, checksumFlag: true, nbWorkers: 2, jobSize: ZSTD_JOB_BYTES };
}

/** What turns the tar stream into a file's bytes, written straight into the file writer's buffers. */
export interface StageEncoder {
  /** Encodes from `src` into `dst`; returns the bytes produced and the bytes of `src` consumed. */
  encode(dst: Buffer, src: Buffer): [produced: number, consumed: number];
  /** Ends the stream into `dst`; returns the bytes produced and whether all of them are out. */
  end(dst: Buffer): [produced: number, done: boolean];
}

const NOTHING = Buffer.alloc(0);

/**
 * A zstd compressor that writes into the caller's buffers. zstd-napi's
 * CompressStream allocates a fresh 128 KiB Buffer for every piece of output
 * (10,000 for a 1.3 GB archive), and the garbage collector's threads spent
 * 1.6 s of CPU on the mixed tree's create .tar.zst.
 */
export function zstdEncoder(level: number): StageEncoder {
  const cctx = new zstdBinding.CCtx();
  for (const [name, value] of Object.entries(zstdParameters(level)) as [keyof typeof zstdBinding.CParameter, number | boolean][]) {
    cctx.setParameter(zstdBinding.CParameter[name], Number(value));
  }
  return {
    encode(dst, src) {
      const [, produced, consumed] = cctx.compressStream2(dst, src, zstdBinding.EndDirective.continue);
      return [produced, consumed];
    },
    end(dst) {
      const [remaining, produced] = cctx.compressStream2(dst, NOTHING, zstdBinding.EndDirective.end);
      return [produced, remaining === 0];
    },
  };
}
