import type { SubscriberHealth } from '../api/types.js';
import { recordDelivery } from '../core/subscriber-health.js';

/**
 * Each subscriber's delivery health, kept in memory between the coalesced
 * status writes that publish it. It starts from what the status last said.
 */
export class HealthTracker {
  private readonly health = new Map<string, SubscriberHealth>();

  record(key: string, published: SubscriberHealth | undefined, outcome: { ok: boolean; error?: string; at: Date }): void {
    this.health.set(key, recordDelivery(this.health.get(key) ?? published ?? {}, outcome));
  }

  get(key: string): SubscriberHealth | undefined {
    return this.health.get(key);
  }

  forget(key: string): void {
    this.health.delete(key);
  }
}
