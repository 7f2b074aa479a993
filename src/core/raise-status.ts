import type { DeliveryRecord, EventRaiseStatus, RaisePhase } from '../api/types.js';
import { rfc3339, setCondition } from './conditions.js';

/** The phases after which a raise is never delivered again. */
export const TERMINAL_PHASES: ReadonlySet<RaisePhase> = new Set([
  'Dispatched',
  'Delivered',
  'PartiallyDelivered',
  'Failed',
  'NoSubscribers',
]);

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
    return build(input, 'Pending', { matched, delivered, failed, deliveries }, {
      reason: 'Delivering',
      message: `waiting for ${waiting} of ${matched} subscribers${listed}`,
    });
  }
  const phase: RaisePhase = failed === 0 ? 'Delivered' : delivered === 0 ? 'Failed' : 'PartiallyDelivered';
  return build(input, phase, { matched, delivered, failed, deliveries }, {
    reason: phase,
    message: `${delivered} of ${matched} subscribers answered with success${failed ? `, ${failed} failed` : ''}${listed}`,
  });
}

/** Async mode: terminal once every request was written (or could not be); responses are not awaited. */
export function asyncStatus(input: Base & { matched: number; written: number; notWritten: number }): EventRaiseStatus {
  return build(input, 'Dispatched', { matched: input.matched, delivered: input.written, failed: input.notWritten }, {
    reason: 'Dispatched',
    message: `request written to ${input.written} of ${input.matched} subscribers${
      input.notWritten ? `; ${input.notWritten} could not be reached` : ''
    }; responses are not awaited in async mode`,
  });
}

export function noSubscribersStatus(input: Base & { event: string }): EventRaiseStatus {
  return build(input, 'NoSubscribers', { matched: 0, delivered: 0, failed: 0 }, {
    reason: 'NoSubscribers',
    message: `no Ready Subscriber in this namespace subscribes to ${input.event}`,
  });
}

/** A raise whose spec cannot be encoded (only possible when admission did not check it). */
export function invalidStatus(input: Base & { problems: readonly string[] }): EventRaiseStatus {
  return build(input, 'Failed', { matched: 0, delivered: 0, failed: 0 }, {
    reason: 'InvalidEvent',
    message: `not delivered: ${input.problems.join('; ')}`,
  });
}

function build(
  input: Base,
  phase: RaisePhase,
  counts: Pick<EventRaiseStatus, 'matched' | 'delivered' | 'failed' | 'deliveries'>,
  condition: { reason: string; message: string },
): EventRaiseStatus {
  const terminal = TERMINAL_PHASES.has(phase);
  const status: EventRaiseStatus = {
    observedGeneration: input.generation,
    phase,
    ...counts,
    startTime: input.startTime,
    conditions: setCondition(
      input.previous?.conditions,
      { type: 'Complete', status: terminal ? 'True' : 'False', observedGeneration: input.generation, ...condition },
      input.now,
    ),
  };
  if (terminal) status.completionTime = input.previous?.completionTime ?? rfc3339(input.now);
  if (!status.deliveries) delete status.deliveries;
  return status;
}

function failuresFirst(a: DeliveryRecord, b: DeliveryRecord): number {
  if (a.outcome !== b.outcome) return a.outcome === 'Failed' ? -1 : 1;
  return a.subscriber < b.subscriber ? -1 : a.subscriber > b.subscriber ? 1 : 0;
}
