import { randomBytes } from 'node:crypto';
import type { Logger } from 'winston';
import type { EventRelay } from '../api/relay-types.js';
import { API_VERSION, EVENT_RAISES, type EventRaise } from '../api/types.js';
import type { EventParam } from '../core/event-params.js';
import { DEFAULT_QUEUE_SIZE, DEFAULT_RAISE_TTL_SECONDS } from '../core/relay-status.js';
import type { SubscriberIndex } from '../core/subscriber-index.js';
import { KeyedLimiter } from '../delivery/keyed-limiter.js';
import type { ApiClient } from '../kube/api-client.js';
import { errorText, statusCode } from '../kube/errors.js';

/** Creates of one relay's raises in flight at once from one replica. */
const CREATES_PER_RELAY = 16;
const ATTEMPTS = 3;
const LOG_EVERY_MS = 10_000;

export type StoreResult = { ok: true; name: string } | { ok: false; reason: 'QueueFull' | 'StoreFailed'; message: string };

/**
 * Durable mode: each accepted event is stored as an EventRaise owned by the
 * relay, with spec.ttlSecondsAfterFinished, before the relay answers; from
 * then on it is a raise like any other (the leader delivers it, with the
 * raises' crash guarantees).
 *
 * Names sort in arrival order (a millisecond clock that never goes back,
 * then a counter), so that a relist, which yields raises by name, keeps the
 * order of this replica's raises. Raises of an event that an ordered
 * Subscriber receives are created one after the other, in arrival order,
 * so that the API server (and the leader's watch) sees them in that order;
 * the others are created up to CREATES_PER_RELAY at once.
 */
export class DurableRelay {
  private readonly limiter = new KeyedLimiter(CREATES_PER_RELAY);
  private readonly held = new Map<string, number>();
  private readonly orderedTail = new Map<string, Promise<unknown>>();
  private readonly instance = randomBytes(4).readUInt32BE(0).toString(36).padStart(7, '0').slice(-4);
  private lastMs = 0;
  private seq = 0;
  /** Per relay: when a failed create was last logged, and how many failed since. */
  private readonly failures = new Map<string, { loggedAt: number; since: number }>();

  constructor(
    private readonly deps: {
      api: ApiClient;
      index: SubscriberIndex;
      log: Logger;
      now: () => Date;
    },
  ) {}

  *depths(): Iterable<{ namespace: string; relay: string; depth: number }> {
    for (const [key, depth] of this.held) {
      const [namespace = '', relay = ''] = key.split('/');
      yield { namespace, relay, depth };
    }
  }

  async store(relay: EventRelay, call: { event: string; params: EventParam[] }, syncMode: boolean | undefined): Promise<StoreResult> {
    const namespace = relay.metadata.namespace ?? '';
    const relayName = relay.metadata.name ?? '';
    const key = `${namespace}/${relayName}`;
    const held = this.held.get(key) ?? 0;
    const size = relay.spec?.queueSize ?? DEFAULT_QUEUE_SIZE;
    if (held >= size) return { ok: false, reason: 'QueueFull', message: `${held} events of EventRelay ${relayName} are being stored (spec.queueSize ${size})` };
    this.held.set(key, held + 1);
    const name = this.nextName(relayName);
    const raise: EventRaise = {
      apiVersion: API_VERSION,
      kind: 'EventRaise',
      metadata: {
        name,
        namespace,
        ownerReferences: [{ apiVersion: API_VERSION, kind: 'EventRelay', name: relayName, uid: relay.metadata.uid ?? '', controller: true }],
      },
      spec: {
        event: call.event,
        params: call.params,
        ttlSecondsAfterFinished: relay.spec?.ttlSecondsAfterFinished ?? DEFAULT_RAISE_TTL_SECONDS,
        ...(syncMode === undefined ? {} : { syncMode }),
      },
    };
    try {
      const ordered = this.deps.index.match(namespace, call.event, this.deps.now().getTime()).some((s) => s.delivery?.ordered === true);
      if (!ordered) return await this.limiter.run(key, () => this.create(raise));
      const previous = this.orderedTail.get(key) ?? Promise.resolve();
      const mine = previous.then(() => this.limiter.run(key, () => this.create(raise)));
      const tail = mine.catch(() => {});
      this.orderedTail.set(key, tail);
      void tail.then(() => this.orderedTail.get(key) === tail && this.orderedTail.delete(key));
      return await mine;
    } finally {
      const left = (this.held.get(key) ?? 1) - 1;
      if (left === 0) this.held.delete(key);
      else this.held.set(key, left);
    }
  }

  /** A few tries: the API server may be briefly unavailable, or throttle (429). */
  private async create(raise: EventRaise): Promise<StoreResult> {
    let last = '';
    for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
      try {
        await this.deps.api.create(EVENT_RAISES, raise);
        return { ok: true, name: raise.metadata.name! };
      } catch (err) {
        const code = statusCode(err);
        last = errorText(err);
        if (code === 409) raise.metadata.name = this.nextName(raise.metadata.ownerReferences![0]!.name);
        else if (code !== undefined && code !== 429 && code < 500) break;
        if (attempt < ATTEMPTS) await new Promise((r) => setTimeout(r, 100 * 2 ** attempt));
      }
    }
    this.logFailure(raise.metadata.namespace ?? '', raise.metadata.ownerReferences?.[0]?.name ?? '', last);
    return { ok: false, reason: 'StoreFailed', message: `the EventRaise could not be created: ${last}` };
  }

  /** One line per relay and LOG_EVERY_MS at most, however many creates fail: an API outage must not flood the log. */
  private logFailure(namespace: string, relay: string, error: string): void {
    const key = `${namespace}/${relay}`;
    const now = this.deps.now().getTime();
    const entry = this.failures.get(key) ?? { loggedAt: -Infinity, since: 0 };
    entry.since++;
    this.failures.set(key, entry);
    if (now - entry.loggedAt < LOG_EVERY_MS) return;
    this.deps.log.warn('relay: EventRaises not created; their events are dropped', { namespace, relay, failed: entry.since, error });
    entry.loggedAt = now;
    entry.since = 0;
  }

  /** RELAY-MMMMMMMMMSSSSIIII: milliseconds and a counter in base 36, fixed widths, then this process's tag. */
  private nextName(relayName: string): string {
    this.lastMs = Math.max(this.lastMs, this.deps.now().getTime());
    const ms = this.lastMs.toString(36).padStart(9, '0');
    const seq = (this.seq++ % 36 ** 4).toString(36).padStart(4, '0');
    return `${relayName.slice(0, 200).replace(/[.-]+$/, '')}-${ms}${seq}${this.instance}`;
  }
}
