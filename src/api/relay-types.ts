import type { Condition } from '../core/conditions.js';
import type { ObjectMeta } from './types.js';

/** An endpoint OpenSIPS's own event_xmlrpc delivers to; its events go to the Subscribers of its namespace. */
export interface EventRelay {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec: EventRelaySpec;
  status?: EventRelayStatus;
}

export type RelayMode = 'Memory' | 'Durable';

export interface EventRelaySpec {
  /** The events it accepts; unset accepts every event. */
  events?: string[];
  /** Memory (default): a bounded queue in the receiving replica. Durable: an EventRaise per event, before the answer. */
  mode?: RelayMode;
  /** Events held at once (waiting, being delivered, or being stored); unset: DEFAULT_QUEUE_SIZE. */
  queueSize?: number;
  /** As EventRaise.spec.syncMode; unset: the operator's --sync-mode. */
  syncMode?: boolean;
  /** Durable: spec.ttlSecondsAfterFinished of the raises it creates; unset: DEFAULT_RAISE_TTL_SECONDS. */
  ttlSecondsAfterFinished?: number;
}

export interface EventRelayStatus {
  observedGeneration?: number;
  conditions?: Condition[];
  /** The secret request path: whoever can name it can raise events in this namespace. */
  path?: string;
  /** What to give OpenSIPS: xmlrpc:HOST:PORT/relay/...:relay. */
  socket?: string;
  /** Totals over every replica since the relay was created, written every few seconds. */
  received?: number;
  accepted?: number;
  refused?: number;
  dropped?: number;
  delivered?: number;
  failed?: number;
  lastEventTime?: string;
}
