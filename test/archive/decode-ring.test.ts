import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DecodeRing, RingPace } from '../../src/archive/decode-ring.js';
import { makeTempDir, removeDir, repoRoot } from '../helpers/tmp-dir.js';

// The ring's pace (which side is slower, and what follows), and the ring between a real producer thread and a consumer on this one.
let work: string;
let producerScript: string;
const SLOTS = 16;
const COUNT = 120;

beforeAll(() => {
  work = makeTempDir('decode-ring');
  // A worker cannot load TypeScript: the producer uses the built ring (dist/, from the global setup).
  const ringUrl = pathToFileURL(path.join(repoRoot, 'dist', 'archive', 'decode-ring.js')).href;
  producerScript = path.join(work, 'producer.mjs');
  fs.writeFileSync(
    producerScript,
    `import { parentPort, workerData } from 'node:worker_threads';
import { DecodeRing } from ${JSON.stringify(ringUrl)};
const ring = DecodeRing.attach(workerData.shape);
let produced = 0;
for (; produced < workerData.count; produced++) {
  const slot = ring.claim();
  if (slot === null) break;
  slot.writeUInt32LE(produced, 0);
  ring.publish(4);
}
parentPort.postMessage(produced);
`,
  );
});
afterAll(() => removeDir(work));

/** The next slot, waiting for it to be published. */
async function next(ring: DecodeRing): Promise<Buffer> {
  for (;;) {
    const slot = ring.peek();
    if (slot !== null) return slot;
    await ring.published();
  }
}

describe('how far ahead the producer may go', () => {
  it('is the whole ring until a ring of claims in a row has had to wait, then three slots', () => {
    const lead = new RingPace(SLOTS);
    expect(lead.limit).toBe(SLOTS);
    for (let i = 0; i < SLOTS - 1; i++) lead.claimed(true);
    expect(lead.limit).toBe(SLOTS);
    lead.claimed(true);
    expect(lead.limit).toBe(3);
    lead.claimed(true);
    expect(lead.limit).toBe(3);
  });

  it('is the whole ring again as soon as a claim finds room at once', () => {
    const lead = new RingPace(SLOTS);
    for (let i = 0; i < 2 * SLOTS; i++) lead.claimed(true);
    lead.claimed(false);
    expect(lead.limit).toBe(SLOTS);
    // One claim without waiting restarts the count.
    for (let i = 0; i < SLOTS - 1; i++) lead.claimed(true);
    lead.claimed(false);
    for (let i = 0; i < SLOTS - 1; i++) lead.claimed(true);
    expect(lead.limit).toBe(SLOTS);
  });

  it('never exceeds a ring smaller than three slots', () => {
    const lead = new RingPace(2);
    for (let i = 0; i < 4; i++) lead.claimed(true);
    expect(lead.limit).toBe(2);
  });
});

describe('whether the consumer is the slower side', () => {
  it('follows the recent waits: claims that wait for room against publishes that find the consumer waiting', () => {
    const pace = new RingPace(SLOTS);
    expect(pace.consumerBehind).toBe(false);
    pace.claimed(false);
    pace.published(false);
    expect(pace.consumerBehind).toBe(false);
    pace.claimed(true);
    expect(pace.consumerBehind).toBe(true);
    pace.published(true);
    expect(pace.consumerBehind).toBe(false);
  });

  it('remembers eight waits at most, either way', () => {
    const pace = new RingPace(SLOTS);
    for (let i = 0; i < 50; i++) pace.claimed(true);
    for (let i = 0; i < 7; i++) pace.published(true);
    expect(pace.consumerBehind).toBe(true);
    pace.published(true);
    expect(pace.consumerBehind).toBe(false);
    // A long run of a starved consumer is undone by as few waits.
    for (let i = 0; i < 50; i++) pace.published(true);
    for (let i = 0; i < 8; i++) pace.claimed(true);
    expect(pace.consumerBehind).toBe(false);
    pace.claimed(true);
    expect(pace.consumerBehind).toBe(true);
  });
});

describe('the decode ring between two threads', () => {
  it('a consumer slow, then fast, then away: every slot arrives once, in order, and keeps its bytes until handed back', async () => {
    const ring = DecodeRing.create(SLOTS, 64);
    const worker = new Worker(producerScript, { workerData: { shape: ring.shape, count: COUNT } });
    const producedCount = new Promise<number>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    const seen: number[] = [];
    const overwritten: number[] = [];
    /** Takes the next slot, holds it for `holdMs` (the producer goes on meanwhile), then hands it back. */
    const take = async (holdMs: number): Promise<void> => {
      const slot = await next(ring);
      const seq = slot.readUInt32LE(0);
      seen.push(seq);
      if (holdMs > 0) await sleep(holdMs);
      if (slot.readUInt32LE(0) !== seq) overwritten.push(seq);
      ring.release();
    };
    try {
      // Slow for several rings: the producer fills the ring, then waits on its claims and keeps closer.
      while (seen.length < 60) await take(2);
      while (seen.length < 90) await take(0);
      // Away: the producer may fill the ring again meanwhile.
      await sleep(100);
      while (seen.length < COUNT) await take(1);
    } finally {
      ring.close();
    }
    expect(await producedCount).toBe(COUNT);
    await worker.terminate();
    expect(seen).toEqual([...Array(COUNT).keys()]);
    expect(overwritten).toEqual([]);
  });
});
