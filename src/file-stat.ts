import type { BigIntStats } from 'node:fs';

/**
 * The part of a stat that safebak uses, in nanoseconds and bigints so that
 * nothing is rounded. Node's BigIntStats satisfies it, and so does a stat
 * unpacked from the native addon's batched calls.
 */
export type FileStat = Pick<
  BigIntStats,
  | 'dev'
  | 'ino'
  | 'mode'
  | 'nlink'
  | 'uid'
  | 'gid'
  | 'rdev'
  | 'size'
  | 'mtimeNs'
  | 'ctimeNs'
  | 'isFile'
  | 'isDirectory'
  | 'isSymbolicLink'
  | 'isFIFO'
  | 'isCharacterDevice'
  | 'isBlockDevice'
  | 'isSocket'
>;

const S_IFMT = 0o170000n;

/** A FileStat over ten packed fields (dev ino mode nlink uid gid rdev size mtimeNs ctimeNs) of a BigInt64Array. */
export class PackedStat implements FileStat {
  readonly dev: bigint;
  readonly ino: bigint;
  readonly mode: bigint;
  readonly nlink: bigint;
  readonly uid: bigint;
  readonly gid: bigint;
  readonly rdev: bigint;
  readonly size: bigint;
  readonly mtimeNs: bigint;
  readonly ctimeNs: bigint;

  constructor(fields: BigInt64Array, at: number) {
    this.dev = BigInt.asUintN(64, fields[at]!);
    this.ino = BigInt.asUintN(64, fields[at + 1]!);
    this.mode = fields[at + 2]!;
    this.nlink = fields[at + 3]!;
    this.uid = fields[at + 4]!;
    this.gid = fields[at + 5]!;
    this.rdev = BigInt.asUintN(64, fields[at + 6]!);
    this.size = fields[at + 7]!;
    this.mtimeNs = fields[at + 8]!;
    this.ctimeNs = fields[at + 9]!;
  }

  #is(type: bigint): boolean {
    return (this.mode & S_IFMT) === type;
  }
  isFile(): boolean {
    return this.#is(0o100000n);
  }
  isDirectory(): boolean {
    return this.#is(0o040000n);
  }
  isSymbolicLink(): boolean {
    return this.#is(0o120000n);
  }
  isFIFO(): boolean {
    return this.#is(0o010000n);
  }
  isCharacterDevice(): boolean {
    return this.#is(0o020000n);
  }
  isBlockDevice(): boolean {
    return this.#is(0o060000n);
  }
  isSocket(): boolean {
    return this.#is(0o140000n);
  }
}

/** Fields per packed stat in the addon's BigInt64Arrays. */
export const STAT_FIELDS = 10;
