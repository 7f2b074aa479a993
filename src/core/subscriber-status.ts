import type { SubscriberStatus } from '../api/types.js';
import { setCondition } from './conditions.js';
import type { ParsedSocket } from './socket.js';

/** What the last name lookup of the target host said; `unknown` when none has been made. */
export type HostCheck = { kind: 'resolved' } | { kind: 'notFound'; detail: string } | { kind: 'unknown' };

export const READY = 'Ready';

export function subscriberStatus(input: {
  generation: number;
  event: string;
  parsed: ParsedSocket;
  host: HostCheck;
  previous: SubscriberStatus | undefined;
  now: Date;
}): SubscriberStatus {
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
