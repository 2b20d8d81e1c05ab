/** An item of the walk with the work started for it ahead of time. */
export interface Prefetched<T, P> {
  item: T;
  prepared: Promise<P> | null;
}

export interface PrefetchLimits {
  /** Most items ahead of the one being consumed. */
  depth: number;
  /** Most bytes of prepared work ahead: bounds memory whatever the file sizes. */
  bytes: number;
}

/**
 * Hands out the items of `source` in their order while items ahead already
 * have their `prepare` work running (within `limits`): reads overlap each
 * other and the writing of earlier entries, but results are consumed in walk
 * order. `prepare` returns null for an item it does not prepare, else the
 * work and its cost in bytes.
 */
export async function* orderedPrefetch<T, P>(
  source: AsyncIterable<T>,
  prepare: (item: T) => { work: Promise<P>; bytes: number } | null,
  limits: PrefetchLimits,
): AsyncGenerator<Prefetched<T, P>> {
  const queue: (Prefetched<T, P> & { bytes: number })[] = [];
  const iterator = source[Symbol.asyncIterator]();
  let exhausted = false;
  let bytesAhead = 0;
  try {
    for (;;) {
      while (!exhausted && queue.length < limits.depth && (bytesAhead < limits.bytes || queue.length === 0)) {
        const next = await iterator.next();
        if (next.done) {
          exhausted = true;
          break;
        }
        const prepared = prepare(next.value);
        // Handled when consumed; this only keeps an early failure from counting as unhandled.
        prepared?.work.catch(() => {});
        const bytes = prepared?.bytes ?? 0;
        bytesAhead += bytes;
        queue.push({ item: next.value, prepared: prepared?.work ?? null, bytes });
      }
      const head = queue.shift();
      if (!head) return;
      bytesAhead -= head.bytes;
      yield head;
    }
  } finally {
    await iterator.return?.(undefined);
  }
}
