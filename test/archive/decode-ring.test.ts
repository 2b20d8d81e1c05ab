import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DecodeRing, ProducerLead } from '../../src/archive/decode-ring.js';
import { makeTempDir, removeDir, repoRoot } from '../helpers/tmp-dir.js';

// The ring's lead policy, and the ring between a real producer thread and a consumer on this one.
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
const backlogs = [];
for (let seq = 0; seq < workerData.count; seq++) {
  const slot = ring.claim();
  if (slot === null) break;
  backlogs.push(ring.backlog());
  slot.writeUInt32LE(seq, 0);
  ring.publish(4);
}
parentPort.postMessage(backlogs);
`,
  );
});
afterAll(() => removeDir(work));

/** The next slot's sequence number, waiting for it to be published. */
async function next(ring: DecodeRing): Promise<number> {
  for (;;) {
    const slot = ring.peek();
    if (slot !== null) return slot.readUInt32LE(0);
    await ring.published();
  }
}

describe('how far ahead the producer may go', () => {
  it('is the whole ring until a ring of claims in a row has had to wait, then three slots', () => {
    const lead = new ProducerLead(SLOTS);
    expect(lead.limit).toBe(SLOTS);
    for (let i = 0; i < SLOTS - 1; i++) lead.claimed(true);
    expect(lead.limit).toBe(SLOTS);
    lead.claimed(true);
    expect(lead.limit).toBe(3);
    lead.claimed(true);
    expect(lead.limit).toBe(3);
  });

  it('is the whole ring again as soon as a claim finds room at once', () => {
    const lead = new ProducerLead(SLOTS);
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
    const lead = new ProducerLead(2);
    for (let i = 0; i < 4; i++) lead.claimed(true);
    expect(lead.limit).toBe(2);
  });
});

describe('the decode ring between two threads', () => {
  it('a consumer slow, then fast, then away: every slot arrives once, in order', async () => {
    const ring = DecodeRing.create(SLOTS, 64);
    const worker = new Worker(producerScript, { workerData: { shape: ring.shape, count: COUNT } });
    const backlogsAtClaim = new Promise<number[]>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    const seen: number[] = [];
    try {
      // Slow for several rings: the producer fills the ring, then waits on its claims and keeps closer.
      while (seen.length < 60) {
        seen.push(await next(ring));
        await sleep(2);
        ring.release();
      }
      while (seen.length < 90) {
        seen.push(await next(ring));
        ring.release();
      }
      // Away: the producer may fill the ring again, and not beyond it.
      await sleep(100);
      while (seen.length < COUNT) {
        seen.push(await next(ring));
        ring.release();
      }
    } finally {
      ring.close();
    }
    const backlogs = await backlogsAtClaim;
    await worker.terminate();
    expect(seen).toEqual([...Array(COUNT).keys()]);
    expect(backlogs.length).toBe(COUNT);
    // Never more than a ring ahead.
    expect(Math.max(...backlogs)).toBeLessThanOrEqual(SLOTS - 1);
  });
});
