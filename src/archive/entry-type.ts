/** The kinds of archive entry safebak writes and records (DESIGN §4). */
export type EntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'fifo' | 'chardev' | 'blockdev';

/** Tar typeflag byte for each entry type (POSIX ustar). */
export const typeflagOf: Record<EntryType, number> = {
  file: 0x30, // '0'
  hardlink: 0x31, // '1'
  symlink: 0x32, // '2'
  chardev: 0x33, // '3'
  blockdev: 0x34, // '4'
  dir: 0x35, // '5'
  fifo: 0x36, // '6'
};
