import type { SubscriberHealth } from '../api/types.js';
import type { ObjectKey } from '../core/object-key.js';
import { recordDelivery } from '../core/subscriber-health.js';

/** A Subscriber's delivery health is written at most this often. */
export const HEALTH_FLUSH_MS = 5_000;

/** A delivery's end, as a Subscriber's health counts it. */
export interface DeliveryOutcome {
  ok: boolean;
  /** Why it failed: a fault or an error text, already bounded. */
  error?: string;
  at: Date;
}

/**
 * What the raise side tells the Subscriber side: each delivery outcome, kept
 * in memory and written to the Subscriber's status coalesced, at most once
 * per HEALTH_FLUSH_MS whatever the event rate. It starts from what the
 * status last said.
 */
export class DeliveryHealth {
  private readonly health = new Map<ObjectKey, SubscriberHealth>();
  private readonly writtenAt = new Map<ObjectKey, number>();
  private readonly unwritten = new Set<ObjectKey>();

  constructor(
    private readonly subscribers: {
      /** The health the Subscriber's status holds now. */
      written(key: ObjectKey): SubscriberHealth | undefined;
      /** Reconcile the Subscriber after this long. */
      reconcileAfter(key: ObjectKey, ms: number): void;
    },
  ) {}

  /** A delivery to the Subscriber ended. */
  delivered(key: ObjectKey, outcome: DeliveryOutcome): void {
    this.health.set(key, recordDelivery(this.health.get(key) ?? this.subscribers.written(key) ?? {}, outcome));
    this.unwritten.add(key);
    this.subscribers.reconcileAfter(key, HEALTH_FLUSH_MS);
  }

  /**
   * What the Subscriber's status should say of its health now: `health` when
   * news is due for writing (undefined: keep what the status says), and
   * `afterMs` when news waits for a later write.
   */
  due(key: ObjectKey, now: number): { health?: SubscriberHealth; afterMs?: number } {
    if (!this.unwritten.has(key)) return {};
    const wait = (this.writtenAt.get(key) ?? -Infinity) + HEALTH_FLUSH_MS - now;
    return wait > 0 ? { afterMs: wait } : { health: this.health.get(key)! };
  }

  /** The Subscriber's status now holds the health `due` gave. */
  written(key: ObjectKey, now: number): void {
    this.writtenAt.set(key, now);
    this.unwritten.delete(key);
  }

  /** The Subscriber is gone. */
  forget(key: ObjectKey): void {
    this.health.delete(key);
    this.writtenAt.delete(key);
    this.unwritten.delete(key);
  }
}
