// Small statistics and formatting helpers for the runner.

export function median(values) {
  const v = [...values].sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

export function summarize(values) {
  return { median: median(values), min: Math.min(...values), max: Math.max(...values) };
}

export function seconds(s) {
  return Number.isFinite(s) ? `${s.toFixed(s < 10 ? 2 : 1)} s` : '–';
}

export function mib(kib) {
  return Number.isFinite(kib) ? `${(kib / 1024).toFixed(0)} MiB` : '–';
}

export function ratio(r) {
  return Number.isFinite(r) ? r.toFixed(2) : '–';
}
