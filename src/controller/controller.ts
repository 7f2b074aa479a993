import type { Logger } from 'winston';
import { errorText, statusCode } from '../kube/errors.js';
import type { Metrics } from '../observability/metrics.js';
import type { WorkQueue } from './work-queue.js';

export interface ReconcileResult {
  /** Reconcile the key again after this long, without counting it as a failure. */
  requeueAfterMs?: number;
}

export interface Reconciler {
  reconcile(key: string): Promise<ReconcileResult | void>;
}

/** Runs `workers` loops that take keys from the queue and reconcile them. */
export class Controller {
  private running: Promise<void>[] = [];

  constructor(
    readonly name: string,
    readonly queue: WorkQueue,
    private readonly reconciler: Reconciler,
    private readonly workers: number,
    private readonly log: Logger,
    private readonly metrics: Metrics,
  ) {
    metrics.watchQueue(name, () => queue.length);
  }

  start(): void {
    this.running = Array.from({ length: this.workers }, () => this.work());
  }

  /** Stops handing out keys and waits for the reconciles in progress. */
  async stop(): Promise<void> {
    this.queue.shutDown();
    await Promise.all(this.running);
  }

  private async work(): Promise<void> {
    for (let key = await this.queue.get(); key !== undefined; key = await this.queue.get()) {
      this.metrics.reconciles.inc({ kind: this.name });
      try {
        const result = await this.reconciler.reconcile(key);
        this.queue.forget(key);
        if (result?.requeueAfterMs !== undefined) this.queue.addAfter(key, result.requeueAfterMs);
      } catch (err) {
        const [namespace, name] = key.split('/');
        const level = statusCode(err) === 409 ? 'debug' : 'warn';
        this.log.log(level, 'reconcile failed; retrying with backoff', { controller: this.name, namespace, name, error: errorText(err) });
        this.metrics.reconcileErrors.inc({ kind: this.name });
        this.metrics.queueRetries.inc({ kind: this.name });
        this.queue.addRateLimited(key);
      } finally {
        this.queue.done(key);
      }
    }
  }
}
