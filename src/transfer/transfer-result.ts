import type { FileStat } from '../file-stat.js';
import type { Strategy } from '../archive/manifest.js';

/** What one attempt at transferring a regular file produced. */
export interface TransferResult {
  strategy: Strategy;
  /** Bytes written as the entry's data (the header's size). */
  size: number;
  /** SHA-256 (hex) over exactly those bytes. */
  sha256: string;
  /** The fstat taken before the data was read: the entry's metadata. */
  stat: FileStat;
  /** Why the attempt counts as changed; empty when the file held still. */
  reasons: string[];
  /** The file disappeared from its path: a retry is pointless. */
  vanished: boolean;
}
