/**
 * Typed wrapper over the `safebak_native` addon (DESIGN §5): the Linux
 * syscalls Node 20 lacks. Every helper turns an errno failure into a
 * `SafebakError` with code `SAFEBAK_NATIVE` that names the syscall and, where
 * there is one, the path; the kernel's own code ('EAGAIN', 'ENOTSUP'…) stays
 * on the cause and is read with {@link errnoCode}. Without the addon every
 * helper throws `SAFEBAK_NATIVE`; callers check {@link loadNative} first and
 * fall back to the `copy` strategy.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMainThread } from 'node:worker_threads';

import { SafebakError, describeSystemError } from '../errors.js';

export type LeaseType = 'read' | 'write' | 'none';
export type FadviseAdvice = 'dontneed' | 'sequential' | 'willneed' | 'noreuse';

/** Kernel constants as this build of the addon sees them (O_* differ between architectures). */
export interface NativeConstants {
  readonly SPLICE_F_MOVE: number;
  readonly SPLICE_F_NONBLOCK: number;
  readonly SPLICE_F_MORE: number;
  readonly RESOLVE_BENEATH: number;
  readonly RESOLVE_NO_SYMLINKS: number;
  readonly RESOLVE_NO_MAGICLINKS: number;
  readonly RESOLVE_NO_XDEV: number;
  readonly O_RDONLY: number;
  readonly O_WRONLY: number;
  readonly O_RDWR: number;
  readonly O_CREAT: number;
  readonly O_EXCL: number;
  readonly O_DIRECTORY: number;
  readonly O_NOFOLLOW: number;
  readonly O_PATH: number;
  readonly O_CLOEXEC: number;
  readonly O_DIRECT: number;
  readonly O_NONBLOCK: number;
  readonly O_TMPFILE: number;
  readonly AT_FDCWD: number;
  readonly F_SEAL_SEAL: number;
  readonly F_SEAL_SHRINK: number;
  readonly F_SEAL_GROW: number;
  readonly F_SEAL_WRITE: number;
}

/** The raw addon, as `safebak_native.cc` exports it. Prefer the wrapped helpers. */
export interface NativeAddon {
  splice(fdIn: number, offIn: number | null, fdOut: number, offOut: number | null, len: number, flags: number): Promise<number>;
  tee(fdIn: number, fdOut: number, len: number, flags: number): Promise<number>;
  pipe2(nonblock: boolean): [number, number];
  setPipeSize(fd: number, size: number): number;
  getPipeSize(fd: number): number;
  pipeMaxSize(): number;
  fionread(fd: number): number;
  openDirect(path: string): Promise<number>;
  /** A Buffer, or a Uint8Array view on builds that refuse external buffers. */
  allocAligned(size: number, alignment: number): Uint8Array;
  preadDirect(fd: number, buffer: Uint8Array, length: number, position: number): Promise<number>;
  setDirect(fd: number, on: boolean): void;
  setLease(fd: number, type: 'read' | 'write' | 'unlock'): void;
  getLease(fd: number): LeaseType;
  cloneToTmpfile(srcFd: number, dirPath: string): Promise<number>;
  openTmpfile(dirPath: string): Promise<number>;
  memfdCreate(name: string): number;
  addSeals(fd: number, seals: number): void;
  getSeals(fd: number): number;
  fadvise(fd: number, offset: number, len: number, advice: FadviseAdvice): Promise<void>;
  startWriteback(fd: number, offset: number, len: number): Promise<void>;
  openat2(dirfd: number, path: string, flags: number, mode: number, resolve: number): number;
  statfsType(path: string): Promise<number>;
  /** Sets a path's mtime to the nanosecond (atime to now); Node's utimes keeps only microseconds. */
  utimensat(path: string, mtimeSec: number, mtimeNsec: number, nofollow: boolean): void;
  scanDir(path: string): Promise<RawScan>;
  /** `paths` and `names` hold `count` strings each, joined by NUL. */
  readSmallFiles(count: number, paths: string, names: string, maxBytes: number, lease: boolean, paranoid: boolean, recentNs: number): Promise<RawSmallFiles>;
  /** Detaches a readSmallFiles buffer so that its memory is reused at once; its views read as empty afterwards. */
  releaseEntries(entries: Buffer): void;
  readonly constants: NativeConstants;
}

/**
 * What the addon's scanDir returns, packed for a cheap crossing: `count`
 * names joined by NUL, per entry (errno, bits: 1 name not UTF-8, 2 link not
 * UTF-8) in `flags`, the symlinks' targets in entry order in `links`.
 */
export interface RawScan {
  count: number;
  names: string;
  flags: Int32Array;
  links: string[];
  stats: BigInt64Array;
}

/** What the addon's readSmallFiles returns: see src/native/batch.ts, which unpacks it. */
export interface RawSmallFiles {
  /** Every file's finished tar entry, one after another; `spans` holds (entry start, header length, data length, first fstat's size) per file. */
  entries: Buffer;
  spans: Float64Array;
  /** Per file, 32 bytes: SHA-256 of exactly its data bytes in `entries`. */
  digests: Buffer;
  /** Per file: kind, lease, path, recheck, errno, syscall, changed stat fields (see batch_io.cc). */
  flags: Int32Array;
  stats: BigInt64Array;
}

/** The outcome of probing for the addon: `addon` is null when it is unusable, and `reason` says why in one line. */
export interface NativeProbe {
  readonly addon: NativeAddon | null;
  readonly reason: string;
  /** The addon file that was found, loaded or not. */
  readonly file: string | null;
}

const ADDON_FILE = 'safebak_native.node';

let probe: NativeProbe | undefined;

// The package root is the first ancestor holding binding.gyp: the same from
// src/native/ (vitest runs the TS) and dist/native/ (the build), whatever
// depth a future layout gives either.
function findPackageRoot(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'binding.gyp')) && existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/**
 * Loads the addon once per process. `addon` is null when `SAFEBAK_NO_NATIVE=1`
 * is set, the platform is not Linux, or the build is missing or fails to load;
 * `reason` then says which, with the loader's message.
 */
export function loadNative(): NativeProbe {
  probe ??= probeNative();
  return probe;
}

function probeNative(): NativeProbe {
  if (process.env['SAFEBAK_NO_NATIVE'] === '1') return { addon: null, reason: 'native addon disabled by SAFEBAK_NO_NATIVE=1', file: null };
  if (process.platform !== 'linux') return { addon: null, reason: `native addon is Linux-only (platform is ${process.platform})`, file: null };
  const root = findPackageRoot();
  if (root === undefined) return { addon: null, reason: 'native addon not found: no package root with binding.gyp above the module', file: null };
  const candidates = ['Release', 'Debug'].map((config) => join(root, 'build', config, ADDON_FILE));
  const file = candidates.find((f) => existsSync(f));
  if (file === undefined) return { addon: null, reason: `native addon not built: ${candidates[0]} is missing (npm install builds it)`, file: null };
  try {
    const addon = createRequire(import.meta.url)(file) as NativeAddon;
    return { addon, reason: `loaded ${file}`, file };
  } catch (err) {
    return { addon: null, reason: `cannot load ${file}: ${err instanceof Error ? err.message : String(err)}`, file };
  }
}

function requireNative(): NativeAddon {
  const { addon, reason } = loadNative();
  if (addon === null) throw new SafebakError('SAFEBAK_NATIVE', `native addon unavailable: ${reason}`);
  return addon;
}

// Only system errors (they carry `syscall`) become SafebakErrors; argument
// TypeErrors/RangeErrors are the caller's bug and pass through unchanged.
function wrapError(err: unknown, path: string | undefined): unknown {
  const syscall = (err as NodeJS.ErrnoException | undefined)?.syscall;
  if (typeof syscall !== 'string') return err;
  return new SafebakError('SAFEBAK_NATIVE', `${syscall} failed: ${describeSystemError(err)}`, { path, cause: err, syscall });
}

function callSync<T>(path: string | undefined, fn: (addon: NativeAddon) => T): T {
  const addon = requireNative();
  try {
    return fn(addon);
  } catch (err) {
    throw wrapError(err, path);
  }
}

async function call<T>(path: string | undefined, fn: (addon: NativeAddon) => Promise<T>): Promise<T> {
  const addon = requireNative();
  try {
    return await fn(addon);
  } catch (err) {
    throw wrapError(err, path);
  }
}

/**
 * The kernel's errno code ('EAGAIN', 'ENOTSUP', 'EXDEV'…) behind an error
 * from this module or from Node's fs, or undefined when there is none.
 * Node spells EOPNOTSUPP as 'ENOTSUP'.
 */
export function errnoCode(err: unknown): string | undefined {
  if (err instanceof SafebakError) return errnoCode(err.cause);
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** The addon's kernel constants. Throws `SAFEBAK_NATIVE` when the addon is unavailable. */
export function nativeConstants(): NativeConstants {
  return requireNative().constants;
}

/**
 * Moves up to `len` bytes between two descriptors, one of which is a pipe,
 * without a trip through user space. An offset of null uses and advances the
 * descriptor's position. Resolves to the bytes moved (0 at end of input).
 * Runs on the libuv pool: a blocking pipe that stays full or empty holds a
 * pool thread, so size the pipe or pass SPLICE_F_NONBLOCK.
 */
export function splice(fdIn: number, offIn: number | null, fdOut: number, offOut: number | null, len: number, flags = 0, path?: string): Promise<number> {
  return call(path, (a) => a.splice(fdIn, offIn, fdOut, offOut, len, flags));
}

/** Duplicates up to `len` bytes from pipe `fdIn` into pipe `fdOut` without consuming them. Resolves to the bytes duplicated. */
export function tee(fdIn: number, fdOut: number, len: number, flags = 0): Promise<number> {
  return call(undefined, (a) => a.tee(fdIn, fdOut, len, flags));
}

/** Creates a real pipe (O_CLOEXEC, optionally O_NONBLOCK); Node's child `'pipe'` stdio is a socketpair instead. */
export function pipe2(nonblock = false): [readFd: number, writeFd: number] {
  return callSync(undefined, (a) => a.pipe2(nonblock));
}

/**
 * Resizes a pipe's buffer (F_SETPIPE_SZ) and returns the size the kernel
 * chose (rounded up to a power-of-two number of pages). Above
 * {@link pipeMaxSize} it fails with EPERM unless the process has CAP_SYS_RESOURCE.
 */
export function setPipeSize(fd: number, bytes: number): number {
  return callSync(undefined, (a) => a.setPipeSize(fd, bytes));
}

/** The pipe's buffer size in bytes (F_GETPIPE_SZ). */
export function getPipeSize(fd: number): number {
  return callSync(undefined, (a) => a.getPipeSize(fd));
}

/**
 * Grows a pipe's buffer to at least `bytes` where the kernel allows it, and
 * never throws: past pipe-max-size (EPERM), without the addon, or on an fd
 * that is not a pipe it leaves things as they were (slower, still correct).
 * A default 64 KiB pipe costs a wake-up of both ends every 16 pages.
 */
export function growPipe(fd: number, bytes: number): void {
  try {
    if (getPipeSize(fd) < bytes) setPipeSize(fd, bytes);
  } catch {
    // As it was.
  }
}

/** The largest pipe an unprivileged process may ask for (/proc/sys/fs/pipe-max-size). */
export function pipeMaxSize(): number {
  return callSync('/proc/sys/fs/pipe-max-size', (a) => a.pipeMaxSize());
}

/** Bytes queued in a pipe or socket (FIONREAD). */
export function fionread(fd: number): number {
  return callSync(undefined, (a) => a.fionread(fd));
}

/**
 * Opens `path` with O_RDONLY|O_DIRECT|O_CLOEXEC|O_NOFOLLOW. Reads then bypass
 * the page cache, and a splice from this descriptor copies into fresh pages
 * nobody else can change. Filesystems without O_DIRECT reject with EINVAL.
 */
export function openDirect(path: string): Promise<number> {
  return call(path, (a) => a.openDirect(path));
}

/**
 * O_DIRECT offsets, lengths and memory must be multiples of the device's
 * logical block size; 4 KiB covers every disk in use. A file system that
 * wants more refuses with EINVAL, and its callers fall back to buffered I/O.
 */
export const DIRECT_BLOCK = 4096;

/** `n` rounded up to whole {@link DIRECT_BLOCK}s: what a direct read that may meet end of file asks for. */
export function directLength(n: number): number {
  return Math.ceil(n / DIRECT_BLOCK) * DIRECT_BLOCK;
}

/**
 * A zero-filled Buffer of `size` bytes whose memory starts on an `alignment`
 * boundary, as O_DIRECT reads need (Node's own Buffers are not aligned).
 */
export function allocAligned(size: number, alignment = DIRECT_BLOCK): Buffer {
  const bytes = callSync(undefined, (a) => a.allocAligned(size, alignment));
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Reads `length` bytes at `position` from an {@link openDirect} descriptor
 * into `buffer` (from {@link allocAligned}). `length` and `position` must be
 * multiples of the device's block size even at end of file: ask for the
 * rounded-up length and accept the short count ext4 and xfs return there.
 */
export function preadDirect(fd: number, buffer: Uint8Array, length: number, position: number, path?: string): Promise<number> {
  return call(path, (a) => a.preadDirect(fd, buffer, length, position));
}

/**
 * Turns O_DIRECT on or off on an open descriptor (fcntl F_SETFL). While it is
 * on, every write's offset, length and memory must be block-aligned; a
 * filesystem without direct I/O refuses with EINVAL.
 */
export function setDirect(fd: number, on: boolean, path?: string): void {
  callSync(path, (a) => a.setDirect(fd, on));
}

let leaseBreakCount = 0;
let leaseHandlerInstalled = false;

/**
 * Installs the process-wide SIGIO handler that lease breaks need. Without it
 * the first break kills the process (SIGIO's default action). Idempotent;
 * {@link setLease} calls it before taking any lease. Worker threads cannot
 * receive signals, so it refuses to run in one.
 */
export function installLeaseBreakHandler(): void {
  if (leaseHandlerInstalled) return;
  if (!isMainThread) {
    throw new SafebakError('SAFEBAK_NATIVE', 'leases need the main thread: a worker thread cannot handle SIGIO, and an unhandled lease break kills the process');
  }
  process.on('SIGIO', () => {
    leaseBreakCount += 1;
  });
  leaseHandlerInstalled = true;
}

/**
 * A counter that grows when a lease break is signalled. Signals coalesce and
 * do not say which descriptor broke: when it moves, recheck every held lease
 * with {@link getLease} and treat those no longer held as changed.
 */
export function leaseBreaks(): number {
  return leaseBreakCount;
}

/**
 * Takes or releases a lease (F_SETLEASE). A read lease is refused with EAGAIN
 * while anyone, this process included, has the file open for writing; it
 * breaks when someone opens the file for writing or truncates it. Needs
 * file ownership or CAP_LEASE.
 */
export function setLease(fd: number, type: 'read' | 'write' | 'unlock', path?: string): void {
  if (type !== 'unlock') installLeaseBreakHandler();
  callSync(path, (a) => a.setLease(fd, type));
}

/** The lease currently held on `fd`; while a break is pending this already reports what the breaker asked for. */
export function getLease(fd: number, path?: string): LeaseType {
  return callSync(path, (a) => a.getLease(fd));
}

/**
 * Clones `srcFd` (FICLONE) into a new anonymous O_TMPFILE|O_RDWR file in
 * `dirPath`, which must be on the same filesystem. Resolves to the clone's
 * descriptor. Filesystems that cannot clone reject with ENOTSUP, EXDEV or
 * EINVAL ({@link errnoCode}).
 */
export function cloneToTmpfile(srcFd: number, dirPath: string, srcPath?: string): Promise<number> {
  return call(srcPath ?? dirPath, (a) => a.cloneToTmpfile(srcFd, dirPath));
}

/** Opens a new anonymous O_TMPFILE|O_RDWR file (mode 0600) in `dirPath`. */
export function openTmpfile(dirPath: string): Promise<number> {
  return call(dirPath, (a) => a.openTmpfile(dirPath));
}

/** Creates a sealable memfd (MFD_CLOEXEC|MFD_ALLOW_SEALING), for snapshots of small files. */
export function memfdCreate(name: string): number {
  return callSync(undefined, (a) => a.memfdCreate(name));
}

/** Adds F_SEAL_* seals to a memfd; once F_SEAL_WRITE holds, nobody can change its bytes. */
export function addSeals(fd: number, seals: number): void {
  callSync(undefined, (a) => a.addSeals(fd, seals));
}

/** The F_SEAL_* seals on a memfd. */
export function getSeals(fd: number): number {
  return callSync(undefined, (a) => a.getSeals(fd));
}

/** posix_fadvise over [offset, offset + len); len 0 means to the end of the file. */
export function fadvise(fd: number, offset: number, len: number, advice: FadviseAdvice, path?: string): Promise<void> {
  return call(path, (a) => a.fadvise(fd, offset, len, advice));
}

/** Starts writeback of [offset, offset + len) (sync_file_range WRITE) and resolves without waiting for the disk. */
export function startWriteback(fd: number, offset: number, len: number, path?: string): Promise<void> {
  return call(path, (a) => a.startWriteback(fd, offset, len));
}

/**
 * openat2(2): opens `path` relative to `dirfd` (AT_FDCWD allowed) with
 * RESOLVE_* restrictions, e.g. RESOLVE_BENEATH refuses `../x` with EXDEV and
 * RESOLVE_NO_SYMLINKS refuses any symlink with ELOOP. O_CLOEXEC is always
 * added; `mode` counts only with O_CREAT or O_TMPFILE. Kernels before 5.6
 * fail with ENOSYS.
 */
export function openat2(dirfd: number, path: string, flags: number, mode = 0, resolve = 0): number {
  return callSync(path, (a) => a.openat2(dirfd, path, flags, mode, resolve));
}

/** The filesystem magic (statfs f_type) of the filesystem holding `path`; name it with {@link fsTypeName}. */
export function statfsType(path: string): Promise<number> {
  return call(path, (a) => a.statfsType(path));
}

/** statfs f_type magic numbers of the filesystems safebak cares about (linux/magic.h). */
export const FS_MAGIC = {
  ext4: 0xef53,
  xfs: 0x58465342,
  btrfs: 0x9123683e,
  tmpfs: 0x01021994,
  nfs: 0x6969,
  fuse: 0x65735546,
  overlayfs: 0x794c7630,
  zfs: 0x2fc12fc1,
  f2fs: 0xf2f52010,
  bcachefs: 0xca451a4e,
  cifs: 0xff534d42,
  smb2: 0xfe534d42,
  ceph: 0x00c36400,
  squashfs: 0x73717368,
  ramfs: 0x858458f6,
} as const;

/** A filesystem's name from its statfs magic ('ext4' also covers ext2/ext3), or the magic in hex when unknown. */
export function fsTypeName(type: number): string {
  for (const [name, magic] of Object.entries(FS_MAGIC)) if (magic === type) return name;
  return `0x${type.toString(16)}`;
}
