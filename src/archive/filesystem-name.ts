import fs from 'node:fs';
import path from 'node:path';

/**
 * Names the file system a path lives on, for error lines an operator can act
 * on: `tmpfs at /mnt/backup (device 0:52, source tmpfs)`. Falls back to the
 * device numbers alone where /proc is missing. Never throws.
 */
export function describeFilesystem(target: string): string {
  let dev: number;
  let real: string;
  try {
    real = realDirectory(target);
    dev = fs.statSync(real).dev;
  } catch {
    return `the file system of ${path.dirname(target)}`;
  }
  // Linux's dev_t packing (glibc's gnu_dev_major/minor).
  const major = Math.floor(dev / 256) & 0xfff;
  const minor = (dev & 0xff) | ((Math.floor(dev / 2 ** 12) & ~0xff) >>> 0);
  const id = `${major}:${minor}`;
  let best: { mount: string; type: string; source: string } | null = null;
  try {
    for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
      const [left, right] = line.split(' - ');
      if (!left || !right) continue;
      const f = left.split(' ');
      if (f[2] !== id) continue;
      const mount = unescapeMount(f[4] ?? '');
      if (!(real === mount || real.startsWith(mount.endsWith('/') ? mount : `${mount}/`))) continue;
      const [type = '?', source = '?'] = right.split(' ');
      if (!best || mount.length > best.mount.length) best = { mount, type, source: unescapeMount(source) };
    }
  } catch {
    // no /proc: the device numbers must do
  }
  return best ? `${best.type} at ${best.mount} (device ${id}, source ${best.source})` : `the file system on device ${id}`;
}

/** The nearest existing directory of `target` (the file itself may be gone), resolved. */
function realDirectory(target: string): string {
  let dir = path.dirname(path.resolve(target));
  for (;;) {
    try {
      return fs.realpathSync(dir);
    } catch {
      const up = path.dirname(dir);
      if (up === dir) throw new Error('no existing directory');
      dir = up;
    }
  }
}

function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}
