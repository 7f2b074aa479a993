import { isDeepStrictEqual } from 'node:util';
import type { Logger } from 'winston';
import { ConditionType, DeliveryReason, SubscriberReason } from '../api/conditions.js';
import { RENEW_ANNOTATION, SUBSCRIBERS, type Subscriber } from '../api/types.js';
import { findCondition, rfc3339 } from '../core/conditions.js';
import { healthOf } from '../core/subscriber-health.js';
import { parseSocket } from '../core/socket.js';
import { subscriberStatus, type HostCheck } from '../core/subscriber-status.js';
import type { ApiClient } from '../kube/api-client.js';
import type { ObjectCache } from '../kube/informer.js';
import type { ReconcileResult, Reconciler } from './controller.js';
import type { HealthTracker } from './health-tracker.js';
import type { ResolveHost } from './host-resolver.js';

export const HOST_RECHECK_MS = 30_000;

/** Writes a Subscriber's target and Ready condition. */
export class SubscriberReconciler implements Reconciler {
  private readonly hostChecks = new Map<string, { generation: number; host: string; at: number; check: HostCheck }>();

  constructor(
    private readonly deps: {
      cache: ObjectCache<Subscriber>;
      api: ApiClient;
      resolveHost: ResolveHost;
      health: HealthTracker;
      /** Told when a status write turns Ready to False: a person has to act. */
      notReady: (subscriber: Subscriber, reason: string, message: string) => void;
      now: () => Date;
      log: Logger;
    },
  ) {}

  async reconcile(key: string): Promise<ReconcileResult | void> {
    const [namespace = '', name = ''] = key.split('/');
    const subscriber = this.deps.cache.get(namespace, name);
    if (!subscriber || subscriber.metadata.deletionTimestamp) {
      this.hostChecks.delete(key);
      this.deps.health.forget(key);
      return;
    }

    const generation = subscriber.metadata.generation ?? 0;
    const parsed = parseSocket(subscriber.spec?.socket ?? '');
    const host = parsed.ok ? await this.checkHost(key, subscriber, parsed.target.host) : ({ kind: 'unknown' } as const);
    const now = this.deps.now();
    const expire = subscriber.spec?.expire;
    const expiry =
      expire === undefined
        ? undefined
        : { expireSeconds: expire, createdAt: subscriber.metadata.creationTimestamp ?? rfc3339(now), renewal: subscriber.metadata.annotations?.[RENEW_ANNOTATION] };
    const health = this.deps.health.due(key, now.getTime());
    const status = subscriberStatus({
      generation,
      event: subscriber.spec?.event ?? '',
      name,
      parsed,
      host,
      expiry,
      health: health ?? healthOf(subscriber.status),
      previous: subscriber.status,
      now,
    });
    if (!isDeepStrictEqual(status, subscriber.status)) {
      await this.deps.api.replaceStatus(SUBSCRIBERS, subscriber, status);
      const ready = findCondition(status.conditions, ConditionType.Ready);
      const wasReady = findCondition(subscriber.status?.conditions, ConditionType.Ready);
      const changed = ready?.status !== wasReady?.status || ready?.reason !== wasReady?.reason;
      this.deps.log.log(changed ? 'info' : 'debug', 'subscriber status written', { namespace, name, ready: ready?.status, reason: ready?.reason });
      if (changed && ready?.status === 'False') this.deps.notReady(subscriber, ready.reason, ready.message);
    }
    if (health) this.deps.health.published(key, now.getTime());
    const untilExpiry = status.expiresAt ? Date.parse(status.expiresAt) - now.getTime() : Infinity;
    const untilHealth = this.deps.health.waitMs(key, now.getTime()) ?? Infinity;
    const recheck = Math.min(host.kind === 'notFound' || host.kind === 'denied' ? HOST_RECHECK_MS : Infinity, untilExpiry > 0 ? untilExpiry + 1000 : Infinity, untilHealth);
    if (recheck !== Infinity) return { requeueAfterMs: recheck };
  }

  /**
   * A lookup per generation and then at most every HOST_RECHECK_MS: health
   * updates reconcile a subscriber often, and should not each cost a lookup.
   */
  private async checkHost(key: string, subscriber: Subscriber, host: string): Promise<HostCheck> {
    const generation = subscriber.metadata.generation ?? 0;
    const memo = this.hostChecks.get(key);
    if (memo && memo.generation === generation && memo.host === host && Date.now() - memo.at < HOST_RECHECK_MS) return memo.check;
    let check = await this.deps.resolveHost(host);
    if (check.kind === 'unknown') check = this.previousHostCheck(subscriber);
    this.hostChecks.set(key, { generation, host, at: Date.now(), check });
    return check;
  }

  /** When the resolver cannot tell, keep what was last decided for this generation. */
  private previousHostCheck(subscriber: Subscriber): HostCheck {
    const ready = findCondition(subscriber.status?.conditions, ConditionType.Ready);
    const stillCurrent = ready?.observedGeneration === subscriber.metadata.generation;
    if (stillCurrent && ready?.reason === SubscriberReason.HostNotFound) return { kind: 'notFound', detail: 'ENOTFOUND' };
    if (stillCurrent && ready?.reason === DeliveryReason.EgressDenied) return { kind: 'denied', detail: ready.message };
    return { kind: 'resolved' };
  }
}
