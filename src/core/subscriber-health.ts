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
