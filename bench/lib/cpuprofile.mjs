// Reads V8 .cpuprofile files (node --cpu-prof) and ranks functions by self time.
//
// A profile is a call tree (`nodes`, each with a `callFrame`) plus a sample
// stream (`samples`: node ids; `timeDeltas`: µs before each sample). A
// sample's duration is the gap to the next sample, as Chrome DevTools counts
// it; self time of a function is the sum over the samples that landed in it,
// summed over every tree node with the same callFrame (the same function
// reached along different stacks).
import fs from 'node:fs';
import path from 'node:path';

const SPECIAL = new Set(['(idle)', '(program)', '(garbage collector)', '(root)']);

function frameKey(cf) {
  return `${cf.functionName}\0${cf.url}\0${cf.lineNumber}\0${cf.columnNumber}`;
}

/** Self time (µs) per callFrame for one profile, plus its total and idle time. */
export function selfTimes(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  const { samples, timeDeltas } = profile;
  let total = 0;
  let idle = 0;
  for (let i = 0; i < samples.length; i++) {
    const dt = i + 1 < timeDeltas.length ? Math.max(0, timeDeltas[i + 1]) : 0;
    const node = byId.get(samples[i]);
    if (!node) continue;
    const key = frameKey(node.callFrame);
    const entry = self.get(key) ?? { callFrame: node.callFrame, us: 0 };
    entry.us += dt;
    self.set(key, entry);
    total += dt;
    if (node.callFrame.functionName === '(idle)') idle += dt;
  }
  return { self, total, idle };
}

/** Where a frame lives, shortened to something readable: dist/…, node:…, node_modules/pkg/…. */
export function location(cf, repoRoot) {
  if (!cf.url) return SPECIAL.has(cf.functionName) ? '' : '(native)';
  let url = cf.url.replace(/^file:\/\//, '');
  if (repoRoot && url.startsWith(repoRoot + path.sep)) url = url.slice(repoRoot.length + 1);
  url = url.replace(/^.*\/node_modules\//, 'node_modules/');
  return `${url}:${cf.lineNumber + 1}`;
}

/**
 * Merges every .cpuprofile in `dir` (the main thread and any worker threads)
 * and returns the threads' totals and the top `limit` functions by self time.
 */
export function analyzeProfileDir(dir, { limit = 25, repoRoot } = {}) {
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).sort();
  const merged = new Map();
  const threads = [];
  for (const f of files) {
    const profile = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
    const { self, total, idle } = selfTimes(profile);
    // File names are CPU.<date>.<time>.<pid>.<thread id>.<seq>.cpuprofile; thread 0 is the main thread.
    const threadId = f.split('.')[4] ?? '?';
    threads.push({ file: f, thread: threadId === '0' ? 'main' : `worker ${threadId}`, totalMs: total / 1000, busyMs: (total - idle) / 1000 });
    for (const [key, entry] of self) {
      const m = merged.get(key) ?? { callFrame: entry.callFrame, us: 0 };
      m.us += entry.us;
      merged.set(key, m);
    }
  }
  const busyUs = threads.reduce((a, t) => a + t.busyMs * 1000, 0);
  const top = [...merged.values()]
    .filter((e) => e.callFrame.functionName !== '(idle)')
    .sort((a, b) => b.us - a.us)
    .slice(0, limit)
    .map((e) => ({
      function: e.callFrame.functionName || '(anonymous)',
      location: location(e.callFrame, repoRoot),
      selfMs: e.us / 1000,
      share: busyUs > 0 ? e.us / busyUs : 0,
    }));
  return { files, threads, busyMs: busyUs / 1000, top };
}

export function formatProfile(result) {
  const lines = [];
  for (const t of result.threads) lines.push(`  ${t.thread.padEnd(10)} ${t.totalMs.toFixed(0).padStart(7)} ms profiled, ${t.busyMs.toFixed(0).padStart(7)} ms busy  (${t.file})`);
  lines.push('');
  lines.push('| # | self ms | % of busy | function | where |');
  lines.push('|---:|---:|---:|---|---|');
  result.top.forEach((e, i) => {
    lines.push(`| ${i + 1} | ${e.selfMs.toFixed(0)} | ${(100 * e.share).toFixed(1)} | \`${e.function}\` | ${e.location} |`);
  });
  return lines.join('\n');
}
