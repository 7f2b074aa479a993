import type { SubscriberHealth, SubscriberStatus } from '../api/types.js';
import { findCondition, rfc3339, setCondition } from './conditions.js';
import type { ParsedSocket } from './socket.js';

/** What the last name lookup of the target host said; `unknown` when none has been made. */
export type HostCheck = { kind: 'resolved' } | { kind: 'notFound'; detail: string } | { kind: 'unknown' };

export const READY = 'Ready';

/** A subscription period: spec.expire counted from creation or the last renewal. */
export interface Expiry {
  expireSeconds: number;
  createdAt: string;
  /** The eventxmlrpc.io/renew annotation, when set. */
  renewal: string | undefined;
}

/** subscribedAt, expiresAt and renewal, from the previous status when the renewal did not change. */
export function subscriptionPeriod(expiry: Expiry, previous: SubscriberStatus | undefined, now: Date): Pick<SubscriberStatus, 'subscribedAt' | 'expiresAt' | 'renewal'> {
  let subscribedAt: string;
  if (expiry.renewal === undefined) subscribedAt = rfc3339(new Date(expiry.createdAt));
  else if (previous?.renewal === expiry.renewal && previous.subscribedAt) subscribedAt = previous.subscribedAt;
  else subscribedAt = rfc3339(now);
  const period: Pick<SubscriberStatus, 'subscribedAt' | 'expiresAt' | 'renewal'> = {
    subscribedAt,
    expiresAt: rfc3339(new Date(Date.parse(subscribedAt) + expiry.expireSeconds * 1000)),
  };
  if (expiry.renewal !== undefined) period.renewal = expiry.renewal;
  return period;
}

export function subscriberStatus(input: {
  generation: number;
  event: string;
  name: string;
  parsed: ParsedSocket;
  host: HostCheck;
  expiry: Expiry | undefined;
  health: SubscriberHealth;
  previous: SubscriberStatus | undefined;
  now: Date;
}): SubscriberStatus {
  const status = readiness(input);
  const period = input.expiry ? subscriptionPeriod(input.expiry, input.previous, input.now) : {};
  const merged: SubscriberStatus = { ...status, ...period, ...input.health };
  const usable = findCondition(status.conditions, READY)?.status === 'True';
  if (usable && period.expiresAt && Date.parse(period.expiresAt) <= input.now.getTime()) {
    merged.conditions = setCondition(
      input.previous?.conditions,
      {
        type: READY,
        status: 'False',
        reason: 'Expired',
        observedGeneration: input.generation,
        message: `the subscription expired at ${period.expiresAt} (spec.expire ${input.expiry!.expireSeconds}s); renew it: kubectl annotate subscriber ${input.name} eventxmlrpc.io/renew=$(date +%s) --overwrite`,
      },
      input.now,
    );
  }
  return merged;
}

function readiness(input: Parameters<typeof subscriberStatus>[0]): SubscriberStatus {
  const { parsed, generation } = input;
  const ready = (status: 'True' | 'False', reason: string, message: string) =>
    setCondition(input.previous?.conditions, { type: READY, status, reason, observedGeneration: generation, message }, input.now);

  if (!parsed.ok) {
    return {
      observedGeneration: generation,
      conditions: ready('False', parsed.reason, `${parsed.message}; fix spec.socket`),
    };
  }
  const { target } = parsed;
  if (input.host.kind === 'notFound') {
    return {
      observedGeneration: generation,
      target,
      conditions: ready(
        'False',
        'HostNotFound',
        `host ${target.host} does not resolve (${input.host.detail}); deliveries resume once it does, checked again periodically`,
      ),
    };
  }
  return {
    observedGeneration: generation,
    target,
    conditions: ready('True', 'Valid', `delivering ${input.event} to ${target.method} at ${target.url}`),
  };
}
