import { InvalidArgumentError } from 'commander';
import { durationProblem } from '../nightly/duration.js';

/** What a command hands back to `main`: the exit status. */
export type CommandResult = number;

/** Writes one human line on stderr, as every safebak message looks. */
export function say(line: string): void {
  process.stderr.write(`safebak: ${line}\n`);
}

/** Prints one JSON document, to stdout unless stdout carries archive bytes. */
export function printJson(value: unknown, toStderr = false): void {
  (toStderr ? process.stderr : process.stdout).write(JSON.stringify(value, null, 2) + '\n');
}

/** A commander argument parser for whole numbers within bounds. */
export function integerIn(min: number, max: number): (value: string) => number {
  return (value) => {
    if (!/^-?\d+$/.test(value)) throw new InvalidArgumentError(`must be a whole number from ${min} to ${max}`);
    const n = Number(value);
    if (n < min || n > max) throw new InvalidArgumentError(`must be a whole number from ${min} to ${max}`);
    return n;
  };
}

/** A commander argument parser for durations (`7d`, `2w`, `1y2m`): `--keep-within`, `--older-than`. */
export function durationArgument(value: string): string {
  const problem = durationProblem(value);
  if (problem) throw new InvalidArgumentError(`must be ${problem}`);
  return value;
}

/** Collects a repeatable option's values. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}
