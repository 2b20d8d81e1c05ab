/** Runs async tasks with at most `limit` in flight; `drain()` waits for all of them. */
export class TaskQueue {
  #limit: number;
  #queue: Array<() => Promise<void>> = [];
  #running = 0;
  #idle: Array<() => void> = [];
  #error: unknown = null;

  constructor(limit: number) {
    this.#limit = limit;
  }

  add(task: () => Promise<void>): void {
    this.#queue.push(task);
    this.#pump();
  }

  /** Resolves when nothing is queued or running; rejects with the first task error. */
  async drain(): Promise<void> {
    if (this.#running > 0 || this.#queue.length > 0) await new Promise<void>((resolve) => this.#idle.push(resolve));
    if (this.#error) throw this.#error;
  }

  #pump(): void {
    while (this.#running < this.#limit && this.#queue.length > 0) {
      const task = this.#queue.shift()!;
      this.#running++;
      task()
        .catch((err: unknown) => {
          this.#error ??= err;
        })
        .finally(() => {
          this.#running--;
          this.#pump();
          if (this.#running === 0 && this.#queue.length === 0) for (const resolve of this.#idle.splice(0)) resolve();
        });
    }
  }
}
