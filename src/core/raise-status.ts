import { ConditionType, RaiseReason } from '../api/conditions.js';
import { RaisePhase, type DeliveryRecord, type EventRaiseStatus } from '../api/types.js';
import { rfc3339, withConditions, type ConditionInput } from './conditions.js';

/** The phases after which a raise is never delivered again. */
export const TERMINAL_PHASES: ReadonlySet<RaisePhase> = new Set([
  RaisePhase.Dispatched,
  RaisePhase.Delivered,
  RaisePhase.PartiallyDelivered,
  RaisePhase.Failed,
  RaisePhase.NoSubscribers,
]);

/** The condition types a raise's status is made of; see conditionsOf. */
const RAISE_CONDITIONS: ReadonlySet<string> = new Set([
  ConditionType.Ready,
  ConditionType.Complete,
  ConditionType.Reconciling,
  ConditionType.Stalled,
]);

const REDELIVER_HINT = 'to deliver it again to the subscribers that failed, give the annotation eventxmlrpc.io/redeliver a new value';

export function isTerminal(status: EventRaiseStatus | undefined): boolean {
  return status?.phase !== undefined && TERMINAL_PHASES.has(status.phase);
}

interface Base {
  generation: number;
  previous: EventRaiseStatus | undefined;
  startTime: string;
  now: Date;
}

/**
 * At most this many entries in status.deliveries, so that a raise matched by
 * thousands of subscribers stays far below the apiserver's object size limit.
 * Failures are listed first; the counts always cover every subscriber.
 */
export const MAX_LISTED_DELIVERIES = 100;

/** Sync mode: one record per matched subscriber; terminal once every matched subscriber has one. */
export function syncStatus(
  input: Base & {
    matched: readonly string[];
    records: readonly DeliveryRecord[];
    /** Results counted before whose entries the capped list no longer holds. */
    unlisted?: { delivered: number; failed: number } | undefined;
  },
): EventRaiseStatus {
  const all = [...input.records].sort(failuresFirst);
  const extraDelivered = input.unlisted?.delivered ?? 0;
  const extraFailed = input.unlisted?.failed ?? 0;
  const delivered = all.filter((d) => d.outcome === 'Delivered').length + extraDelivered;
  const failed = all.length - (delivered - extraDelivered) + extraFailed;
  const matched = input.matched.length + extraDelivered + extraFailed;
  const total = all.length + extraDelivered + extraFailed;
  const recorded = new Set(all.map((d) => d.subscriber));
  const waiting = input.matched.filter((name) => !recorded.has(name)).length;
  const deliveries = all.slice(0, MAX_LISTED_DELIVERIES);
  const listed = total > deliveries.length ? `; deliveries lists ${deliveries.length} of ${total}, failures first` : '';
  if (waiting > 0) {
    return build(input, RaisePhase.Pending, { matched, delivered, failed, deliveries }, {
      outcome: 'running',
      reason: RaiseReason.Delivering,
      message: `waiting for ${waiting} of ${matched} subscribers${listed}`,
    });
  }
  const phase = failed === 0 ? RaisePhase.Delivered : delivered === 0 ? RaisePhase.Failed : RaisePhase.PartiallyDelivered;
  return build(input, phase, { matched, delivered, failed, deliveries }, {
    outcome: failed === 0 ? 'succeeded' : 'failed',
    reason: phase,
    message: `${delivered} of ${matched} subscribers answered with success${failed ? `, ${failed} failed` : ''}${listed}`,
  });
}

/** Async mode: terminal once every request was written (or could not be); responses are not awaited. */
export function asyncStatus(input: Base & { matched: number; written: number; notWritten: number }): EventRaiseStatus {
  return build(input, RaisePhase.Dispatched, { matched: input.matched, delivered: input.written, failed: input.notWritten }, {
    outcome: input.notWritten === 0 ? 'succeeded' : 'failed',
    reason: RaiseReason.Dispatched,
    message: `request written to ${input.written} of ${input.matched} subscribers${
      input.notWritten ? `; ${input.notWritten} could not be reached` : ''
    }; responses are not awaited in async mode`,
  });
}

export function noSubscribersStatus(input: Base & { event: string }): EventRaiseStatus {
  return build(input, RaisePhase.NoSubscribers, { matched: 0, delivered: 0, failed: 0 }, {
    outcome: 'failed',
    reason: RaiseReason.NoSubscribers,
    message: `no Ready Subscriber in this namespace subscribes to ${input.event}`,
    action: `create one, then give the annotation eventxmlrpc.io/redeliver a new value to deliver it again`,
  });
}

/** A raise whose spec cannot be encoded (only possible when admission did not check it). */
export function invalidStatus(input: Base & { problems: readonly string[] }): EventRaiseStatus {
  return build(input, RaisePhase.Failed, { matched: 0, delivered: 0, failed: 0 }, {
    outcome: 'failed',
    reason: RaiseReason.InvalidEvent,
    message: `not delivered: ${input.problems.join('; ')}`,
    action: 'the spec is immutable: create a new EventRaise with a valid one',
  });
}

/** How a raise stands: still running, or finished with every delivery made, or not. */
interface Outcome {
  outcome: 'running' | 'succeeded' | 'failed';
  reason: string;
  message: string;
  /** What to do about a failure, added to the Stalled message; REDELIVER_HINT when unset. */
  action?: string;
}

/**
 * The conditions of a raise. Complete: finished, whatever the outcome (the
 * `kubectl wait --for=condition=Complete` of "done"). Ready: finished and
 * every delivery made (the wait for "delivered"). Reconciling=True while
 * deliveries run and Stalled=True once a raise finished short of that, for
 * kstatus: InProgress, then Current or Failed.
 */
function conditionsOf(generation: number, o: Outcome): ConditionInput[] {
  const condition = (type: string, status: 'True' | 'False', message = o.message): ConditionInput => ({
    type,
    status,
    observedGeneration: generation,
    reason: o.reason,
    message,
  });
  switch (o.outcome) {
    case 'running':
      return [condition(ConditionType.Ready, 'False'), condition(ConditionType.Complete, 'False'), condition(ConditionType.Reconciling, 'True')];
    case 'succeeded':
      return [condition(ConditionType.Ready, 'True'), condition(ConditionType.Complete, 'True')];
    case 'failed':
      return [
        condition(ConditionType.Ready, 'False'),
        condition(ConditionType.Complete, 'True'),
        condition(ConditionType.Stalled, 'True', `${o.message}; ${o.action ?? REDELIVER_HINT}`),
      ];
  }
}

function build(
  input: Base,
  phase: RaisePhase,
  counts: Pick<EventRaiseStatus, 'matched' | 'delivered' | 'failed' | 'deliveries'>,
  outcome: Outcome,
): EventRaiseStatus {
  const terminal = TERMINAL_PHASES.has(phase);
  const status: EventRaiseStatus = {
    observedGeneration: input.generation,
    phase,
    ...counts,
    startTime: input.startTime,
    conditions: withConditions(input.previous?.conditions, RAISE_CONDITIONS, conditionsOf(input.generation, outcome), input.now),
  };
  if (terminal) status.completionTime = input.previous?.completionTime ?? rfc3339(input.now);
  if (!status.deliveries) delete status.deliveries;
  return status;
}

function failuresFirst(a: DeliveryRecord, b: DeliveryRecord): number {
  if (a.outcome !== b.outcome) return a.outcome === 'Failed' ? -1 : 1;
  return a.subscriber < b.subscriber ? -1 : a.subscriber > b.subscriber ? 1 : 0;
}
