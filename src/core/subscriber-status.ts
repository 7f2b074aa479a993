import { ConditionType, DeliveryReason, SubscriberReason } from '../api/conditions.js';
import type { SubscriberHealth, SubscriberStatus } from '../api/types.js';
import { rfc3339, withConditions, type ConditionInput } from './conditions.js';
import type { ParsedSocket } from './socket.js';
import { deliveryCondition } from './subscriber-health.js';

/** What the last name lookup of the target host said; `unknown` when none has been made. */
export type HostCheck =
  | { kind: 'resolved' }
  | { kind: 'notFound'; detail: string }
  /** The egress policy denies every address of the host; `detail` is the whole message. */
  | { kind: 'denied'; detail: string }
  | { kind: 'unknown' };

/** Whether the Secrets of spec.tls and spec.auth can be used (core/connection-spec.ts). */
export type ConnectionCheck = { ok: true } | { ok: false; reason: DeliveryReason; message: string };

/** The condition types a subscriber's status is made of. */
const SUBSCRIBER_CONDITIONS: ReadonlySet<string> = new Set([
  ConditionType.Ready,
  ConditionType.Reconciling,
  ConditionType.Stalled,
  ConditionType.Delivering,
]);

/**
 * Ready=False reasons that clear by themselves: kstatus InProgress
 * (Reconciling=True). Every other one (a socket reason, Expired, or one added
 * later such as a denied egress) needs someone to act: Stalled=True, kstatus Failed.
 */
const TRANSIENT_NOT_READY: ReadonlySet<string> = new Set([SubscriberReason.HostNotFound, DeliveryReason.SecretNotFound]);

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
  /** Unset: the spec names no Secret. */
  connection?: ConnectionCheck;
  /** spec.tls.insecureSkipVerify: said in the Ready message. */
  insecure?: boolean;
  expiry: Expiry | undefined;
  health: SubscriberHealth;
  previous: SubscriberStatus | undefined;
  now: Date;
}): SubscriberStatus {
  const { parsed, generation } = input;
  const period = input.expiry ? subscriptionPeriod(input.expiry, input.previous, input.now) : {};
  const status: SubscriberStatus = { observedGeneration: generation };
  if (parsed.ok) status.target = parsed.target;
  const merged: SubscriberStatus = { ...status, ...period, ...input.health };
  const usability = readiness(input, period.expiresAt);
  const condition = (type: string, value: 'True' | 'False', c: { reason: string; message: string }): ConditionInput => ({
    type,
    status: value,
    observedGeneration: generation,
    reason: c.reason,
    message: c.message,
  });
  const desired: ConditionInput[] = [condition(ConditionType.Ready, usability.ready ? 'True' : 'False', usability)];
  if (!usability.ready) {
    desired.push(condition(TRANSIENT_NOT_READY.has(usability.reason) ? ConditionType.Reconciling : ConditionType.Stalled, 'True', usability));
  } else {
    const delivering = deliveryCondition(input.health);
    desired.push(condition(ConditionType.Delivering, delivering.ok ? 'True' : 'False', delivering));
    if (!delivering.ok) desired.push(condition(ConditionType.Stalled, 'True', delivering));
  }
  merged.conditions = withConditions(input.previous?.conditions, SUBSCRIBER_CONDITIONS, desired, input.now);
  return merged;
}

/** Whether deliveries go to the subscriber, and if not why, with what to do; an expiry needs acting on, so it comes first. */
function readiness(input: Parameters<typeof subscriberStatus>[0], expiresAt: string | undefined): { ready: boolean; reason: string; message: string } {
  const { parsed } = input;
  if (!parsed.ok) return { ready: false, reason: parsed.reason, message: `${parsed.message}; fix spec.socket` };
  const { target } = parsed;
  if (expiresAt && Date.parse(expiresAt) <= input.now.getTime()) {
    return {
      ready: false,
      reason: SubscriberReason.Expired,
      message: `the subscription expired at ${expiresAt} (spec.expire ${input.expiry!.expireSeconds}s); renew it: kubectl annotate subscriber ${input.name} eventxmlrpc.io/renew=$(date +%s) --overwrite`,
    };
  }
  if (input.host.kind === 'denied') {
    return { ready: false, reason: DeliveryReason.EgressDenied, message: input.host.detail };
  }
  if (input.connection && !input.connection.ok) {
    return { ready: false, reason: input.connection.reason, message: `${input.connection.message}; deliveries to it fail with ${input.connection.reason} until then` };
  }
  if (input.host.kind === 'notFound') {
    return {
      ready: false,
      reason: SubscriberReason.HostNotFound,
      message: `host ${target.host} does not resolve (${input.host.detail}); deliveries resume once it does, checked again periodically`,
    };
  }
  const insecure = input.insecure ? ' (TLS certificate not checked: spec.tls.insecureSkipVerify)' : '';
  return { ready: true, reason: SubscriberReason.Valid, message: `delivering ${input.event} to ${target.method} at ${target.url}${insecure}` };
}
