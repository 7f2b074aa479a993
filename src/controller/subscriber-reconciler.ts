import { isDeepStrictEqual } from 'node:util';
import type { Logger } from 'winston';
import { SUBSCRIBERS, type Subscriber } from '../api/types.js';
import { findCondition } from '../core/conditions.js';
import { parseSocket } from '../core/socket.js';
import { READY, subscriberStatus, type HostCheck } from '../core/subscriber-status.js';
import type { ApiClient } from '../kube/api-client.js';
import type { ObjectCache } from '../kube/informer.js';
import type { ReconcileResult, Reconciler } from './controller.js';
import type { ResolveHost } from './host-resolver.js';

export const HOST_RECHECK_MS = 30_000;

/** Writes a Subscriber's target and Ready condition. */
export class SubscriberReconciler implements Reconciler {
  constructor(
    private readonly deps: {
      cache: ObjectCache<Subscriber>;
      api: ApiClient;
      resolveHost: ResolveHost;
      /** Told when a status write turns Ready to False: a person has to act. */
      notReady: (subscriber: Subscriber, reason: string, message: string) => void;
      now: () => Date;
      log: Logger;
    },
  ) {}

  async reconcile(key: string): Promise<ReconcileResult | void> {
    const [namespace = '', name = ''] = key.split('/');
    const subscriber = this.deps.cache.get(namespace, name);
    if (!subscriber || subscriber.metadata.deletionTimestamp) return;

    const generation = subscriber.metadata.generation ?? 0;
    const parsed = parseSocket(subscriber.spec?.socket ?? '');
    let host: HostCheck = { kind: 'unknown' };
    if (parsed.ok) {
      host = await this.deps.resolveHost(parsed.target.host);
      if (host.kind === 'unknown') host = this.previousHostCheck(subscriber);
    }
    const status = subscriberStatus({
      generation,
      event: subscriber.spec?.event ?? '',
      parsed,
      host,
      previous: subscriber.status,
      now: this.deps.now(),
    });
    if (!isDeepStrictEqual(status, subscriber.status)) {
      await this.deps.api.replaceStatus(SUBSCRIBERS, subscriber, status);
      const ready = findCondition(status.conditions, READY);
      this.deps.log.info('subscriber status written', { namespace, name, ready: ready?.status, reason: ready?.reason });
      const wasReady = findCondition(subscriber.status?.conditions, READY);
      if (ready?.status === 'False' && (wasReady?.status !== 'False' || wasReady.reason !== ready.reason)) {
        this.deps.notReady(subscriber, ready.reason, ready.message);
      }
    }
    if (host.kind === 'notFound') return { requeueAfterMs: HOST_RECHECK_MS };
  }

  /** When the resolver cannot tell, keep what was last decided for this generation. */
  private previousHostCheck(subscriber: Subscriber): HostCheck {
    const ready = findCondition(subscriber.status?.conditions, READY);
    const stillCurrent = ready?.observedGeneration === subscriber.metadata.generation;
    return stillCurrent && ready?.reason === 'HostNotFound'
      ? { kind: 'notFound', detail: 'ENOTFOUND' }
      : { kind: 'resolved' };
  }
}
