/** Thrown by KeyedLimiter.run when its signal aborts before the task got a slot. */
export class NotStartedError extends Error {
  override readonly name = 'NotStartedError';
}

/**
 * At most `limit` tasks at once per key (a task may ask for a lower one: 1
 * runs it alone); further tasks for that key wait their turn in order, and
 * other keys are never held up by them. A waiting task whose signal aborts
 * leaves the line without running.
 */
export class KeyedLimiter {
  private readonly active = new Map<string, number>();
  private readonly waiting = new Map<string, Set<() => void>>();

  constructor(private readonly limit: number) {}

  async run<T>(key: string, task: () => Promise<T>, signal?: AbortSignal, limit = this.limit): Promise<T> {
    await this.acquire(key, signal, limit);
    try {
      return await task();
    } finally {
      this.release(key);
    }
  }

  /** True when a task of `key` started now would have to wait for a slot. */
  busy(key: string, limit = this.limit): boolean {
    return (this.active.get(key) ?? 0) >= limit;
  }

  /** Tasks of `key` waiting for a slot. */
  queued(key: string): number {
    return this.waiting.get(key)?.size ?? 0;
  }

  private acquire(key: string, signal: AbortSignal | undefined, limit: number): Promise<void> {
    if (signal?.aborted) return Promise.reject(new NotStartedError('cancelled before it started'));
    const active = this.active.get(key) ?? 0;
    if (active < limit && this.queued(key) === 0) {
      this.active.set(key, active + 1);
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      let queue = this.waiting.get(key);
      if (!queue) this.waiting.set(key, (queue = new Set()));
      const leave = () => {
        if (!queue.delete(grant)) return;
        if (queue.size === 0 && this.waiting.get(key) === queue) this.waiting.delete(key);
        reject(new NotStartedError('cancelled before it started'));
      };
      const grant = () => {
        signal?.removeEventListener('abort', leave);
        resolve();
      };
      queue.add(grant);
      signal?.addEventListener('abort', leave, { once: true });
    });
  }

  private release(key: string): void {
    const queue = this.waiting.get(key);
    const next = queue?.values().next();
    if (queue && next && !next.done) {
      queue.delete(next.value);
      if (queue.size === 0) this.waiting.delete(key);
      return next.value(); // the slot passes straight to the next task
    }
    const active = (this.active.get(key) ?? 1) - 1;
    if (active === 0) this.active.delete(key);
    else this.active.set(key, active);
  }
}
