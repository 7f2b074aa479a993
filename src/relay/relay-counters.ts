import type { Logger } from 'winston';
import type { EventRelay } from '../api/relay-types.js';
import { EVENT_RELAYS } from '../api/types.js';
import { COUNT_FIELDS, addCounts, isZero, noCounts, type RelayCounts } from '../core/relay-status.js';
import type { ApiClient } from '../kube/api-client.js';
import { errorText, statusCode } from '../kube/errors.js';
import type { ObjectCache } from '../kube/informer.js';

/** How often a replica adds what its relays counted to their status. */
export const COUNT_FLUSH_MS = 5_000;

interface Pending {
  uid: string;
  counts: RelayCounts;
  lastEventAt: Date | undefined;
}

/**
 * Each replica's counts of each relay, added to the relay's status totals
 * every COUNT_FLUSH_MS, so that a storm of events costs one status write per
 * replica and interval. A write carries the object's resourceVersion: two
 * replicas adding at once make one of them retry on the next tick, and
 * nothing is counted twice or lost while the process runs.
 */
export class RelayCounters {
  private readonly pending = new Map<string, Pending>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly deps: {
      cache: ObjectCache<EventRelay>;
      api: ApiClient;
      log: Logger;
      intervalMs?: number;
    },
  ) {}

  add(relay: Pick<EventRelay, 'metadata'>, field: keyof RelayCounts, n = 1, eventAt?: Date): void {
    const key = `${relay.metadata.namespace}/${relay.metadata.name}`;
    const uid = relay.metadata.uid ?? '';
    let entry = this.pending.get(key);
    if (!entry || entry.uid !== uid) this.pending.set(key, (entry = { uid, counts: noCounts(), lastEventAt: undefined }));
    entry.counts[field] += n;
    if (eventAt) entry.lastEventAt = eventAt;
  }

  /** A relay deleted: its counts go with it. */
  forget(namespace: string, name: string): void {
    this.pending.delete(`${namespace}/${name}`);
  }

  start(): void {
    this.timer ??= setInterval(() => void this.flush(), this.deps.intervalMs ?? COUNT_FLUSH_MS);
    this.timer.unref();
  }

  /** Stops the timer after one last write of what is counted. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }

  /** One write per relay with something counted; writes run one after the other. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(() => this.writeAll());
    return this.flushing;
  }

  private async writeAll(): Promise<void> {
    for (const [key, entry] of [...this.pending]) {
      if (isZero(entry.counts) && !entry.lastEventAt) {
        this.pending.delete(key);
        continue;
      }
      const [namespace = '', name = ''] = key.split('/');
      const relay = this.deps.cache.get(namespace, name);
      if (!relay || relay.metadata.uid !== entry.uid) {
        this.pending.delete(key);
        continue;
      }
      const counts = { ...entry.counts };
      const lastEventAt = entry.lastEventAt;
      try {
        await this.deps.api.replaceStatus(EVENT_RELAYS, relay, addCounts(relay.status, counts, lastEventAt));
        for (const field of COUNT_FIELDS) entry.counts[field] -= counts[field];
        if (entry.lastEventAt === lastEventAt) entry.lastEventAt = undefined;
      } catch (err) {
        // 409: another replica or the leader wrote first; the next tick adds onto the newer object.
        const level = statusCode(err) === 409 ? 'debug' : 'warn';
        this.deps.log.log(level, 'relay counts not written; retrying', { namespace, name, error: errorText(err) });
      }
    }
  }
}
