/**
 * FIFOs and device nodes. Node has no mknod(2), and the addon has no
 * mknodat yet, so coreutils' mkfifo/mknod make them. The child gets the
 * target directory's descriptor as its fd 3 and names the node
 * `/proc/self/fd/3/<temp name>`: it creates exactly where the parent's
 * checked descriptor points, never along a path string.
 */
import { spawn } from 'node:child_process';

export type NodeType = 'fifo' | 'chardev' | 'blockdev';

export function makeNode(dirFd: number, tempName: string, type: NodeType, major: number, minor: number): Promise<void> {
  const path = `/proc/self/fd/3/${tempName}`;
  const [cmd, args] =
    type === 'fifo' ? ['mkfifo', ['-m', '600', path]] : ['mknod', ['-m', '600', path, type === 'chardev' ? 'c' : 'b', String(major), String(minor)]];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args as string[], { stdio: ['ignore', 'ignore', 'pipe', dirFd] });
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (s: string) => {
      if (stderr.length < 1000) stderr += s;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve();
      else {
        const err = new Error(`${cmd} failed: ${stderr.trim() || `exit status ${code}`}`) as NodeJS.ErrnoException;
        if (/File exists/.test(stderr)) err.code = 'EEXIST';
        reject(err);
      }
    });
  });
}
