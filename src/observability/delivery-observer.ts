import { DeliveryReason, EventReason } from '../api/conditions.js';
import { API_VERSION, SUBSCRIBERS, type EventRaise, type EventRaiseStatus, type Resource, type Subscriber } from '../api/types.js';
import { objectKey } from '../core/object-key.js';
import type { SubscriberEntry } from '../core/subscriber-index.js';
import type { DeliveryHealth } from '../controller/delivery-health.js';
import type { DispatchResult } from '../delivery/dispatcher.js';
import type { DeliveryResult as AttemptResult } from '../delivery/http-sender.js';
import type { EventRecorder, ObjectReference } from '../kube/event-recorder.js';
import type { Metrics } from './metrics.js';

/**
 * Where what happens on the data path is told: metrics, Kubernetes Events
 * on the objects a person has to act on, and each delivery's outcome to the
 * Subscriber's health.
 */
export class DeliveryObserver {
  constructor(
    private readonly metrics: Metrics,
    private readonly recorder: EventRecorder,
    private readonly health: DeliveryHealth,
    private readonly now: () => Date,
  ) {}

  /** One HTTP request to a subscriber ended. */
  attempted(subscriberKey: string, attempt: AttemptResult): void {
    const namespace = subscriberKey.slice(0, subscriberKey.indexOf('/'));
    this.metrics.attempts.inc({ outcome: attempt.outcome === 'Delivered' ? 'delivered' : 'failed', namespace });
    if (attempt.connection === 'new') this.metrics.connectionsOpened.inc({ namespace });
    if (attempt.reason === DeliveryReason.EgressDenied) this.metrics.egressDenied.inc({ namespace });
  }

  /** One delivery (all its attempts) to a subscriber ended. */
  delivered(subscriber: SubscriberEntry, raise: EventRaise, result: DispatchResult): void {
    const why = result.faultString !== undefined ? `fault ${result.faultCode ?? ''} ${result.faultString}` : result.error;
    const ok = result.outcome === 'Delivered';
    this.health.delivered(objectKey(subscriber.namespace, subscriber.name), { ok, ...(why !== undefined ? { error: why } : {}), at: this.now() });
    const outcome = ok ? 'delivered' : 'failed';
    this.metrics.deliveries.inc({ outcome, namespace: subscriber.namespace });
    this.metrics.deliveryDuration.observe({ outcome }, result.durationMs / 1000);
    if (!ok) {
      this.recorder.warning(
        reference(SUBSCRIBERS, subscriber.namespace, subscriber.name, subscriber.uid),
        EventReason.DeliveryFailed,
        'Deliver',
        `${raise.spec.event} from ${raise.kind ?? 'EventRaise'} ${raise.metadata.name} to ${subscriber.target.url}: ${why}`,
      );
    }
  }

  /** A raise reached its terminal status. */
  finished(_raise: EventRaise, status: EventRaiseStatus): void {
    if (status.phase) this.metrics.raises.inc({ phase: status.phase });
  }

  /** A Subscriber's status turned Ready=False, or its spec is unsafe: a person has to act. */
  warn(subscriber: Subscriber, reason: string, message: string): void {
    const { namespace = '', name = '', uid = '' } = subscriber.metadata;
    this.recorder.warning(reference(SUBSCRIBERS, namespace, name, uid), reason, 'Validate', message);
  }
}

function reference(resource: Resource, namespace: string, name: string, uid: string): ObjectReference {
  return { apiVersion: API_VERSION, kind: resource.kind, namespace, name, uid };
}
