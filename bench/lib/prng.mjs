// Deterministic randomness for the bench trees: a tiny PRNG for choices and
// AES-CTR keystreams for bulk random bytes (several GB/s with AES-NI, where a
// JS PRNG filling buffers would make generation dominate the benchmark).
import { createCipheriv, createHash } from 'node:crypto';

/** mulberry32: 32-bit state, good enough for sizes, names and word choices. */
export function mulberry32(seed) {
  let a = seed >>> 0;
  return function next() {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A 32-bit seed derived from the run's seed and a label (e.g. a file's path). */
export function deriveSeed(seed, label) {
  return createHash('sha256').update(`${seed}\0${label}`).digest().readUInt32LE(0);
}

/** A standard normal variate (Box–Muller) from a uniform source. */
export function normal(rand) {
  let u = 0;
  while (u === 0) u = rand();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}

/**
 * A seeded stream of random bytes: AES-128-CTR over zeros, keyed from the
 * seed and a label, so each file's bytes depend on (seed, path) only and not on
 * the order files are generated in.
 */
export function randomStream(seed, label) {
  const material = createHash('sha256').update(`random\0${seed}\0${label}`).digest();
  const cipher = createCipheriv('aes-128-ctr', material.subarray(0, 16), material.subarray(16, 32));
  let zeros = Buffer.alloc(0);
  return function fill(length) {
    if (zeros.length < length) zeros = Buffer.alloc(length);
    return cipher.update(zeros.subarray(0, length));
  };
}
