import { constants, promises as fsp } from 'node:fs';
import type { FileStat } from '../file-stat.js';
import { errnoCode, getLease, installLeaseBreakHandler, loadNative, setLease } from '../native/native.js';

/** The change reason of an attempt whose read lease broke (DESIGN §6). */
export const LEASE_BROKEN = 'lease broken (a writer opened the file)';

const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/**
 * A read lease held over one transfer. `hot` means the lease was refused
 * because someone has the file open for writing: not a change, but the file
 * gets a content re-check and a more careful strategy.
 */
export interface Lease {
  readonly hot: boolean;
  /** Whether a lease was taken at all (false: not owner, unsupported fs, no addon). */
  readonly held: boolean;
  /** Set the moment a break is seen; the lease is already released then. */
  readonly broken: boolean;
  /** Why no lease was taken, for the debug log. */
  readonly note: string | null;
  /** Releases the lease (once a last check for a break has run) and closes what it opened; resolves to LEASE_BROKEN or null. */
  release(): Promise<string | null>;
}

interface Held {
  fd: number;
  path: string;
  broken: boolean;
}

/**
 * The read leases of one job. A break arrives as SIGIO, which cannot say
 * which descriptor broke: every held lease is re-checked with F_GETLEASE and
 * the broken ones are released at once, so that a production writer waits
 * for a backup no longer than one event-loop turn.
 */
export class LeaseKeeper {
  #held = new Set<Held>();
  #disabled: string | null;
  #listening = false;
  #uid = process.getuid?.() ?? -1;
  readonly #onSignal = (): void => this.#recheck();

  constructor() {
    this.#disabled = loadNative().addon === null ? 'native addon unavailable' : null;
    if (this.#disabled === null) {
      try {
        installLeaseBreakHandler();
      } catch (err) {
        this.#disabled = err instanceof Error ? err.message : String(err);
      }
    }
  }

  /** Why leases are not used at all, or null when they are. */
  get disabled(): string | null {
    return this.#disabled;
  }

  /**
   * Opens `fsPath` read-only and takes a read lease on it, provided it is
   * still the inode `expected` describes and this process may lease it.
   * Never throws for the file's sake: an unopenable file gets no lease and
   * the transfer itself reports why.
   */
  async acquire(fsPath: string, expected: FileStat): Promise<Lease> {
    if (this.#disabled !== null) return noLease(this.#disabled);
    if (this.#uid !== 0 && BigInt(this.#uid) !== expected.uid) return noLease('not the owner (leases need ownership or CAP_LEASE)');
    let fh: fsp.FileHandle;
    try {
      fh = await fsp.open(fsPath, OPEN_FLAGS);
    } catch (err) {
      return noLease(`cannot open for a lease: ${errnoCode(err) ?? String(err)}`);
    }
    let keep = false;
    try {
      const stat = await fh.stat({ bigint: true });
      if (!stat.isFile() || stat.ino !== expected.ino || stat.dev !== expected.dev) return noLease('the path names another file now');
      try {
        setLease(fh.fd, 'read', fsPath);
      } catch (err) {
        const code = errnoCode(err);
        if (code === 'EAGAIN') return { hot: true, held: false, broken: false, note: 'refused: open for writing elsewhere', release: async () => null };
        return noLease(`refused: ${code ?? String(err)}`);
      }
      keep = true;
      return this.#track(fh, fsPath);
    } finally {
      if (!keep) await fh.close();
    }
  }

  /** Takes a lease on a descriptor the caller owns (a snapshot image); the caller closes it after `release()`. */
  leaseFd(fd: number, label: string): Lease {
    if (this.#disabled !== null) return noLease(this.#disabled);
    try {
      setLease(fd, 'read', label);
    } catch (err) {
      const code = errnoCode(err);
      return code === 'EAGAIN'
        ? { hot: true, held: false, broken: false, note: 'refused: open for writing elsewhere', release: async () => null }
        : noLease(`refused: ${code ?? String(err)}`);
    }
    return this.#track(null, label, fd);
  }

  #track(fh: fsp.FileHandle | null, path: string, fd = fh?.fd ?? -1): Lease {
    const held: Held = { fd, path, broken: false };
    this.#held.add(held);
    this.#listen();
    let released = false;
    return {
      hot: false,
      held: true,
      get broken() {
        return held.broken;
      },
      note: null,
      release: async () => {
        if (!released) {
          released = true;
          this.#check(held);
          this.#held.delete(held);
          if (!held.broken) unlock(held);
          if (this.#held.size === 0) this.#unlisten();
          await fh?.close();
        }
        return held.broken ? LEASE_BROKEN : null;
      },
    };
  }

  #recheck(): void {
    for (const held of this.#held) this.#check(held);
  }

  #check(held: Held): void {
    if (held.broken) return;
    let now: string;
    try {
      now = getLease(held.fd, held.path);
    } catch {
      now = 'none';
    }
    // While a break is pending F_GETLEASE already reports what the breaker
    // asked for: anything but 'read' means a writer is waiting on us.
    if (now !== 'read') {
      held.broken = true;
      unlock(held);
    }
  }

  #listen(): void {
    if (this.#listening) return;
    this.#listening = true;
    process.on('SIGIO', this.#onSignal);
  }

  #unlisten(): void {
    if (!this.#listening) return;
    this.#listening = false;
    process.off('SIGIO', this.#onSignal);
  }
}

function unlock(held: Held): void {
  try {
    setLease(held.fd, 'unlock', held.path);
  } catch {
    // Already gone with a broken lease or a closed descriptor: nothing is held.
  }
}

function noLease(note: string): Lease {
  return { hot: false, held: false, broken: false, note, release: async () => null };
}
