import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SafebakError } from '../errors.js';
import { durationProblem } from '../nightly/duration.js';
import type { RetentionRules } from '../nightly/retention-rules.js';
import { templateProblem } from '../nightly/output-name.js';

/** Every setting of `safebak create`, as `config/default.json` and `--config FILE` spell them. */
export interface Config {
  /** `auto` follows the output name (`.tar.zst`/`.tzst` → zstd); stdout gets none. */
  compress: 'auto' | 'zstd' | 'none';
  level: number;
  strategy: 'auto' | 'copy' | 'splice' | 'snapshot';
  retries: number;
  retryDelayMs: number;
  paranoid: boolean;
  recentSeconds: number;
  exclude: string[];
  oneFileSystem: boolean;
  verify: boolean;
  smallFileBytes: number;
  /** Where snapshot images go (same filesystem as the sources to clone); null: beside each source. */
  snapshotDir: string | null;
  /** Snapshot private copies up to this size go into a sealed memfd rather than an O_TMPFILE. */
  memfdSnapshotBytes: number;
  /** From this size `auto` splices to a raw output where O_DIRECT opens; below it copy is faster (bench: transfer strategies). */
  spliceMinBytes: number;
  wholeReadBytes: number;
  readAhead: number;
  readAheadBytes: number;
  segmentEntries: number;
  segmentBytes: number;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  logFile: string | null;
  /** Every source root must be a mount point: an unmounted disk's empty directory is no backup. */
  requireMount: boolean;
  /** Every source root (a directory) must hold a file of this name; null = no marker. */
  requireMarker: string | null;
}

/**
 * The settings of a nightly job (`safebak create --config FILE` without PATH
 * or -o; `safebak prune --config FILE`): what to archive, where, and what to
 * keep (the retention rules, applied after a successful run and by `safebak
 * prune`; null = not used).
 */
export interface JobConfig extends RetentionRules {
  /** Paths to archive, relative to `directory`; used when the command line gives none. */
  sources: string[];
  /** The directory sources are relative to (`-C`); null = the working directory. */
  directory: string | null;
  /** Output path template with `{date}`, `{time}`, `{host}`; used when the command line gives no -o. */
  output: string | null;
  /** Where the run's JSON report goes (placeholders allowed); null = no report. */
  report: string | null;
  /** The job's name, written into each archive's manifest header; prune deletes only this job's archives. Null: derived from `output` and `sources`. */
  job: string | null;
}

/** Everything a configuration file may say: the create settings and the job's. */
export type ConfigFile = Config & JobConfig;

/** The one key that carries comments in a JSON configuration: ignored, but only if it is text. */
export const COMMENT_KEY = '//';

type Check = (value: unknown) => string | null;

const int = (min: number, max: number): Check => (v) =>
  typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max ? null : `an integer from ${min} to ${max}`;
const num = (min: number, max: number): Check => (v) =>
  typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max ? null : `a number from ${min} to ${max}`;
const oneOf = (...values: string[]): Check => (v) => (values.includes(v as string) ? null : `one of ${values.join(', ')}`);
const bool: Check = (v) => (typeof v === 'boolean' ? null : 'true or false');
const strings: Check = (v) => (Array.isArray(v) && v.every((s) => typeof s === 'string') ? null : 'a list of strings');
const pathOrNull: Check = (v) => (v === null || (typeof v === 'string' && v !== '') ? null : 'a path or null');
const countOrNull: Check = (v) => (v === null ? null : int(0, 1_000_000)(v) && 'a whole number from 0 to 1000000, or null');
const templateOrNull: Check = (v) => (v === null ? null : typeof v !== 'string' ? 'a file name template or null' : templateProblem(v));
const durationOrNull: Check = (v) => (v === null ? null : typeof v !== 'string' ? 'a duration such as "7d", or null' : durationProblem(v));
const jobOrNull: Check = (v) => (v === null || (typeof v === 'string' && /^[\x21-\x7e]{1,200}$/.test(v)) ? null : 'a job name (printable, no spaces, at most 200 characters) or null');
const markerOrNull: Check = (v) =>
  v === null || (typeof v === 'string' && v !== '' && v !== '.' && v !== '..' && !v.includes('/')) ? null : 'a file name (no slash) or null';
const comment: Check = (v) => (typeof v === 'string' || strings(v) === null ? null : 'a comment: a string or a list of strings');

const schema: Record<keyof ConfigFile, Check> = {
  compress: oneOf('auto', 'zstd', 'none'),
  level: int(-7, 22),
  strategy: oneOf('auto', 'copy', 'splice', 'snapshot'),
  retries: int(0, 100),
  retryDelayMs: int(0, 60_000),
  paranoid: bool,
  recentSeconds: num(0, 86_400),
  exclude: strings,
  oneFileSystem: bool,
  verify: bool,
  smallFileBytes: int(0, 2 ** 40),
  snapshotDir: pathOrNull,
  memfdSnapshotBytes: int(0, 1024 * 1024 * 1024),
  spliceMinBytes: int(0, 2 ** 50),
  wholeReadBytes: int(0, 64 * 1024 * 1024),
  readAhead: int(1, 4096),
  readAheadBytes: int(1, 1024 * 1024 * 1024),
  segmentEntries: int(1, 1_000_000),
  segmentBytes: int(1, 2 ** 40),
  logLevel: oneOf('fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'),
  logFile: pathOrNull,
  requireMount: bool,
  requireMarker: markerOrNull,
  sources: strings,
  directory: pathOrNull,
  output: templateOrNull,
  report: pathOrNull,
  keepLast: countOrNull,
  keepDaily: countOrNull,
  keepWeekly: countOrNull,
  keepMonthly: countOrNull,
  keepYearly: countOrNull,
  keepWithin: durationOrNull,
  job: jobOrNull,
};

const JOB_KEYS: readonly (keyof JobConfig)[] = [
  'sources',
  'directory',
  'output',
  'report',
  'job',
  'keepLast',
  'keepDaily',
  'keepWeekly',
  'keepMonthly',
  'keepYearly',
  'keepWithin',
];

/**
 * Checks a partial configuration: every key known, every value of its type.
 * Errors name the key and what it should be.
 */
export function validateConfig(input: unknown, origin: string): Partial<ConfigFile> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new SafebakError('SAFEBAK_CONFIG', 'configuration must be a JSON object', { path: origin });
  }
  const settings: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(input)) {
    // Comments are allowed under exactly one key, so a misspelt setting is still an error.
    const check = key === COMMENT_KEY ? comment : Object.hasOwn(schema, key) ? schema[key as keyof ConfigFile] : undefined;
    if (!check) throw new SafebakError('SAFEBAK_CONFIG', `unknown setting "${key}"`, { path: origin });
    const want = check(value);
    if (want) throw new SafebakError('SAFEBAK_CONFIG', `setting "${key}" must be ${want}, not ${JSON.stringify(value)}`, { path: origin });
    if (key !== COMMENT_KEY) settings[key] = value;
  }
  return settings as Partial<ConfigFile>;
}

/** Reads and validates a JSON configuration file. */
export function loadConfigFile(path: string): Partial<ConfigFile> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new SafebakError('SAFEBAK_CONFIG', `cannot read the configuration: ${(err as Error).message}`, { path, cause: err });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new SafebakError('SAFEBAK_CONFIG', `configuration is not valid JSON: ${(err as Error).message}`, { path, cause: err });
  }
  return validateConfig(value, path);
}

const defaultPath = fileURLToPath(new URL('../../config/default.json', import.meta.url));

const defaults = loadDefaults();

/** The create defaults shipped in `config/default.json`, validated and complete. */
export const defaultConfig: Readonly<Config> = Object.freeze(defaults.create);

/** The job defaults shipped in `config/default.json` (no sources, no template, no report, no retention). */
export const defaultJobConfig: Readonly<JobConfig> = Object.freeze(defaults.job);

function loadDefaults(): { create: Config; job: JobConfig } {
  const partial = loadConfigFile(defaultPath);
  const missing = Object.keys(schema).filter((k) => !(k in partial));
  if (missing.length) throw new SafebakError('SAFEBAK_CONFIG', `default configuration lacks ${missing.join(', ')}`, { path: defaultPath });
  const create: Record<string, unknown> = {};
  const job: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(partial)) ((JOB_KEYS as readonly string[]).includes(key) ? job : create)[key] = value;
  return { create: create as unknown as Config, job: job as unknown as JobConfig };
}

/** Splits a configuration into its create settings and its job settings. */
export function splitConfig(settings: Partial<ConfigFile>): { create: Partial<Config>; job: Partial<JobConfig> } {
  const create: Record<string, unknown> = {};
  const job: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(settings)) ((JOB_KEYS as readonly string[]).includes(key) ? job : create)[key] = value;
  return { create: create as Partial<Config>, job: job as Partial<JobConfig> };
}
