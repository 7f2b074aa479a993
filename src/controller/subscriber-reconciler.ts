import { isDeepStrictEqual } from 'node:util';
import type { Logger } from 'winston';
import { ConditionType, DeliveryReason, EventReason, SubscriberReason } from '../api/conditions.js';
import { RENEW_ANNOTATION, SUBSCRIBERS, type Subscriber } from '../api/types.js';
import { findCondition, rfc3339 } from '../core/conditions.js';
import { healthOf } from '../core/subscriber-health.js';
import { parseSocket } from '../core/socket.js';
import { subscriberStatus, type ConnectionCheck, type HostCheck } from '../core/subscriber-status.js';
import { splitKey, type ObjectKey } from '../core/object-key.js';
import type { Credentials } from '../delivery/credentials.js';
import type { ApiClient } from '../kube/api-client.js';
import type { ObjectCache } from '../kube/informer.js';
import type { ReconcileResult, Reconciler } from './controller.js';
import type { DeliveryHealth } from './delivery-health.js';
import type { ResolveHost } from './host-resolver.js';

export const HOST_RECHECK_MS = 30_000;

/** Writes a Subscriber's target and Ready condition. */
export class SubscriberReconciler implements Reconciler {
  private readonly hostChecks = new Map<ObjectKey, { generation: number; host: string; at: number; check: HostCheck }>();
  private readonly secretChecks = new Map<ObjectKey, { generation: number; at: number; check: ConnectionCheck }>();

  constructor(
    private readonly deps: {
      cache: ObjectCache<Subscriber>;
      api: ApiClient;
      resolveHost: ResolveHost;
      health: DeliveryHealth;
      /** Checks spec.tls and spec.auth against their Secrets. */
      credentials: Credentials;
      /** A Warning Event on the Subscriber: a person has to act (Ready turned False, or the spec is unsafe). */
      warn: (subscriber: Subscriber, reason: string, message: string) => void;
      now: () => Date;
      log: Logger;
    },
  ) {}

  async reconcile(key: ObjectKey): Promise<ReconcileResult | void> {
    const { namespace, name } = splitKey(key);
    const subscriber = this.deps.cache.get(namespace, name);
    if (!subscriber || subscriber.metadata.deletionTimestamp) {
      this.hostChecks.delete(key);
      this.secretChecks.delete(key);
      this.deps.health.forget(key);
      return;
    }

    const generation = subscriber.metadata.generation ?? 0;
    const parsed = parseSocket(subscriber.spec?.socket ?? '', { tls: subscriber.spec?.tls?.enabled === true });
    const host = parsed.ok ? await this.checkHost(key, subscriber, parsed.target.host) : ({ kind: 'unknown' } as const);
    const connection = parsed.ok ? await this.checkSecrets(key, subscriber) : ({ ok: true } as const);
    const now = this.deps.now();
    const expire = subscriber.spec?.expire;
    const expiry =
      expire === undefined
        ? undefined
        : { expireSeconds: expire, createdAt: subscriber.metadata.creationTimestamp ?? rfc3339(now), renewal: subscriber.metadata.annotations?.[RENEW_ANNOTATION] };
    const { health, afterMs: untilHealth = Infinity } = this.deps.health.due(key, now.getTime());
    const status = subscriberStatus({
      generation,
      event: subscriber.spec?.event ?? '',
      name,
      parsed,
      host,
      connection,
      insecure: subscriber.spec?.tls?.enabled === true && subscriber.spec.tls.insecureSkipVerify === true,
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
      if (changed && ready?.status === 'False') this.deps.warn(subscriber, ready.reason, ready.message);
      const newGeneration = subscriber.status?.observedGeneration !== generation;
      if (newGeneration && subscriber.spec?.tls?.enabled && subscriber.spec.tls.insecureSkipVerify) {
        this.deps.warn(subscriber, EventReason.InsecureSkipVerify, 'spec.tls.insecureSkipVerify: the server\'s certificate is not checked, so anyone on the network path can pose as the server and read the events and credentials; give spec.tls.caSecretRef instead');
      }
    }
    if (health) this.deps.health.written(key, now.getTime());
    const untilExpiry = status.expiresAt ? Date.parse(status.expiresAt) - now.getTime() : Infinity;
    const recheckSecrets = connection.ok !== true;
    const recheck = Math.min(host.kind === 'notFound' || host.kind === 'denied' || recheckSecrets ? HOST_RECHECK_MS : Infinity, untilExpiry > 0 ? untilExpiry + 1000 : Infinity, untilHealth);
    if (recheck !== Infinity) return { requeueAfterMs: recheck };
  }

  /**
   * A lookup per generation and then at most every HOST_RECHECK_MS: health
   * updates reconcile a subscriber often, and should not each cost a lookup.
   */
  private async checkHost(key: ObjectKey, subscriber: Subscriber, host: string): Promise<HostCheck> {
    const generation = subscriber.metadata.generation ?? 0;
    const memo = this.hostChecks.get(key);
    const now = this.deps.now().getTime();
    if (memo && memo.generation === generation && memo.host === host && now - memo.at < HOST_RECHECK_MS) return memo.check;
    let check = await this.deps.resolveHost(host);
    if (check.kind === 'unknown') check = this.previousHostCheck(subscriber);
    this.hostChecks.set(key, { generation, host, at: now, check });
    return check;
  }

  /**
   * The Secrets of spec.tls and spec.auth, checked once per generation and
   * then at most every HOST_RECHECK_MS (each read goes through the store's cache).
   * When a Secret cannot be read for now, what was last decided stands.
   */
  private async checkSecrets(key: ObjectKey, subscriber: Subscriber): Promise<ConnectionCheck> {
    const spec = subscriber.spec;
    if (!spec?.tls?.enabled && !spec?.auth) return { ok: true };
    const generation = subscriber.metadata.generation ?? 0;
    const memo = this.secretChecks.get(key);
    if (memo && memo.generation === generation && Date.now() - memo.at < HOST_RECHECK_MS) return memo.check;
    const result = await this.deps.credentials.check(subscriber.metadata.namespace ?? '', subscriber.metadata.name ?? '', { tls: spec.tls, auth: spec.auth });
    let check: ConnectionCheck;
    if (result.ok === true) check = { ok: true };
    else if (result.ok === false) check = { ok: false, reason: result.reason, message: result.message };
    else check = this.previousSecretCheck(subscriber);
    this.secretChecks.set(key, { generation, at: Date.now(), check });
    return check;
  }

  private previousSecretCheck(subscriber: Subscriber): ConnectionCheck {
    const ready = findCondition(subscriber.status?.conditions, ConditionType.Ready);
    const secretReasons: readonly string[] = [DeliveryReason.SecretAccessDenied, DeliveryReason.SecretNotFound, DeliveryReason.SecretKeyMissing, DeliveryReason.InvalidSecret];
    if (ready && ready.observedGeneration === subscriber.metadata.generation && ready.status === 'False' && secretReasons.includes(ready.reason)) {
      return { ok: false, reason: ready.reason as DeliveryReason, message: ready.message };
    }
    return { ok: true };
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
