import type { Logger } from 'winston';
import type { Resource } from '../api/types.js';
import { splitKey, type ObjectKey } from '../core/object-key.js';
import type { Informer, KubeObject, ObjectCache } from '../kube/informer.js';
import { errorText, statusCode } from '../kube/errors.js';
import type { Metrics } from '../observability/metrics.js';
import type { WorkQueue } from './work-queue.js';
import { LogMessage } from '../log-messages.js';

export interface ReconcileResult {
  /** Reconcile the key again after this long, without counting it as a failure. */
  requeueAfterMs?: number;
}

/** Makes the informer of one resource in one namespace (undefined: all), sharing the operator's connection. */
export type InformerFactory = <T extends KubeObject>(resource: Resource, namespace: string | undefined) => Informer<T>;

/**
 * What one controller declares to the Operator, which only starts and stops
 * it: the informers it reads (its sources), and the controller that runs its
 * reconciler on its queue.
 */
export interface ControllerSetup {
  readonly informers: readonly Source[];
  readonly controller: Controller;
  /** Runs each time this instance starts leading, before the workers start. */
  beforeLeading?(isStopped: () => boolean): Promise<void>;
}

/** What the Operator does with a controller's informers: start them, wait for their first list, stop them. */
export interface Source {
  start(): void;
  stop(): void;
  readonly hasSynced: Promise<unknown>;
}

/** One cache over the informers of several namespaces. */
export function cacheOf<T extends KubeObject>(informers: readonly Informer<T>[]): ObjectCache<T> {
  return { get: (namespace, name) => informers.map((i) => i.get(namespace, name)).find(Boolean) };
}

export interface Reconciler {
  reconcile(key: ObjectKey): Promise<ReconcileResult | void>;
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
        const { namespace, name } = splitKey(key);
        const level = statusCode(err) === 409 ? 'debug' : 'warn';
        this.log.log(level, LogMessage.reconcileFailed, { controller: this.name, namespace, name, error: errorText(err) });
        this.metrics.reconcileErrors.inc({ kind: this.name });
        this.metrics.queueRetries.inc({ kind: this.name });
        this.queue.addRateLimited(key);
      } finally {
        this.queue.done(key);
      }
    }
  }
}
