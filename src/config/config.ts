import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SafebakError } from '../errors.js';

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
  wholeReadBytes: number;
  readAhead: number;
  segmentEntries: number;
  segmentBytes: number;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  logFile: string | null;
}

type Check = (value: unknown) => string | null;

const int = (min: number, max: number): Check => (v) =>
  typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max ? null : `an integer from ${min} to ${max}`;
const num = (min: number, max: number): Check => (v) =>
  typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max ? null : `a number from ${min} to ${max}`;
const oneOf = (...values: string[]): Check => (v) => (values.includes(v as string) ? null : `one of ${values.join(', ')}`);
const bool: Check = (v) => (typeof v === 'boolean' ? null : 'true or false');
const strings: Check = (v) => (Array.isArray(v) && v.every((s) => typeof s === 'string') ? null : 'a list of strings');
const pathOrNull: Check = (v) => (v === null || (typeof v === 'string' && v !== '') ? null : 'a path or null');

const schema: Record<keyof Config, Check> = {
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
  wholeReadBytes: int(0, 64 * 1024 * 1024),
  readAhead: int(1, 4096),
  segmentEntries: int(1, 1_000_000),
  segmentBytes: int(1, 2 ** 40),
  logLevel: oneOf('fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'),
  logFile: pathOrNull,
};

/**
 * Checks a partial configuration: every key known, every value of its type.
 * Errors name the key and what it should be.
 */
export function validateConfig(input: unknown, origin: string): Partial<Config> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new SafebakError('SAFEBAK_CONFIG', 'configuration must be a JSON object', { path: origin });
  }
  for (const [key, value] of Object.entries(input)) {
    const check = schema[key as keyof Config];
    if (!check) throw new SafebakError('SAFEBAK_CONFIG', `unknown setting "${key}"`, { path: origin });
    const want = check(value);
    if (want) throw new SafebakError('SAFEBAK_CONFIG', `setting "${key}" must be ${want}, not ${JSON.stringify(value)}`, { path: origin });
  }
  return input as Partial<Config>;
}

/** Reads and validates a JSON configuration file. */
export function loadConfigFile(path: string): Partial<Config> {
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

/** The defaults shipped in `config/default.json`, validated and complete. */
export const defaultConfig: Readonly<Config> = Object.freeze(loadDefaults());

function loadDefaults(): Config {
  const partial = loadConfigFile(defaultPath);
  const missing = Object.keys(schema).filter((k) => !(k in partial));
  if (missing.length) throw new SafebakError('SAFEBAK_CONFIG', `default configuration lacks ${missing.join(', ')}`, { path: defaultPath });
  return partial as Config;
}
