/** A batch of walk items with the work started for each of them ahead of time (null: none). */
export interface PreparedBatch<T, P> {
  items: T[];
  prepared: (P | null)[];
}

/**
 * Hands out batches of `source` in their order while up to `ahead` batches
 * after the one being consumed already have their `prepare` work running:
 * reads overlap each other and the writing of earlier entries, but results
 * are consumed in walk order. The batches' own limits bound what is held.
 * `prepare`'s work per item is a promise or any other handle (null: none).
 */
export async function* orderedPrefetch<T, P>(
  source: AsyncIterable<T[]>,
  prepare: (items: T[]) => (P | null)[],
  ahead: number,
): AsyncGenerator<PreparedBatch<T, P>> {
  const queue: PreparedBatch<T, P>[] = [];
  const iterator = source[Symbol.asyncIterator]();
  let exhausted = false;
  try {
    for (;;) {
      while (!exhausted && queue.length <= ahead) {
        const next = await iterator.next();
        if (next.done) {
          exhausted = true;
          break;
        }
        const prepared = prepare(next.value);
        // Handled when consumed; this only keeps an early failure from counting as unhandled.
        for (const p of prepared) if (p instanceof Promise) p.catch(() => {});
        queue.push({ items: next.value, prepared });
      }
      const head = queue.shift();
      if (!head) return;
      yield head;
    }
  } finally {
    await iterator.return?.(undefined);
  }
}
