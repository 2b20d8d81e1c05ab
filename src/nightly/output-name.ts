import os from 'node:os';
import path from 'node:path';

/** The placeholders an output template may use. */
export const PLACEHOLDERS = ['date', 'time', 'host'] as const;
export type Placeholder = (typeof PLACEHOLDERS)[number];

/** The template a nightly job uses when its configuration names none (prune's default shape). */
export const DEFAULT_TEMPLATE = '{host}-{date}-{time}.tar.zst';

const TOKEN = /\{([^{}]*)\}/g;

/**
 * What is wrong with an output template, or null. Placeholders must be known;
 * `{date}` and `{time}` belong in the file name only, because retention looks
 * for a night's archives in one directory.
 */
export function templateProblem(template: string): string | null {
  if (template === '' || template === '-') return 'a file name template (stdout takes no template)';
  for (const m of template.matchAll(TOKEN)) {
    if (!(PLACEHOLDERS as readonly string[]).includes(m[1]!)) return `a template whose placeholders are {date}, {time} and {host} (not {${m[1]}})`;
  }
  if (/[{}]/.test(template.replace(TOKEN, ''))) return 'a template with balanced braces';
  const dir = path.dirname(template);
  if (/\{(date|time)\}/.test(dir)) return 'a template with {date} and {time} in the file name only, not the directory';
  if (path.basename(template).startsWith('.')) return 'a template whose file name does not start with a dot (safebak keeps its temporaries there)';
  return null;
}

/** The local-time values of the placeholders: `date` = YYYY-MM-DD, `time` = HHMMSS (as `date +%F` and `+%H%M%S` print them). */
export function placeholderValues(when: Date, host = os.hostname()): Record<Placeholder, string> {
  const p2 = (n: number): string => String(n).padStart(2, '0');
  return {
    date: `${when.getFullYear()}-${p2(when.getMonth() + 1)}-${p2(when.getDate())}`,
    time: `${p2(when.getHours())}${p2(when.getMinutes())}${p2(when.getSeconds())}`,
    host: shortHost(host),
  };
}

/** The first label of the host name: a file name needs no domain. */
function shortHost(host: string): string {
  return host.split('.')[0]!.replace(/[/\0]/g, '_') || 'localhost';
}

/** Fills a template's placeholders. */
export function expandTemplate(template: string, when: Date, host = os.hostname()): string {
  const values = placeholderValues(when, host);
  return template.replace(TOKEN, (_, name: Placeholder) => values[name]);
}

/**
 * The shape of the file names a template makes, as a RegExp over base names:
 * `{date}` and `{time}` become digit patterns, `{host}` stays this host's
 * name, so that hosts sharing a directory never prune each other's archives.
 */
export function templatePattern(template: string, host = os.hostname()): RegExp {
  const base = path.basename(template);
  let source = '';
  let last = 0;
  const named = new Set<string>();
  for (const m of base.matchAll(TOKEN)) {
    source += escape(base.slice(last, m.index));
    const name = m[1] as Placeholder;
    // A placeholder used twice captures once: a RegExp may not repeat a group name.
    const group = name !== 'host' && !named.has(name) ? `?<${name}>` : '?:';
    named.add(name);
    source += name === 'date' ? `(${group}\\d{4}-\\d{2}-\\d{2})` : name === 'time' ? `(${group}\\d{6})` : escape(shortHost(host));
    last = m.index + m[0].length;
  }
  source += escape(base.slice(last));
  return new RegExp(`^${source}$`);
}

/** The directory a template's archives land in (placeholders filled). */
export function templateDirectory(template: string, host = os.hostname()): string {
  return path.dirname(expandTemplate(template, new Date(), host));
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
