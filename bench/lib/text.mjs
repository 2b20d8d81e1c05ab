// Seeded text: lines of words drawn from a fixed vocabulary with a Zipf-like
// frequency, so zstd sees something that compresses like prose or logs
// (roughly 3:1 at level 3) rather than like random bytes or like zeros.
import { mulberry32, deriveSeed } from './prng.mjs';

const COMMON = `the of and to a in is it you that he was for on are with as i his they be at
one have this from or had by hot word but what some we can out other were all there when up use your
how said an each she which do their time if will way about many then them write would like so these
her long make thing see him two has look more day could go come did number sound no most people my over
know water than call first who may down side been now find any new work part take get place made live
where after back little only round man year came show every good me give our under name very through
just form sentence great think say help low line differ turn cause much mean before move right boy old
too same tell does set three want air well also play small end put home read hand port large spell add
even land here must big high such follow act why ask men change went light kind off need house picture
try us again animal point mother world near build self earth father head stand own page should country
found answer school grow study still learn plant cover food sun four between state keep eye never last
let thought city tree cross farm hard start might story saw far sea draw left late run while press close
night real life few north open seem together next white children begin got walk example ease paper group
always music those both mark often letter until mile river car feet care second book carry took science
eat room friend began idea fish mountain stop once base hear horse cut sure watch color face wood main
error warning info debug request response server client backup archive file directory checksum verify
manifest stream buffer offset length header record status changed stable retry snapshot splice copy`
  .split(/\s+/)
  .filter(Boolean);

const SYLLABLES = ['ka', 'lo', 'mi', 'ne', 'ru', 'sa', 'to', 'vi', 'pe', 'da', 'gor', 'lin', 'mar', 'est', 'ion', 'ter', 'al', 'en', 'or', 'ul'];

/** A vocabulary built once per seed: common words first (the frequent ranks), then pseudo-words. */
function buildVocabulary(seed, size) {
  const rand = mulberry32(deriveSeed(seed, 'vocabulary'));
  const words = [...COMMON];
  const seen = new Set(words);
  while (words.length < size) {
    let w = '';
    const n = 1 + Math.floor(rand() * 4);
    for (let i = 0; i < n; i++) w += SYLLABLES[Math.floor(rand() * SYLLABLES.length)];
    if (rand() < 0.05) w += String(Math.floor(rand() * 1000));
    if (!seen.has(w)) {
      seen.add(w);
      words.push(w);
    }
  }
  return words;
}

/**
 * A text source for one seed. `fill(rand, buffer)` writes words into the
 * whole buffer; the caller owns `rand`, so a file's text depends only on its
 * own seeded PRNG and long files can be written in chunks.
 */
export function textSource(seed, vocabularySize = 8192) {
  const words = buildVocabulary(seed, vocabularySize);
  const bytes = Buffer.from(words.join(''), 'latin1');
  const offsets = new Uint32Array(words.length);
  const lengths = new Uint8Array(words.length);
  let o = 0;
  for (let i = 0; i < words.length; i++) {
    offsets[i] = o;
    lengths[i] = words[i].length;
    o += words[i].length;
  }
  // Zipf (s = 1.07) as a 64 Ki-entry lookup table: one table read per word.
  const TABLE = 65536;
  const table = new Uint16Array(TABLE);
  const weights = words.map((_, r) => 1 / Math.pow(r + 1, 1.07));
  const total = weights.reduce((a, b) => a + b, 0);
  let cumulative = 0;
  let rank = 0;
  for (let i = 0; i < TABLE; i++) {
    const target = ((i + 0.5) / TABLE) * total;
    while (rank < words.length - 1 && cumulative + weights[rank] < target) cumulative += weights[rank++];
    table[i] = rank;
  }
  const PUNCT = [0x2c, 0x2e, 0x3b, 0x3a]; // , . ; :

  // Word-by-word generation runs at tens of MB/s in JS; files are instead
  // assembled from runs of lines out of a pre-generated pool.
  // With 256 Ki lines (~16 MiB) a line recurs within zstd level 3's 2 MiB
  // window only about one time in eight, so the text still compresses like text.
  const POOL_LINES = 262144;
  const poolRand = mulberry32(deriveSeed(seed, 'line-pool'));
  const lineStarts = new Uint32Array(POOL_LINES + 1);
  const chunks = [];
  let poolBytes = 0;
  const line = Buffer.alloc(512);
  for (let l = 0; l < POOL_LINES; l++) {
    lineStarts[l] = poolBytes;
    let pos = 0;
    const lineWords = 4 + ((poolRand() * 12) | 0);
    for (let w = 0; w < lineWords; w++) {
      const idx = table[(poolRand() * TABLE) | 0];
      bytes.copy(line, pos, offsets[idx], offsets[idx] + lengths[idx]);
      pos += lengths[idx];
      if (poolRand() < 0.06) line[pos++] = PUNCT[(poolRand() * 4) | 0];
      if (w < lineWords - 1) line[pos++] = 0x20;
    }
    line[pos++] = 0x0a;
    chunks.push(Buffer.from(line.subarray(0, pos)));
    poolBytes += pos;
  }
  lineStarts[POOL_LINES] = poolBytes;
  const pool = Buffer.concat(chunks, poolBytes);

  return function fill(rand, buffer) {
    const end = buffer.length;
    let pos = 0;
    while (pos < end) {
      // A run of 16 consecutive pool lines (~1 KiB) per copy keeps the
      // per-call cost of Buffer.copy out of the way.
      const l = (rand() * (POOL_LINES - 16)) | 0;
      const from = lineStarts[l];
      const n = Math.min(lineStarts[l + 16] - from, end - pos);
      pool.copy(buffer, pos, from, from + n);
      pos += n;
    }
    return buffer;
  };
}
