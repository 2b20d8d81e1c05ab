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

/**
 * A FileStat over ten packed fields (dev ino mode nlink uid gid rdev size
 * mtimeNs ctimeNs) of a BigInt64Array, read on demand: a batch of thousands
 * of stats then costs the garbage collector only the fields actually used.
 */
export class PackedStat implements FileStat {
  readonly #fields: BigInt64Array;
  readonly #at: number;

  constructor(fields: BigInt64Array, at: number) {
    this.#fields = fields;
    this.#at = at;
  }

  get dev(): bigint {
    return BigInt.asUintN(64, this.#fields[this.#at]!);
  }
  get ino(): bigint {
    return BigInt.asUintN(64, this.#fields[this.#at + 1]!);
  }
  get mode(): bigint {
    return this.#fields[this.#at + 2]!;
  }
  get nlink(): bigint {
    return this.#fields[this.#at + 3]!;
  }
  get uid(): bigint {
    return this.#fields[this.#at + 4]!;
  }
  get gid(): bigint {
    return this.#fields[this.#at + 5]!;
  }
  get rdev(): bigint {
    return BigInt.asUintN(64, this.#fields[this.#at + 6]!);
  }
  get size(): bigint {
    return this.#fields[this.#at + 7]!;
  }
  get mtimeNs(): bigint {
    return this.#fields[this.#at + 8]!;
  }
  get ctimeNs(): bigint {
    return this.#fields[this.#at + 9]!;
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
