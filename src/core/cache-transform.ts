import { REDELIVER_ANNOTATION, type EventRaise, type ObjectMeta, type Subscriber } from '../api/types.js';
import { isTerminal } from './raise-status.js';

/** kubectl apply's copy of the whole object it applied: nothing here reads it. */
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

const SLIM = Symbol('slim');

/**
 * What the informer cache keeps of a Subscriber (the cache's transform, as
 * controller-runtime's TransformFunc): the object without
 * `metadata.managedFields` and without the `kubectl.kubernetes.io/last-applied-configuration`
 * annotation. Everything the subscriber index and reconciler read is kept.
 */
export function cachedSubscriber(subscriber: Subscriber): Subscriber {
  return { ...subscriber, metadata: withoutBookkeeping(subscriber.metadata) };
}

/**
 * What the informer cache keeps of an EventRaise.
 *
 * A raise not terminal yet (no phase, or Pending) is kept whole but for
 * `metadata.managedFields` and the `kubectl.kubernetes.io/last-applied-configuration`
 * annotation, as a Subscriber.
 *
 * A terminal raise (isTerminal(status): Dispatched, Delivered,
 * PartiallyDelivered, Failed, NoSubscribers) is never delivered again unless
 * its redeliver annotation changes, so the cache keeps only what tells that
 * and what its ttl needs (isSlimmed() is then true). It keeps:
 *   - metadata: namespace, name, uid, resourceVersion, generation,
 *     creationTimestamp, deletionTimestamp, and of the annotations only
 *     `eventxmlrpc.io/redeliver`;
 *   - spec: event, syncMode, ttlSecondsAfterFinished;
 *   - status: observedGeneration, phase, matched, delivered, failed,
 *     startTime, completionTime, redelivered.
 * It lacks: every other metadata field (labels, other annotations,
 * finalizers, ownerReferences, managedFields), `spec.params`,
 * `status.deliveries` and `status.conditions`. So a slimmed raise cannot be
 * delivered again, nor its status rebuilt: a redelivery GETs the whole
 * object first. (A status PUT from it would not lose labels or spec, which
 * the status subresource takes from the stored object, but would write a
 * status without deliveries and conditions.)
 */
export function cachedRaise(raise: EventRaise): EventRaise {
  if (!isTerminal(raise.status)) return { ...raise, metadata: withoutBookkeeping(raise.metadata) };
  const { metadata: m, spec, status } = raise;
  const redeliver = m.annotations?.[REDELIVER_ANNOTATION];
  const slim: EventRaise = {
    apiVersion: raise.apiVersion,
    kind: raise.kind,
    metadata: defined({
      namespace: m.namespace,
      name: m.name,
      uid: m.uid,
      resourceVersion: m.resourceVersion,
      generation: m.generation,
      creationTimestamp: m.creationTimestamp,
      deletionTimestamp: m.deletionTimestamp,
      annotations: redeliver === undefined ? undefined : { [REDELIVER_ANNOTATION]: redeliver },
    }),
    spec: defined({ event: spec?.event, syncMode: spec?.syncMode, ttlSecondsAfterFinished: spec?.ttlSecondsAfterFinished }),
    status: defined({
      observedGeneration: status?.observedGeneration,
      phase: status?.phase,
      matched: status?.matched,
      delivered: status?.delivered,
      failed: status?.failed,
      startTime: status?.startTime,
      completionTime: status?.completionTime,
      redelivered: status?.redelivered,
    }),
  };
  Object.defineProperty(slim, SLIM, { value: true });
  return slim;
}

/** True for a raise cachedRaise() slimmed: see there what it lacks. */
export function isSlimmed(raise: EventRaise): boolean {
  return (raise as EventRaise & { [SLIM]?: boolean })[SLIM] === true;
}

function withoutBookkeeping(metadata: ObjectMeta): ObjectMeta {
  const { managedFields: _, ...rest } = metadata;
  if (rest.annotations?.[LAST_APPLIED] === undefined) return rest;
  const { [LAST_APPLIED]: __, ...annotations } = rest.annotations;
  return { ...rest, annotations };
}

/** A copy without the undefined fields, built in one go (no `delete`, which makes V8 objects bigger). */
function defined<T extends object>(obj: T): T {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(obj)) if (value !== undefined) out[key] = value;
  return out as T;
}
