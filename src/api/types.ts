import type { V1ObjectMeta } from '@kubernetes/client-node';
import type { Condition } from '../core/conditions.js';
import type { EventParam } from '../core/event-params.js';
import type { DeliveryTarget } from '../core/socket.js';

export const GROUP = 'eventxmlrpc.io';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

/** Custom objects arrive as plain JSON: timestamps are strings, not the Dates of the typed core API. */
export type ObjectMeta = Omit<V1ObjectMeta, 'creationTimestamp' | 'deletionTimestamp'> & {
  creationTimestamp?: string;
  deletionTimestamp?: string;
};

export interface Subscriber {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec: SubscriberSpec;
  status?: SubscriberStatus;
}

export interface SubscriberSpec {
  event: string;
  socket: string;
  useStructParam?: boolean;
  delivery?: DeliverySpec;
  /** Seconds the subscription lasts; unset never expires. */
  expire?: number;
  /** HTTPS to the target, and how its certificate is checked. */
  tls?: TlsSpec;
  /** Credentials sent with every request, from Secrets of the Subscriber's namespace. */
  auth?: AuthSpec;
}

/** A Secret of the Subscriber's own namespace, by name. */
export interface SecretReference {
  name: string;
}

export interface TlsSpec {
  /** HTTPS instead of HTTP; the other fields need it. */
  enabled?: boolean;
  /** A Secret whose `ca.crt` (PEM) replaces the system's trusted CAs. */
  caSecretRef?: SecretReference;
  /** The name sent as SNI and checked in the certificate; default the socket's host. */
  serverName?: string;
  /** A Secret whose `tls.crt` and `tls.key` (PEM) are the client certificate, for servers that require mTLS. */
  clientCertSecretRef?: SecretReference;
  /** Accept any certificate: no protection against a server in the middle (a Warning Event says so). */
  insecureSkipVerify?: boolean;
}

export interface AuthSpec {
  /** HTTP Basic: the Secret's `username` and `password`. */
  basic?: { secretRef: SecretReference };
  /** `Authorization: Bearer`: the Secret's `token`. */
  bearer?: { secretRef: SecretReference };
  /** One request header per key of the Secret (name: key, value: value). */
  headersSecretRef?: SecretReference;
}

/** Per-subscriber delivery policy; unset fields take the operator's flags. */
export interface DeliverySpec {
  timeoutSeconds?: number;
  retry?: {
    limit?: number;
    backoff?: 'exponential' | 'linear';
    /** Durations: 500ms, 5s, 1m. */
    initialDelay?: string;
    maxDelay?: string;
  };
  retryOnFaultCodes?: number[];
  /** One request at a time, in the order the events arrived; a failing head is retried before anything else goes. */
  ordered?: boolean;
  /** Connections stay open for the next request (HTTP keep-alive), where OpenSIPS makes a new one per event. */
  keepAlive?: boolean;
}

export interface SubscriberStatus extends SubscriberHealth {
  observedGeneration?: number;
  conditions?: Condition[];
  target?: DeliveryTarget;
  subscribedAt?: string;
  expiresAt?: string;
  renewal?: string;
}

/** How deliveries to a subscriber went lately. */
export interface SubscriberHealth {
  lastDeliveryTime?: string;
  lastSuccessTime?: string;
  lastError?: string;
  consecutiveFailures?: number;
}

/** Set to a new value to start a new subscription period (spec.expire). */
export const RENEW_ANNOTATION = 'eventxmlrpc.io/renew';

export interface EventRaise {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec: EventRaiseSpec;
  status?: EventRaiseStatus;
}

export interface EventRaiseSpec {
  event: string;
  params?: EventParam[];
  syncMode?: boolean;
  /** Delete the raise this long after it finished; unset keeps it. */
  ttlSecondsAfterFinished?: number;
}

/** Set on a finished raise to deliver it again to the subscribers that failed, once per value. */
export const REDELIVER_ANNOTATION = 'eventxmlrpc.io/redeliver';

export const RaisePhase = {
  /** Not processed yet, or sync deliveries still running. */
  Pending: 'Pending',
  Dispatched: 'Dispatched',
  Delivered: 'Delivered',
  PartiallyDelivered: 'PartiallyDelivered',
  Failed: 'Failed',
  NoSubscribers: 'NoSubscribers',
} as const;
export type RaisePhase = (typeof RaisePhase)[keyof typeof RaisePhase];

export interface EventRaiseStatus {
  observedGeneration?: number;
  phase?: RaisePhase;
  matched?: number;
  delivered?: number;
  failed?: number;
  startTime?: string;
  completionTime?: string;
  deliveries?: DeliveryRecord[];
  conditions?: Condition[];
  /** The eventxmlrpc.io/redeliver value last acted on. */
  redelivered?: string;
}

export interface DeliveryRecord {
  subscriber: string;
  url: string;
  method: string;
  outcome: 'Delivered' | 'Failed';
  httpStatus?: number;
  faultCode?: number;
  faultString?: string;
  error?: string;
  /** Set on failures no retry mends: EgressDenied, TLSFailed, a Secret reason (api/conditions.ts DeliveryReason). */
  reason?: string;
  attempts: number;
  durationMs: number;
}

export const SUBSCRIBERS = { group: GROUP, version: VERSION, plural: 'subscribers', kind: 'Subscriber' } as const;
export const EVENT_RAISES = { group: GROUP, version: VERSION, plural: 'eventraises', kind: 'EventRaise' } as const;
export const EVENT_RELAYS = { group: GROUP, version: VERSION, plural: 'eventrelays', kind: 'EventRelay' } as const;
export type Resource = typeof SUBSCRIBERS | typeof EVENT_RAISES | typeof EVENT_RELAYS;
