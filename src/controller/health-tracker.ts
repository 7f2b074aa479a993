import type { SubscriberHealth } from '../api/types.js';
import { recordDelivery } from '../core/subscriber-health.js';

/** A Subscriber's delivery health is written at most this often. */
export const HEALTH_FLUSH_MS = 5_000;

/**
 * Each subscriber's delivery health, kept in memory between the status writes
 * that publish it, at most one per HEALTH_FLUSH_MS. It starts from what the
 * status last said.
 */
export class HealthTracker {
  private readonly health = new Map<string, SubscriberHealth>();
  private readonly publishedAt = new Map<string, number>();
  private readonly unpublished = new Set<string>();

  record(key: string, published: SubscriberHealth | undefined, outcome: { ok: boolean; error?: string; at: Date }): void {
    this.health.set(key, recordDelivery(this.health.get(key) ?? published ?? {}, outcome));
    this.unpublished.add(key);
  }

  /** How long until news about `key` may be written; undefined when there is none. */
  waitMs(key: string, now: number): number | undefined {
    if (!this.unpublished.has(key)) return undefined;
    return Math.max((this.publishedAt.get(key) ?? 0) + HEALTH_FLUSH_MS - now, 0);
  }

  /** The health to write now, or undefined while the last write is too recent (or nothing changed). */
  due(key: string, now: number): SubscriberHealth | undefined {
    const last = this.publishedAt.get(key);
    return last === undefined || now - last >= HEALTH_FLUSH_MS ? this.health.get(key) : undefined;
  }

  /** Notes that the status now holds the health `due` gave. */
  published(key: string, now: number): void {
    this.publishedAt.set(key, now);
    this.unpublished.delete(key);
  }

  forget(key: string): void {
    this.health.delete(key);
    this.publishedAt.delete(key);
    this.unpublished.delete(key);
  }
}
