import { FairQueue } from '../core/fair-queue.js';
import type { ObjectKey } from '../core/object-key.js';
import { clampTimerMs } from '../core/timer.js';
export interface WorkQueueOptions {
  /** First retry delay of a failing key; doubles on every further failure. */
  baseDelayMs?: number;
  maxDelayMs?: number;
}

/**
 * A keyed work queue with client-go's guarantees: a key waiting in the queue
 * is held once however often it is added, a key being processed is never
 * handed to a second worker (an add during processing re-queues it when
 * done), and failing keys are retried with per-key exponential backoff.
 * Waiting keys are handed out in turns between namespaces (FairQueue).
 */
export class WorkQueue {
  private readonly queue = new FairQueue();
  private readonly dirty = new Set<ObjectKey>();
  private readonly processing = new Set<ObjectKey>();
  private readonly failures = new Map<ObjectKey, number>();
  private readonly timers = new Map<ObjectKey, { at: number; timer: NodeJS.Timeout }>();
  private readonly waiters: Array<(key: ObjectKey | undefined) => void> = [];
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private shuttingDown = false;
  retries = 0;

  constructor(options: WorkQueueOptions = {}) {
    this.baseDelayMs = options.baseDelayMs ?? 5;
    // client-go caps at 1000 s; a minute keeps recovery after an API outage quick.
    this.maxDelayMs = options.maxDelayMs ?? 60_000;
  }

  add(key: ObjectKey): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    if (this.processing.has(key)) return;
    const waiter = this.waiters.shift();
    if (waiter) this.hand(key, waiter);
    else this.queue.add(key);
  }

  /** Adds the key after a delay; an earlier pending delay for the same key wins. */
  addAfter(key: ObjectKey, delayMs: number): void {
    if (this.shuttingDown) return;
    if (delayMs <= 0) return this.add(key);
    const at = Date.now() + delayMs;
    const pending = this.timers.get(key);
    if (pending && pending.at <= at) return;
    if (pending) clearTimeout(pending.timer);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, clampTimerMs(delayMs));
    timer.unref();
    this.timers.set(key, { at, timer });
  }

  /** Re-adds a key that failed, after its backoff: base * 2^failures, capped. */
  addRateLimited(key: ObjectKey): void {
    const failures = this.failures.get(key) ?? 0;
    this.failures.set(key, failures + 1);
    this.retries++;
    this.addAfter(key, Math.min(this.baseDelayMs * 2 ** failures, this.maxDelayMs));
  }

  /** Clears a key's failure count after it succeeded. */
  forget(key: ObjectKey): void {
    this.failures.delete(key);
  }

  /** Waits for the next key; undefined once the queue is shut down, whatever is still queued. */
  get(): Promise<ObjectKey | undefined> {
    if (this.shuttingDown) return Promise.resolve(undefined);
    const next = this.queue.shift();
    if (next !== undefined) return Promise.resolve(this.take(next));
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  done(key: ObjectKey): void {
    this.processing.delete(key);
    if (!this.dirty.has(key)) return;
    const waiter = this.waiters.shift();
    if (waiter) this.hand(key, waiter);
    else this.queue.add(key);
  }

  shutDown(): void {
    this.shuttingDown = true;
    for (const { timer } of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    for (const waiter of this.waiters.splice(0)) waiter(undefined);
  }

  get length(): number {
    return this.queue.size;
  }

  private take(key: ObjectKey): ObjectKey {
    this.dirty.delete(key);
    this.processing.add(key);
    return key;
  }

  private hand(key: ObjectKey, waiter: (key: ObjectKey) => void): void {
    waiter(this.take(key));
  }
}
