import { SafebakError } from '../errors.js';

/** A calendar span as restic writes it: `1y2m3w4d5h` (years, months, weeks, days, hours). */
export interface Duration {
  years: number;
  months: number;
  weeks: number;
  days: number;
  hours: number;
}

const PART = /(\d+)([ymwdh])/g;
const WHOLE = /^(?:\d+[ymwdh])+$/;

/** What is wrong with a duration's text, or null. */
export function durationProblem(text: string): string | null {
  return WHOLE.test(text) && /[1-9]/.test(text) ? null : 'a duration such as 7d, 2w, 12h or 1y2m (units y, m, w, d, h; not zero)';
}

/** Parses `7d`, `2w`, `1y2m`, … (a unit may repeat: `1d1d` is 2 days); anything else is a usage error. */
export function parseDuration(text: string): Duration {
  const problem = durationProblem(text);
  if (problem) throw new SafebakError('SAFEBAK_USAGE', `${JSON.stringify(text)} is not ${problem}`);
  const d: Duration = { years: 0, months: 0, weeks: 0, days: 0, hours: 0 };
  const key = { y: 'years', m: 'months', w: 'weeks', d: 'days', h: 'hours' } as const;
  for (const m of text.matchAll(PART)) d[key[m[2] as keyof typeof key]] += Number(m[1]);
  return d;
}

/**
 * The moment `d` before `when`, in local calendar arithmetic (a month back
 * from 31 March is 3 March, as JavaScript's and Go's date maths agree).
 */
export function subtractDuration(when: Date, d: Duration): Date {
  const t = new Date(when.getTime());
  t.setFullYear(t.getFullYear() - d.years, t.getMonth() - d.months, t.getDate() - d.weeks * 7 - d.days);
  t.setHours(t.getHours() - d.hours);
  return t;
}

/** A span of milliseconds as `3d 4h`, `12m`, `40s`: how old a lock is. */
export function formatAge(ms: number): string {
  if (Number.isNaN(ms)) return 'an unknown time';
  if (ms < 0) return `${formatAge(-ms)} in the future`;
  const s = Math.floor(ms / 1000);
  const [d, h, m] = [Math.floor(s / 86_400), Math.floor((s % 86_400) / 3600), Math.floor((s % 3600) / 60)];
  if (d > 0) return h > 0 ? `${d}d ${h}h` : `${d}d`;
  if (h > 0) return m > 0 ? `${h}h ${m}m` : `${h}h`;
  return m > 0 ? `${m}m` : `${s}s`;
}
