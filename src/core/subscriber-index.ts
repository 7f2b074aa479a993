import { ConditionType, SubscriberReason } from '../api/conditions.js';
import { RENEW_ANNOTATION, type AuthSpec, type DeliverySpec, type Subscriber, type TlsSpec } from '../api/types.js';
import { findCondition } from './conditions.js';
import { parseSocket, type DeliveryTarget } from './socket.js';

export interface SubscriberEntry {
  namespace: string;
  name: string;
  uid: string;
  event: string;
  target: DeliveryTarget;
  /** Unset when the Subscriber leaves it to the operator's default. */
  useStructParam: boolean | undefined;
  delivery: DeliverySpec | undefined;
  tls: TlsSpec | undefined;
  auth: AuthSpec | undefined;
  /** When the subscription ends (spec.expire), in epoch milliseconds. */
  expiresAt: number | undefined;
}

/**
 * Subscribers by namespace and event, kept from the informer's events, so
 * that matching a raise costs one map lookup and no API call.
 *
 * A Subscriber matches as soon as its socket parses, before its own status is
 * written, so a raise created right after a subscription is not lost to that
 * round trip; it stops matching once its status says the host does not resolve.
 */
export class SubscriberIndex {
  private readonly byEvent = new Map<string, Map<string, SubscriberEntry>>();
  private readonly eventOf = new Map<string, string>();

  upsert(subscriber: Subscriber): void {
    const namespace = subscriber.metadata.namespace ?? '';
    const name = subscriber.metadata.name ?? '';
    this.remove(namespace, name);
    const entry = usableEntry(subscriber, namespace, name);
    if (!entry) return;
    const bucketKey = `${namespace}/${entry.event}`;
    let bucket = this.byEvent.get(bucketKey);
    if (!bucket) this.byEvent.set(bucketKey, (bucket = new Map()));
    bucket.set(name, entry);
    this.eventOf.set(`${namespace}/${name}`, bucketKey);
  }

  remove(namespace: string, name: string): void {
    const key = `${namespace}/${name}`;
    const bucketKey = this.eventOf.get(key);
    if (bucketKey === undefined) return;
    this.eventOf.delete(key);
    const bucket = this.byEvent.get(bucketKey);
    bucket?.delete(name);
    if (bucket?.size === 0) this.byEvent.delete(bucketKey);
  }

  /** The usable Subscribers of `event` in `namespace` at `now` (epoch ms), ordered by name. */
  match(namespace: string, event: string, now: number): SubscriberEntry[] {
    const bucket = this.byEvent.get(`${namespace}/${event}`);
    if (!bucket) return [];
    return [...bucket.values()]
      .filter((e) => e.expiresAt === undefined || e.expiresAt > now)
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  get(namespace: string, name: string): SubscriberEntry | undefined {
    const bucketKey = this.eventOf.get(`${namespace}/${name}`);
    return bucketKey === undefined ? undefined : this.byEvent.get(bucketKey)?.get(name);
  }
}

function usableEntry(subscriber: Subscriber, namespace: string, name: string): SubscriberEntry | undefined {
  if (subscriber.metadata.deletionTimestamp) return undefined;
  const parsed = parseSocket(subscriber.spec?.socket ?? '', { tls: subscriber.spec?.tls?.enabled === true });
  if (!parsed.ok || typeof subscriber.spec.event !== 'string') return undefined;
  const ready = findCondition(subscriber.status?.conditions, ConditionType.Ready);
  const unresolvable =
    ready?.status === 'False' &&
    ready.reason === SubscriberReason.HostNotFound &&
    ready.observedGeneration === subscriber.metadata.generation;
  if (unresolvable) return undefined;
  return {
    namespace,
    name,
    uid: subscriber.metadata.uid ?? '',
    event: subscriber.spec.event,
    target: parsed.target,
    useStructParam: subscriber.spec.useStructParam,
    delivery: subscriber.spec.delivery,
    tls: subscriber.spec.tls,
    auth: subscriber.spec.auth,
    expiresAt: expiresAt(subscriber),
  };
}

/**
 * The end of the subscription period the status reports, when that status is
 * about the current spec and renewal; a renewal the operator has not seen yet
 * counts as live.
 */
function expiresAt(subscriber: Subscriber): number | undefined {
  const status = subscriber.status;
  if (subscriber.spec.expire === undefined || !status?.expiresAt) return undefined;
  if (status.observedGeneration !== subscriber.metadata.generation) return undefined;
  if (status.renewal !== subscriber.metadata.annotations?.[RENEW_ANNOTATION]) return undefined;
  return Date.parse(status.expiresAt);
}
