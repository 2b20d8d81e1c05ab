/** An item of the walk with the work started for it ahead of time. */
export interface Prefetched<T, P> {
  item: T;
  prepared: Promise<P> | null;
}

/**
 * Hands out the items of `source` in their order while up to `depth` items
 * ahead already have their `prepare` work running: reads overlap each other
 * and the writing of earlier entries, but results are consumed in walk order.
 */
export async function* orderedPrefetch<T, P>(
  source: AsyncIterable<T>,
  prepare: (item: T) => Promise<P> | null,
  depth: number,
): AsyncGenerator<Prefetched<T, P>> {
  const queue: Prefetched<T, P>[] = [];
  const iterator = source[Symbol.asyncIterator]();
  let exhausted = false;
  try {
    for (;;) {
      while (!exhausted && queue.length < depth) {
        const next = await iterator.next();
        if (next.done) {
          exhausted = true;
          break;
        }
        const prepared = prepare(next.value);
        // Handled when consumed; this only keeps an early failure from counting as unhandled.
        prepared?.catch(() => {});
        queue.push({ item: next.value, prepared });
      }
      const head = queue.shift();
      if (!head) return;
      yield head;
    }
  } finally {
    await iterator.return?.(undefined);
  }
}
