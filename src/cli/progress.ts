import { formatBytes } from './format.js';

/**
 * A single progress line on stderr, redrawn at most four times a second, and
 * only when stderr is a terminal (a cron job's mail stays clean).
 */
export class ProgressLine {
  #enabled: boolean;
  #last = 0;
  #shown = false;

  constructor(enabled = process.stderr.isTTY === true) {
    this.#enabled = enabled;
  }

  update(phase: string, files: number, bytes: number, path?: string): void {
    if (!this.#enabled) return;
    const now = Date.now();
    if (now - this.#last < 250) return;
    this.#last = now;
    const width = (process.stderr.columns ?? 80) - 1;
    const line = `${phase}: ${files} entries, ${formatBytes(bytes)}${path ? ` — ${path}` : ''}`;
    process.stderr.write(`\r\x1b[K${line.slice(0, width)}`);
    this.#shown = true;
  }

  clear(): void {
    if (this.#shown) process.stderr.write('\r\x1b[K');
    this.#shown = false;
  }
}
