import type { EventRelay, EventRelayStatus } from '../api/relay-types.js';
import { rfc3339, setCondition } from './conditions.js';
import { isPathOf, newRelayToken, relayPath, relaySocket } from './relay-path.js';

export const READY = 'Ready';
export const DEFAULT_QUEUE_SIZE = 20_000;
export const DEFAULT_RAISE_TTL_SECONDS = 300;

/** What the relay's counts grew by in one replica since its last write. */
export interface RelayCounts {
  received: number;
  accepted: number;
  refused: number;
  dropped: number;
  delivered: number;
  failed: number;
}

export const COUNT_FIELDS = ['received', 'accepted', 'refused', 'dropped', 'delivered', 'failed'] as const;

export function noCounts(): RelayCounts {
  return { received: 0, accepted: 0, refused: 0, dropped: 0, delivered: 0, failed: 0 };
}

export function isZero(counts: RelayCounts): boolean {
  return COUNT_FIELDS.every((field) => counts[field] === 0);
}

/**
 * The status the leader writes: the path chosen once (a random token; kept
 * as long as status keeps it), the socket for OpenSIPS, Ready. The counts
 * are the replicas', and stay as they are.
 */
export function relayStatus(input: {
  relay: EventRelay;
  /** Host and port in the socket: the relay Service's. */
  host: string;
  port: number;
  random: (bytes: number) => Buffer;
  now: Date;
}): EventRelayStatus {
  const { relay } = input;
  const namespace = relay.metadata.namespace ?? '';
  const name = relay.metadata.name ?? '';
  const generation = relay.metadata.generation ?? 1;
  const previous = relay.status;
  const path = isPathOf(previous?.path, namespace, name) ? previous.path : relayPath(namespace, name, newRelayToken(input.random));
  const socket = relaySocket(input.host, input.port, path);
  const mode = relay.spec?.mode ?? 'Memory';
  const events = relay.spec?.events?.length ? `${relay.spec.events.length} event${relay.spec.events.length === 1 ? '' : 's'}` : 'every event';
  const conditions = setCondition(
    previous?.conditions,
    {
      type: READY,
      status: 'True',
      reason: 'Serving',
      observedGeneration: generation,
      message: `served on every replica at status.socket; ${mode} mode, ${events}; subscribe OpenSIPS to that socket`,
    },
    input.now,
  );
  return { ...previous, observedGeneration: generation, conditions, path, socket };
}

/** The status with `counts` added to its totals. */
export function addCounts(previous: EventRelayStatus | undefined, counts: RelayCounts, lastEventAt: Date | undefined): EventRelayStatus {
  const status: EventRelayStatus = { ...previous };
  for (const field of COUNT_FIELDS) {
    if (counts[field] !== 0 || status[field] !== undefined) status[field] = (status[field] ?? 0) + counts[field];
  }
  if (lastEventAt) status.lastEventTime = rfc3339(lastEventAt);
  return status;
}
