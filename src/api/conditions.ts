// The condition types and reasons of the eventxmlrpc.io API, as they appear in
// status.conditions. Ready, Reconciling and Stalled follow the kstatus
// conventions that Flux health checks, Argo CD (deploy/argocd/) and
// `kubectl wait` read; README "Health and GitOps" tells which object state
// gives which verdict.

export const ConditionType = {
  /**
   * EventRaise: delivered to every matched subscriber (sync), or every request
   * written (async). Subscriber: usable, so raises are delivered to it.
   */
  Ready: 'Ready',
  /** EventRaise: finished, whatever the outcome; False with reason Delivering while deliveries run. */
  Complete: 'Complete',
  /** True while the operator is still working towards the desired state: kstatus InProgress. */
  Reconciling: 'Reconciling',
  /** True when the desired state cannot be reached without someone acting: kstatus Failed. */
  Stalled: 'Stalled',
  /** Subscriber: whether its recent deliveries succeed; only on a Ready subscriber. */
  Delivering: 'Delivering',
} as const;
export type ConditionType = (typeof ConditionType)[keyof typeof ConditionType];

/** Reasons of EventRaise conditions; the terminal ones are also the phase. */
export const RaiseReason = {
  /** Deliveries are running (Ready=False, Complete=False, Reconciling=True). */
  Delivering: 'Delivering',
  Delivered: 'Delivered',
  PartiallyDelivered: 'PartiallyDelivered',
  Failed: 'Failed',
  /** Async mode: every request written (Ready=True), or some could not be (Stalled=True). */
  Dispatched: 'Dispatched',
  NoSubscribers: 'NoSubscribers',
  /** The spec cannot be encoded (only an object admission did not check): phase Failed. */
  InvalidEvent: 'InvalidEvent',
} as const;
export type RaiseReason = (typeof RaiseReason)[keyof typeof RaiseReason];

/**
 * Reasons of Subscriber conditions. Ready=False also takes the socket
 * reasons of core/socket.ts (UnsupportedScheme, MalformedSocket, InvalidHost,
 * InvalidPort, InvalidPath, InvalidMethod), and the DeliveryReasons below
 * that a Subscriber's own status can tell: EgressDenied and the Secret ones.
 */
export const SubscriberReason = {
  /** Ready=True: the socket parses and the host resolves (or was not looked up yet). */
  Valid: 'Valid',
  /** Ready=False and Reconciling=True: a transient problem, checked again every 30 s. */
  HostNotFound: 'HostNotFound',
  /** Ready=False and Stalled=True: spec.expire passed; renew it. */
  Expired: 'Expired',
  /** Delivering=True: the last delivery succeeded, or fewer than DELIVERY_FAILING_AFTER failed since. */
  DeliveriesSucceeding: 'DeliveriesSucceeding',
  /** Delivering=True: nothing was delivered to it yet. */
  NoDeliveries: 'NoDeliveries',
  /** Delivering=False and Stalled=True: the last DELIVERY_FAILING_AFTER deliveries or more all failed. */
  DeliveryFailing: 'DeliveryFailing',
} as const;
export type SubscriberReason = (typeof SubscriberReason)[keyof typeof SubscriberReason];

/**
 * Reasons a delivery failed with that no retry can mend: status.deliveries[].reason,
 * and Subscriber Ready=False reasons where the Subscriber's own status shows them.
 */
export const DeliveryReason = {
  /** The egress policy denies every address of the host: no connection was made. */
  EgressDenied: 'EgressDenied',
  /** The TLS handshake failed: an untrusted, expired or misnamed certificate, or a client certificate required. */
  TLSFailed: 'TLSFailed',
  /** The operator may not get a Secret the Subscriber names (RBAC): nothing was sent. */
  SecretAccessDenied: 'SecretAccessDenied',
  /** A Secret the Subscriber names does not exist: nothing was sent. */
  SecretNotFound: 'SecretNotFound',
  /** A Secret lacks a key the Subscriber needs (ca.crt, tls.crt, tls.key, username, password, token). */
  SecretKeyMissing: 'SecretKeyMissing',
  /** A Secret holds something unusable: a header it may not set, a value with line breaks, a PEM that does not parse. */
  InvalidSecret: 'InvalidSecret',
} as const;
export type DeliveryReason = (typeof DeliveryReason)[keyof typeof DeliveryReason];

/** Reasons of the Kubernetes Events the operator records; not-Ready Events take the Ready condition's reason. */
export const EventReason = {
  /** On a Subscriber: a delivery to it failed after its retries (repeats become one Event's series). */
  DeliveryFailed: 'DeliveryFailed',
  /** On a Subscriber with spec.tls.insecureSkipVerify, at each generation: its server's certificate is not checked. */
  InsecureSkipVerify: 'InsecureSkipVerify',
} as const;
export type EventReason = (typeof EventReason)[keyof typeof EventReason];
