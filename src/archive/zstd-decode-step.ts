import zstdBinding from 'zstd-napi/binding.js';

/** One call of streaming zstd decoding: what it produced, what input is left, and whether that input is done with. */
export interface DecodeStep {
  /** Bytes written at the start of `dst`. */
  produced: number;
  /** The part of `src` not consumed yet. */
  rest: Buffer;
  /** The input is consumed and the decoder has no output of it left to flush: go on with the next input. */
  drained: boolean;
  /** The stream stops inside a frame at this point (meaningful when `drained`). */
  inFrame: boolean;
}

/**
 * Decodes from `src` into `dst` as far as one call goes. Shared by the
 * in-thread decoder and the decoding thread, so that both agree on when an
 * input chunk is finished and on a stream that ends mid-frame. Throws what
 * zstd throws on damaged input.
 */
export function decodeStep(dctx: zstdBinding.DCtx, dst: Buffer, src: Buffer): DecodeStep {
  const [ret, produced, consumed] = dctx.decompressStream(dst, src);
  const rest = src.subarray(consumed);
  return { produced, rest, drained: rest.length === 0 && (produced < dst.length || ret === 0), inFrame: ret !== 0 };
}
