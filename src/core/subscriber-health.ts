import { SubscriberReason } from '../api/conditions.js';
import type { SubscriberHealth } from '../api/types.js';
import { rfc3339 } from './conditions.js';
import { truncate } from './text.js';

/** Folds one delivery outcome into a subscriber's health. */
export function recordDelivery(previous: SubscriberHealth, outcome: { ok: boolean; error?: string; at: Date }): SubscriberHealth {
  const at = rfc3339(outcome.at);
  if (outcome.ok) {
    const next: SubscriberHealth = { ...previous, lastDeliveryTime: at, lastSuccessTime: at, consecutiveFailures: 0 };
    return next;
  }
  return {
    ...previous,
    lastDeliveryTime: at,
    lastError: truncate(outcome.error ?? 'failed'),
    consecutiveFailures: (previous.consecutiveFailures ?? 0) + 1,
  };
}

/** The health fields of a status, and nothing else. */
export function healthOf(status: SubscriberHealth | undefined): SubscriberHealth {
  const health: SubscriberHealth = {};
  if (status?.lastDeliveryTime !== undefined) health.lastDeliveryTime = status.lastDeliveryTime;
  if (status?.lastSuccessTime !== undefined) health.lastSuccessTime = status.lastSuccessTime;
  if (status?.lastError !== undefined) health.lastError = status.lastError;
  if (status?.consecutiveFailures !== undefined) health.consecutiveFailures = status.consecutiveFailures;
  return health;
}

/** Delivering turns False (and Stalled True) once this many deliveries in a row failed, each after its retries. */
export const DELIVERY_FAILING_AFTER = 3;

/** The Delivering condition of a Ready subscriber, from the health its status holds. */
export function deliveryCondition(health: SubscriberHealth): { ok: boolean; reason: string; message: string } {
  const failures = health.consecutiveFailures ?? 0;
  if (failures > 0) {
    const history = `${failures} ${failures === 1 ? 'delivery' : 'deliveries'} in a row failed, the last at ${health.lastDeliveryTime ?? 'an unknown time'} (${
      health.lastSuccessTime ? `last success at ${health.lastSuccessTime}` : 'none succeeded yet'
    })${health.lastError ? `: ${health.lastError}` : ''}`;
    return failures >= DELIVERY_FAILING_AFTER
      ? {
          ok: false,
          reason: SubscriberReason.DeliveryFailing,
          message: `${history}; check that the server listens at the socket and accepts the call. Deliveries go on; this clears at the next success`,
        }
      : { ok: true, reason: SubscriberReason.DeliveriesSucceeding, message: `${history}; Delivering turns False after ${DELIVERY_FAILING_AFTER}` };
  }
  return health.lastSuccessTime === undefined
    ? { ok: true, reason: SubscriberReason.NoDeliveries, message: 'nothing was delivered to this subscriber yet' }
    : { ok: true, reason: SubscriberReason.DeliveriesSucceeding, message: `the last delivery succeeded, at ${health.lastSuccessTime}` };
}
