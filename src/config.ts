import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { DEFAULT_LEASE_DURATION_MS, DEFAULT_RENEW_DEADLINE_MS, DEFAULT_RETRY_PERIOD_MS, checkDurations } from './core/lease.js';
import { parseDuration } from './core/duration.js';
import { DELIVERY_LIMITS, type RetryPolicy } from './core/retry-policy.js';
import { parseSocket } from './core/socket.js';
import { MAX_TIMER_MS } from './core/timer.js';
import { parseEgressRanges } from './core/egress-policy.js';

export interface OperatorConfig {
  syncMode: boolean;
  useStructParam: boolean;
  /** Empty: every namespace. */
  namespaces: string[];
  userAgent: string;
  connectTimeoutMs: number;
  responseTimeoutMs: number;
  /** Response body bytes read at most; past them the connection is closed. */
  maxResponseBytes: number;
  perSubscriberConcurrency: number;
  /** Raises running at once at most (parked raises not counted). */
  maxRaisesInFlight: number;
  /** Raises of one namespace running at once at most. */
  maxRaisesInFlightPerNamespace: number;
  /** Raises of one namespace parked (each delivery waiting on its own subscriber) at once at most. */
  maxParkedRaisesPerNamespace: number;
  workers: number;
  logLevel: string;
  /** Port of /metrics, /healthz and /readyz; 0 picks a free one. */
  httpPort: number;
  /** Run the controllers only while holding the Lease (client-go leader election). */
  leaderElect: boolean;
  /** Namespace of the Lease. */
  leaderElectionNamespace: string;
  /** Name of the Lease. */
  leaderElectionId: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  /** On SIGTERM/SIGINT, how long raises in flight may take to finish. */
  shutdownGraceMs: number;
  /** Defaults of Subscriber.spec.delivery.retry. */
  retry: RetryPolicy;
  /** Ranges no delivery may connect to, besides the default ones (core/egress-policy.ts), in canonical CIDR form. */
  egressDeny: string[];
  /** How long a Secret read is reused: a rotated Secret is in use within this time. */
  secretTtlMs: number;
  /** Ranges that reopen a part of a denied one (the most specific range decides), in canonical CIDR form. */
  egressAllow: string[];
  /** Port every replica serves the EventRelays on; 0 picks a free one. */
  relayPort: number;
  /** Host written into each EventRelay's status.socket: the relay Service's name. */
  relayHost: string;
  /** Bytes of events one relay holds at once in one replica (Memory mode). */
  relayQueueBytes: number;
}

export type ParsedCommandLine =
  | { kind: 'run'; config: OperatorConfig }
  | { kind: 'help' }
  | { kind: 'version' }
  | { kind: 'error'; message: string };

const LOG_LEVELS = ['error', 'warn', 'info', 'debug'];
/** A methodResponse to a notification is a few hundred bytes, a fault with a traceback a few KB. */
export const DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024;

/** Each flag, its environment variable, and its help line. The flag wins over the variable. */
const FLAGS = {
  'sync-mode': { env: 'EVENT_XMLRPC_SYNC_MODE', type: 'boolean', help: 'wait for each response and record it on the EventRaise, unless spec.syncMode says otherwise (default false)' },
  'use-struct-param': { env: 'EVENT_XMLRPC_USE_STRUCT_PARAM', type: 'boolean', help: 'pack each named param in a struct, unless spec.useStructParam says otherwise (default false)' },
  namespace: { env: 'EVENT_XMLRPC_NAMESPACES', type: 'list', help: 'namespace to watch; repeat for several (env: comma-separated); default all' },
  'user-agent': { env: 'EVENT_XMLRPC_USER_AGENT', type: 'string', help: 'User-Agent header of every request' },
  'connect-timeout': { env: 'EVENT_XMLRPC_CONNECT_TIMEOUT', type: 'duration', help: 'TCP connect timeout (default 5s)' },
  'response-timeout': { env: 'EVENT_XMLRPC_RESPONSE_TIMEOUT', type: 'duration', help: 'time allowed for the response after the request is sent (default 15s)' },
  'max-response-bytes': { env: 'EVENT_XMLRPC_MAX_RESPONSE_BYTES', type: 'count', help: 'response body bytes read at most; past them the connection is closed and the attempt fails (default 65536)' },
  'max-per-subscriber': { env: 'EVENT_XMLRPC_MAX_PER_SUBSCRIBER', type: 'count', help: 'concurrent requests to one subscriber at most (default 16)' },
  'max-raises-in-flight': { env: 'EVENT_XMLRPC_MAX_RAISES_IN_FLIGHT', type: 'count', help: 'raises running at once at most, over all namespaces; the others wait, namespaces served in turn (default 128)' },
  'max-raises-in-flight-per-namespace': { env: 'EVENT_XMLRPC_MAX_RAISES_IN_FLIGHT_PER_NAMESPACE', type: 'count', help: 'raises of one namespace running at once at most (default 32)' },
  'max-parked-raises-per-namespace': { env: 'EVENT_XMLRPC_MAX_PARKED_RAISES_PER_NAMESPACE', type: 'count', help: 'raises of one namespace whose deliveries all wait on their own subscribers (a request slot, a retry pause) at once at most (default 256)' },
  workers: { env: 'EVENT_XMLRPC_WORKERS', type: 'count', help: 'reconcile workers per kind (default 4)' },
  'log-level': { env: 'EVENT_XMLRPC_LOG_LEVEL', type: 'string', help: `one of ${LOG_LEVELS.join(', ')} (default info)` },
  'retry-limit': { env: 'EVENT_XMLRPC_RETRY_LIMIT', type: 'count', help: 'retries after a failed attempt, 0 for none (default 3)' },
  'retry-backoff': { env: 'EVENT_XMLRPC_RETRY_BACKOFF', type: 'string', help: 'exponential or linear growth of the pause between attempts (default exponential)' },
  'retry-initial-delay': { env: 'EVENT_XMLRPC_RETRY_INITIAL_DELAY', type: 'duration', help: 'pause before the first retry (default 500ms)' },
  'retry-max-delay': { env: 'EVENT_XMLRPC_RETRY_MAX_DELAY', type: 'duration', help: 'longest pause between attempts, Retry-After included (default 30s)' },
  'leader-elect': { env: 'EVENT_XMLRPC_LEADER_ELECT', type: 'boolean', help: 'run the controllers only while holding a Lease, so that several replicas can run (default false)' },
  'leader-election-namespace': { env: 'EVENT_XMLRPC_LEADER_ELECTION_NAMESPACE', type: 'string', help: 'namespace of the Lease (default: $POD_NAMESPACE, else the in-cluster namespace, else default)' },
  'leader-election-id': { env: 'EVENT_XMLRPC_LEADER_ELECTION_ID', type: 'string', help: 'name of the Lease (default event-xmlrpc-operator)' },
  'lease-duration': { env: 'EVENT_XMLRPC_LEASE_DURATION', type: 'duration', help: 'how long candidates wait before taking a Lease that is not renewed; whole seconds (default 15s)' },
  'renew-deadline': { env: 'EVENT_XMLRPC_RENEW_DEADLINE', type: 'duration', help: 'how long the leader retries renewing before it gives up and exits (default 10s)' },
  'retry-period': { env: 'EVENT_XMLRPC_RETRY_PERIOD', type: 'duration', help: 'pause between tries to acquire or renew the Lease (default 2s)' },
  'shutdown-grace': { env: 'EVENT_XMLRPC_SHUTDOWN_GRACE', type: 'duration', help: 'on SIGTERM/SIGINT, time given to deliveries in flight to finish and record their status (default 25s)' },
  'egress-deny': { env: 'EVENT_XMLRPC_EGRESS_DENY', type: 'list', help: 'CIDR range (or address) no delivery connects to; repeat for several (env: comma-separated); link-local, unspecified and the API server\'s addresses are always denied' },
  'egress-allow': { env: 'EVENT_XMLRPC_EGRESS_ALLOW', type: 'list', help: 'CIDR range (or address) reopened inside a denied one: the most specific range decides, allow wins a tie; repeat for several (env: comma-separated)' },
  'secret-ttl': { env: 'EVENT_XMLRPC_SECRET_TTL', type: 'duration', help: 'how long a Secret of spec.tls or spec.auth is reused before it is read again: a rotated Secret is in use within this time (default 60s)' },
  'http-port': { env: 'EVENT_XMLRPC_HTTP_PORT', type: 'port', help: 'port of /metrics, /healthz and /readyz; 0 picks a free one (default 8080)' },
  'relay-port': { env: 'EVENT_XMLRPC_RELAY_PORT', type: 'port', help: 'port every replica serves the EventRelays on; 0 picks a free one (default 8091)' },
  'relay-host': { env: 'EVENT_XMLRPC_RELAY_HOST', type: 'string', help: 'host OpenSIPS reaches the relays at, written into each EventRelay status.socket (default event-xmlrpc-operator-relay.$POD_NAMESPACE.svc)' },
  'relay-queue-bytes': { env: 'EVENT_XMLRPC_RELAY_QUEUE_BYTES', type: 'count', help: 'bytes of events one EventRelay holds at once in one replica, besides its spec.queueSize (default 33554432, 32 MiB)' },
} as const;

type FlagName = keyof typeof FLAGS;

/** The User-Agent the operator sends unless --user-agent says otherwise. */
export function defaultUserAgent(version: string): string {
  return `event-xmlrpc-operator/${version}`;
}

export function usage(version: string): string {
  const lines = Object.entries(FLAGS).map(([name, f]) => {
    const arg = f.type === 'boolean' ? '[=true|false]' : f.type === 'duration' ? '=DURATION' : '=VALUE';
    return `  --${name}${arg}\n      ${f.help} [env ${f.env}]`;
  });
  return [
    `event-xmlrpc-operator ${version}: delivers EventRaises to the XML-RPC servers of matching Subscribers`,
    '',
    'Usage: event-xmlrpc-operator [flags]',
    '',
    'Flags:',
    ...lines,
    '  --help, --version',
    '',
    'The cluster comes from KUBECONFIG, then ~/.kube/config, then the in-cluster service account.',
  ].join('\n');
}

/** The namespace of the pod's service account, when running in a cluster. */
export const IN_CLUSTER_NAMESPACE_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

function readInClusterNamespace(): string | undefined {
  try {
    return readFileSync(IN_CLUSTER_NAMESPACE_FILE, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

export function parseCommandLine(
  argv: string[],
  env: NodeJS.ProcessEnv,
  version: string,
  inClusterNamespace: () => string | undefined = readInClusterNamespace,
): ParsedCommandLine {
  let values: Record<string, string | string[] | boolean | undefined>;
  try {
    const options = Object.fromEntries(
      Object.entries(FLAGS).map(([name, f]) => [name, { type: 'string' as const, multiple: f.type === 'list' }]),
    );
    // Booleans are parsed as strings so that --sync-mode=false works.
    const booleanNames = Object.entries(FLAGS).filter(([, f]) => f.type === 'boolean').map(([n]) => n);
    const normalised = argv.map((arg) => (booleanNames.some((n) => arg === `--${n}`) ? `${arg}=true` : arg));
    values = parseArgs({
      args: normalised,
      options: { ...options, help: { type: 'boolean' }, version: { type: 'boolean' } },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (err) {
    return { kind: 'error', message: (err as Error).message };
  }
  if (values.help) return { kind: 'help' };
  if (values.version) return { kind: 'version' };

  const raw = (name: FlagName): string | string[] | undefined => {
    const flag = values[name];
    if (flag !== undefined) return flag as string | string[];
    return env[FLAGS[name].env] || undefined;
  };
  try {
    const config: OperatorConfig = {
      syncMode: bool(raw('sync-mode'), false, 'sync-mode'),
      useStructParam: bool(raw('use-struct-param'), false, 'use-struct-param'),
      namespaces: list(raw('namespace')),
      userAgent: (raw('user-agent') as string | undefined) ?? defaultUserAgent(version),
      connectTimeoutMs: duration(raw('connect-timeout'), 5_000, 'connect-timeout'),
      responseTimeoutMs: duration(raw('response-timeout'), 15_000, 'response-timeout', DELIVERY_LIMITS.timeoutSeconds * 1000),
      maxResponseBytes: count(raw('max-response-bytes'), DEFAULT_MAX_RESPONSE_BYTES, 'max-response-bytes'),
      perSubscriberConcurrency: count(raw('max-per-subscriber'), 16, 'max-per-subscriber'),
      maxRaisesInFlight: count(raw('max-raises-in-flight'), 128, 'max-raises-in-flight'),
      maxRaisesInFlightPerNamespace: count(raw('max-raises-in-flight-per-namespace'), 32, 'max-raises-in-flight-per-namespace'),
      maxParkedRaisesPerNamespace: count(raw('max-parked-raises-per-namespace'), 256, 'max-parked-raises-per-namespace'),
      workers: count(raw('workers'), 4, 'workers'),
      logLevel: (raw('log-level') as string | undefined) ?? 'info',
      httpPort: port(raw('http-port'), 8080, 'http-port'),
      leaderElect: bool(raw('leader-elect'), false, 'leader-elect'),
      leaderElectionNamespace: dnsName(raw('leader-election-namespace'), 'leader-election-namespace', 63) ?? (env.POD_NAMESPACE || inClusterNamespace() || 'default'),
      leaderElectionId: dnsName(raw('leader-election-id'), 'leader-election-id', 253) ?? 'event-xmlrpc-operator',
      leaseDurationMs: duration(raw('lease-duration'), DEFAULT_LEASE_DURATION_MS, 'lease-duration'),
      renewDeadlineMs: duration(raw('renew-deadline'), DEFAULT_RENEW_DEADLINE_MS, 'renew-deadline'),
      retryPeriodMs: duration(raw('retry-period'), DEFAULT_RETRY_PERIOD_MS, 'retry-period'),
      shutdownGraceMs: duration(raw('shutdown-grace'), 25_000, 'shutdown-grace'),
      retry: {
        limit: whole(raw('retry-limit'), 3, 'retry-limit', DELIVERY_LIMITS.retryLimit),
        backoff: backoff(raw('retry-backoff')),
        initialDelayMs: duration(raw('retry-initial-delay'), 500, 'retry-initial-delay', DELIVERY_LIMITS.retryDelayMs),
        maxDelayMs: duration(raw('retry-max-delay'), 30_000, 'retry-max-delay', DELIVERY_LIMITS.retryDelayMs),
        retryOnFaultCodes: [],
      },
      secretTtlMs: duration(raw('secret-ttl'), 60_000, 'secret-ttl', 3_600_000),
      egressDeny: parseEgressRanges(list(raw('egress-deny')), 'egress-deny').map((r) => r.text),
      egressAllow: parseEgressRanges(list(raw('egress-allow')), 'egress-allow').map((r) => r.text),
      relayPort: port(raw('relay-port'), 8091, 'relay-port'),
      relayHost: (raw('relay-host') as string | undefined) ?? `event-xmlrpc-operator-relay.${env.POD_NAMESPACE || inClusterNamespace() || 'default'}.svc`,
      relayQueueBytes: count(raw('relay-queue-bytes'), 32 * 1024 * 1024, 'relay-queue-bytes'),
    };
    if (!LOG_LEVELS.includes(config.logLevel)) throw new Error(`--log-level must be one of ${LOG_LEVELS.join(', ')}`);
    if (!isRelayHost(config.relayHost)) throw new Error(`--relay-host must be a DNS name or an IPv4 address, not "${config.relayHost}"`);
    const [leaseProblem] = checkDurations(config.leaseDurationMs, config.renewDeadlineMs, config.retryPeriodMs);
    if (leaseProblem) throw new Error(leaseProblem);
    return { kind: 'run', config };
  } catch (err) {
    return { kind: 'error', message: (err as Error).message };
  }
}

/** A host a socket can name and OpenSIPS can reach (it speaks IPv4 only): a DNS name or a dotted IPv4 address. */
function isRelayHost(host: string): boolean {
  const parsed = parseSocket(`xmlrpc:${host}:1:m`);
  return parsed.ok && parsed.target.host === host && !host.startsWith('[');
}

function bool(value: string | string[] | undefined, fallback: boolean, name: string): boolean {
  if (value === undefined) return fallback;
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  throw new Error(`--${name} must be true or false, not "${String(value)}"`);
}

function list(value: string | string[] | undefined): string[] {
  const items = Array.isArray(value) ? value : value === undefined ? [] : [value];
  return [...new Set(items.flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean))];
}

/** Durations are at most `maxMs`, and never longer than a Node timer can wait. */
function duration(value: string | string[] | undefined, fallback: number, name: string, maxMs = MAX_TIMER_MS): number {
  if (value === undefined) return fallback;
  const ms = parseDuration(String(value));
  if (ms === undefined) throw new Error(`--${name} must be a duration like 500ms, 5s or 1m, not "${String(value)}"`);
  if (ms <= 0) throw new Error(`--${name} must be more than zero`);
  if (ms > maxMs) throw new Error(`--${name} must be at most ${formatMs(maxMs)}, not "${String(value)}"`);
  return ms;
}

function formatMs(ms: number): string {
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}


function count(value: string | string[] | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  const n = /^\d+$/.test(String(value)) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a whole number of at least 1, not "${String(value)}"`);
  return n;
}

function port(value: string | string[] | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  const n = /^\d+$/.test(String(value)) ? Number(value) : NaN;
  if (!(n >= 0 && n <= 65535)) throw new Error(`--${name} must be a port number 0..65535, not "${String(value)}"`);
  return n;
}

function whole(value: string | string[] | undefined, fallback: number, name: string, max: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(String(value)) || Number(value) > max) throw new Error(`--${name} must be a whole number 0..${max}, not "${String(value)}"`);
  return Number(value);
}

function backoff(value: string | string[] | undefined): RetryPolicy['backoff'] {
  if (value === undefined) return 'exponential';
  if (value === 'exponential' || value === 'linear') return value;
  throw new Error(`--retry-backoff must be exponential or linear, not "${String(value)}"`);
}

/** A Kubernetes object or namespace name (DNS-1123); undefined when not given. */
function dnsName(value: string | string[] | undefined, flag: string, maxLength: number): string | undefined {
  if (value === undefined) return undefined;
  const text = String(value);
  if (text.length > maxLength || !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(text) || (maxLength === 63 && text.includes('.'))) {
    throw new Error(`--${flag} must be a lowercase DNS name of at most ${maxLength} characters, not "${text}"`);
  }
  return text;
}
