// What a Subscriber's spec.tls and spec.auth make of one connection, from the
// Secrets they name: the TLS options and the credential headers, or the
// reason and message that say what to fix. Messages name Secrets and keys,
// never a value.
import { DeliveryReason } from '../api/conditions.js';
import type { SubscriberSpec } from '../api/types.js';
import type { HeaderLines } from './http-request.js';

/** A Secret as read: its keys and decoded values, or why it could not be read. */
export type SecretAnswer =
  | { kind: 'found'; data: Readonly<Record<string, Buffer>> }
  | { kind: 'notFound' }
  /** RBAC refused the operator; `subject` is the kubectl flag naming the operator's identity (--serviceaccount=NS:NAME or --user=NAME). */
  | { kind: 'forbidden'; subject: string }
  /** Not a verdict on the Secret (the API was unreachable): try again. */
  | { kind: 'unavailable'; message: string };

/** One Secret a spec uses: which field names it and which keys it needs. */
export interface SecretUse {
  name: string;
  field: string;
  keys: readonly string[];
}

export interface TlsSettings {
  ca?: string;
  cert?: string;
  key?: string;
  servername?: string;
  rejectUnauthorized: boolean;
}

export interface ConnectionPlan {
  tls?: TlsSettings;
  headers: HeaderLines;
}

export type ConnectionResult =
  | { ok: true; plan: ConnectionPlan }
  | { ok: false; reason: DeliveryReason; message: string }
  /** A Secret could not be read for now: nothing is decided. */
  | { ok: 'unavailable'; message: string };

/** The most headers one Secret may set, and their sizes: they go into every request. */
export const MAX_HEADERS = 32;
export const MAX_HEADER_VALUE_BYTES = 4096;
export const MAX_HEADERS_BYTES = 16 * 1024;

/**
 * Headers a Secret may not set: hop-by-hop ones (RFC 9110 7.6.1), and those
 * the operator writes itself, which an override would duplicate or falsify.
 */
const REFUSED_HEADERS = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'content-length',
  'content-type',
  'user-agent',
  'expect',
]);
/** RFC 9110 token characters; Secret keys are a subset already ([-._a-zA-Z0-9]). */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Every Secret the spec names, in a fixed order (the first problem found is the one reported). */
export function secretUses(spec: Pick<SubscriberSpec, 'tls' | 'auth'>): SecretUse[] {
  const uses: SecretUse[] = [];
  const tls = spec.tls?.enabled ? spec.tls : undefined;
  if (tls?.caSecretRef) uses.push({ name: tls.caSecretRef.name, field: 'spec.tls.caSecretRef', keys: ['ca.crt'] });
  if (tls?.clientCertSecretRef) uses.push({ name: tls.clientCertSecretRef.name, field: 'spec.tls.clientCertSecretRef', keys: ['tls.crt', 'tls.key'] });
  if (spec.auth?.basic) uses.push({ name: spec.auth.basic.secretRef.name, field: 'spec.auth.basic.secretRef', keys: ['username', 'password'] });
  if (spec.auth?.bearer) uses.push({ name: spec.auth.bearer.secretRef.name, field: 'spec.auth.bearer.secretRef', keys: ['token'] });
  if (spec.auth?.headersSecretRef) uses.push({ name: spec.auth.headersSecretRef.name, field: 'spec.auth.headersSecretRef', keys: [] });
  return uses;
}

/** The names of a role and its binding that give the operator `get` on one Subscriber's Secrets. */
export function grantName(subscriber: string): string {
  return `event-xmlrpc-secrets-${subscriber}`.slice(0, 253).replace(/[-.]+$/, '');
}

/** The two commands a namespace admin runs to let the operator read the Secrets `uses` name. */
export function grantCommands(namespace: string, subscriber: string, uses: readonly SecretUse[], subject: string): string {
  const role = grantName(subscriber);
  const names = [...new Set(uses.map((u) => u.name))].map((n) => `--resource-name=${n}`).join(' ');
  return (
    `kubectl create role ${role} -n ${namespace} --verb=get --resource=secrets ${names} && ` +
    `kubectl create rolebinding ${role} -n ${namespace} --role=${role} ${subject}`
  );
}

/**
 * The connection the spec asks for, given the Secrets as read (`secrets` by
 * name). Values lose one trailing line break (files made with `echo` have
 * one); any other control character, and non-ASCII text in a header, is refused.
 */
export function planConnection(
  spec: Pick<SubscriberSpec, 'tls' | 'auth'>,
  secrets: ReadonlyMap<string, SecretAnswer>,
  where: { namespace: string; subscriber: string },
): ConnectionResult {
  const uses = secretUses(spec);
  const data = new Map<string, Readonly<Record<string, Buffer>>>();
  for (const use of uses) {
    const answer = secrets.get(use.name) ?? { kind: 'unavailable', message: `Secret ${use.name} was not read` };
    const secret = `Secret ${where.namespace}/${use.name} (${use.field})`;
    switch (answer.kind) {
      case 'unavailable':
        return { ok: 'unavailable', message: `${secret} could not be read: ${answer.message}` };
      case 'notFound':
        return fail(DeliveryReason.SecretNotFound, `${secret} does not exist: create it${use.keys.length ? ` with the keys ${use.keys.join(', ')}` : ''}; checked again every 30s`);
      case 'forbidden': {
        const commands = grantCommands(where.namespace, where.subscriber, uses, answer.subject);
        return fail(DeliveryReason.SecretAccessDenied, `the operator may not read ${secret}; a namespace admin grants it get on this Subscriber's Secrets, by name: ${commands}`);
      }
      case 'found': {
        const missing = use.keys.find((key) => answer.data[key] === undefined);
        if (missing) {
          const present = Object.keys(answer.data).sort();
          return fail(DeliveryReason.SecretKeyMissing, `${secret} has no key ${missing}${present.length ? ` (its keys: ${present.slice(0, 16).join(', ')})` : ' (it is empty)'}`);
        }
        data.set(use.name, answer.data);
      }
    }
  }
  const text = (name: string, key: string) => chomp(data.get(name)![key]!);

  let tls: TlsSettings | undefined;
  if (spec.tls?.enabled) {
    tls = { rejectUnauthorized: spec.tls.insecureSkipVerify !== true };
    if (spec.tls.caSecretRef) tls.ca = text(spec.tls.caSecretRef.name, 'ca.crt');
    if (spec.tls.clientCertSecretRef) {
      tls.cert = text(spec.tls.clientCertSecretRef.name, 'tls.crt');
      tls.key = text(spec.tls.clientCertSecretRef.name, 'tls.key');
    }
    if (spec.tls.serverName) tls.servername = spec.tls.serverName;
  }

  const headers: Array<[string, string]> = [];
  const invalid = (use: string, key: string, why: string) =>
    fail(DeliveryReason.InvalidSecret, `Secret ${where.namespace}/${use} key ${key} ${why}`);
  if (spec.auth?.basic) {
    const { name } = spec.auth.basic.secretRef;
    const username = text(name, 'username');
    const password = text(name, 'password');
    if (username.includes(':')) return invalid(name, 'username', 'holds a ":", which Basic authentication cannot carry');
    for (const [key, value] of [['username', username], ['password', password]] as const) {
      if (hasControl(value)) return invalid(name, key, 'holds a control character');
    }
    headers.push(['Authorization', `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`]);
  }
  if (spec.auth?.bearer) {
    const { name } = spec.auth.bearer.secretRef;
    const token = text(name, 'token');
    if (!/^[\x21-\x7E]+$/.test(token)) return invalid(name, 'token', 'must be visible ASCII without spaces');
    headers.push(['Authorization', `Bearer ${token}`]);
  }
  if (spec.auth?.headersSecretRef) {
    const { name } = spec.auth.headersSecretRef;
    const entries = Object.keys(data.get(name)!).sort();
    if (entries.length > MAX_HEADERS) return invalid(name, `(${entries.length} keys)`, `sets more than ${MAX_HEADERS} headers`);
    let total = 0;
    for (const key of entries) {
      const lower = key.toLowerCase();
      if (!HEADER_NAME.test(key)) return invalid(name, key, 'is not an HTTP header name');
      if (REFUSED_HEADERS.has(lower)) return invalid(name, key, `is a header the operator sets itself or a hop-by-hop one, which a Secret may not set`);
      if (lower === 'authorization' && (spec.auth.basic || spec.auth.bearer)) {
        return invalid(name, key, 'would replace the Authorization of spec.auth.basic or bearer: drop one of them');
      }
      if (headers.some(([n]) => n.toLowerCase() === lower)) return invalid(name, key, 'is given twice, in another case');
      const value = text(name, key);
      if (Buffer.byteLength(value) > MAX_HEADER_VALUE_BYTES) return invalid(name, key, `is longer than ${MAX_HEADER_VALUE_BYTES} bytes`);
      if (!/^[\x20-\x7E\t]*$/.test(value)) return invalid(name, key, 'must be printable ASCII: no line breaks or other control characters');
      total += key.length + value.length + 4;
      if (total > MAX_HEADERS_BYTES) return invalid(name, key, `takes the headers past ${MAX_HEADERS_BYTES} bytes`);
      headers.push([key, value]);
    }
  }
  return { ok: true, plan: tls ? { tls, headers } : { headers } };
}

function fail(reason: DeliveryReason, message: string): ConnectionResult {
  return { ok: false, reason, message };
}

/** The value as UTF-8 text without one trailing line break. */
function chomp(value: Buffer): string {
  return value.toString('utf8').replace(/\r?\n$/, '');
}

function hasControl(text: string): boolean {
  // eslint-disable-next-line no-control-regex
  return /[\x00-\x1F\x7F]/.test(text);
}
