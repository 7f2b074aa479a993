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

/** count: a whole number of at least 1; whole: of at least 0. */
type FlagType = 'boolean' | 'string' | 'list' | 'duration' | 'count' | 'whole' | 'port';

interface FlagSpec {
  env: string;
  type: FlagType;
  help: string;
  /** The value when neither the flag nor its variable is set; the help line shows it. */
  default?: boolean | number | string;
  /** The default in words, for the flags whose default depends on where the operator runs. */
  defaultText?: string;
  /** Largest value accepted (milliseconds for durations). */
  max?: number;
}

/** Each flag, its environment variable, its default and its help line: the one place each default is written. The flag wins over the variable. */
const FLAGS = {
  'sync-mode': { env: 'EVENT_XMLRPC_SYNC_MODE', type: 'boolean', default: false, help: 'wait for each response and record it on the EventRaise, unless spec.syncMode says otherwise' },
  'use-struct-param': { env: 'EVENT_XMLRPC_USE_STRUCT_PARAM', type: 'boolean', default: false, help: 'pack each named param in a struct, unless spec.useStructParam says otherwise' },
  namespace: { env: 'EVENT_XMLRPC_NAMESPACES', type: 'list', defaultText: 'all', help: 'namespace to watch; repeat for several (env: comma-separated)' },
  'user-agent': { env: 'EVENT_XMLRPC_USER_AGENT', type: 'string', defaultText: 'event-xmlrpc-operator/<version>', help: 'User-Agent header of every request' },
  'connect-timeout': { env: 'EVENT_XMLRPC_CONNECT_TIMEOUT', type: 'duration', default: 5_000, help: 'time to resolve the host and connect, TLS handshake included' },
  'response-timeout': { env: 'EVENT_XMLRPC_RESPONSE_TIMEOUT', type: 'duration', default: 15_000, max: DELIVERY_LIMITS.timeoutSeconds * 1000, help: 'time allowed for sending the request, again for the response headers, and again for the body' },
  'max-response-bytes': { env: 'EVENT_XMLRPC_MAX_RESPONSE_BYTES', type: 'count', default: DEFAULT_MAX_RESPONSE_BYTES, help: 'response body bytes read at most; past them the connection is closed and the attempt fails' },
  'max-per-subscriber': { env: 'EVENT_XMLRPC_MAX_PER_SUBSCRIBER', type: 'count', default: 16, help: 'concurrent requests to one subscriber at most' },
  'max-raises-in-flight': { env: 'EVENT_XMLRPC_MAX_RAISES_IN_FLIGHT', type: 'count', default: 128, help: 'raises running at once at most, over all namespaces; the others wait, namespaces served in turn' },
  'max-raises-in-flight-per-namespace': { env: 'EVENT_XMLRPC_MAX_RAISES_IN_FLIGHT_PER_NAMESPACE', type: 'count', default: 32, help: 'raises of one namespace running at once at most' },
  'max-parked-raises-per-namespace': { env: 'EVENT_XMLRPC_MAX_PARKED_RAISES_PER_NAMESPACE', type: 'count', default: 256, help: 'raises of one namespace whose deliveries all wait on their own subscribers (a request slot, a retry pause) at once at most' },
  workers: { env: 'EVENT_XMLRPC_WORKERS', type: 'count', default: 4, help: 'reconcile workers per kind' },
  'log-level': { env: 'EVENT_XMLRPC_LOG_LEVEL', type: 'string', default: 'info', help: `one of ${LOG_LEVELS.join(', ')}` },
  'retry-limit': { env: 'EVENT_XMLRPC_RETRY_LIMIT', type: 'whole', default: 3, max: DELIVERY_LIMITS.retryLimit, help: 'retries after a failed attempt, 0 for none' },
  'retry-backoff': { env: 'EVENT_XMLRPC_RETRY_BACKOFF', type: 'string', default: 'exponential', help: 'exponential or linear growth of the pause between attempts' },
  'retry-initial-delay': { env: 'EVENT_XMLRPC_RETRY_INITIAL_DELAY', type: 'duration', default: 500, max: DELIVERY_LIMITS.retryDelayMs, help: 'pause before the first retry' },
  'retry-max-delay': { env: 'EVENT_XMLRPC_RETRY_MAX_DELAY', type: 'duration', default: 30_000, max: DELIVERY_LIMITS.retryDelayMs, help: 'longest pause between attempts, Retry-After included' },
  'leader-elect': { env: 'EVENT_XMLRPC_LEADER_ELECT', type: 'boolean', default: false, help: 'run the controllers only while holding a Lease, so that several replicas can run' },
  'leader-election-namespace': { env: 'EVENT_XMLRPC_LEADER_ELECTION_NAMESPACE', type: 'string', defaultText: '$POD_NAMESPACE, else the in-cluster namespace, else default', help: 'namespace of the Lease' },
  'leader-election-id': { env: 'EVENT_XMLRPC_LEADER_ELECTION_ID', type: 'string', default: 'event-xmlrpc-operator', help: 'name of the Lease' },
  'lease-duration': { env: 'EVENT_XMLRPC_LEASE_DURATION', type: 'duration', default: DEFAULT_LEASE_DURATION_MS, help: 'how long candidates wait before taking a Lease that is not renewed; whole seconds' },
  'renew-deadline': { env: 'EVENT_XMLRPC_RENEW_DEADLINE', type: 'duration', default: DEFAULT_RENEW_DEADLINE_MS, help: 'how long the leader retries renewing before it gives up and exits' },
  'retry-period': { env: 'EVENT_XMLRPC_RETRY_PERIOD', type: 'duration', default: DEFAULT_RETRY_PERIOD_MS, help: 'pause between tries to acquire or renew the Lease' },
  'shutdown-grace': { env: 'EVENT_XMLRPC_SHUTDOWN_GRACE', type: 'duration', default: 25_000, help: 'on SIGTERM/SIGINT, time given to deliveries in flight to finish and record their status' },
  'egress-deny': { env: 'EVENT_XMLRPC_EGRESS_DENY', type: 'list', defaultText: 'none', help: 'CIDR range (or address) no delivery connects to; repeat for several (env: comma-separated); link-local, unspecified and the API server\'s addresses are always denied' },
  'egress-allow': { env: 'EVENT_XMLRPC_EGRESS_ALLOW', type: 'list', defaultText: 'none', help: 'CIDR range (or address) reopened inside a denied one: the most specific range decides, allow wins a tie; repeat for several (env: comma-separated)' },
  'secret-ttl': { env: 'EVENT_XMLRPC_SECRET_TTL', type: 'duration', default: 60_000, max: 3_600_000, help: 'how long a Secret of spec.tls or spec.auth is reused before it is read again: a rotated Secret is in use within this time' },
  'http-port': { env: 'EVENT_XMLRPC_HTTP_PORT', type: 'port', default: 8080, help: 'port of /metrics, /healthz and /readyz; 0 picks a free one' },
  'relay-port': { env: 'EVENT_XMLRPC_RELAY_PORT', type: 'port', default: 8091, help: 'port every replica serves the EventRelays on; 0 picks a free one' },
  'relay-host': { env: 'EVENT_XMLRPC_RELAY_HOST', type: 'string', defaultText: 'event-xmlrpc-operator-relay.$POD_NAMESPACE.svc', help: 'host OpenSIPS reaches the relays at, written into each EventRelay status.socket' },
  'relay-queue-bytes': { env: 'EVENT_XMLRPC_RELAY_QUEUE_BYTES', type: 'count', default: 32 * 1024 * 1024, help: 'bytes of events one EventRelay holds at once in one replica, besides its spec.queueSize' },
} as const satisfies Record<string, FlagSpec>;

type FlagName = keyof typeof FLAGS;

/** The User-Agent the operator sends unless --user-agent says otherwise. */
export function defaultUserAgent(version: string): string {
  return `event-xmlrpc-operator/${version}`;
}

/** Every flag as the help text (and README's Configuration table) shows it. */
export function flagList(): Array<{ name: string; env: string; type: FlagType; help: string; default: string }> {
  return Object.entries(FLAGS).map(([name, f]: [string, FlagSpec]) => ({
    name,
    env: f.env,
    type: f.type,
    help: f.help,
    default: f.defaultText ?? (f.type === 'duration' ? formatMs(f.default as number) : String(f.default)),
  }));
}

export function usage(version: string): string {
  const lines = flagList().map((f) => {
    const arg = f.type === 'boolean' ? '[=true|false]' : f.type === 'duration' ? '=DURATION' : '=VALUE';
    return `  --${f.name}${arg}\n      ${f.help} (default ${f.default}) [env ${f.env}]`;
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
  const spec = (name: FlagName): FlagSpec => FLAGS[name];
  const flag = {
    bool: (name: FlagName) => bool(raw(name), spec(name).default as boolean, name),
    string: (name: FlagName) => (raw(name) as string | undefined) ?? (spec(name).default as string | undefined),
    list: (name: FlagName) => list(raw(name)),
    duration: (name: FlagName) => duration(raw(name), spec(name).default as number, name, spec(name).max),
    count: (name: FlagName) => count(raw(name), spec(name).default as number, name),
    whole: (name: FlagName) => whole(raw(name), spec(name).default as number, name, spec(name).max!),
    port: (name: FlagName) => port(raw(name), spec(name).default as number, name),
  };
  const podNamespace = () => env.POD_NAMESPACE || inClusterNamespace() || 'default';
  try {
    const config: OperatorConfig = {
      syncMode: flag.bool('sync-mode'),
      useStructParam: flag.bool('use-struct-param'),
      namespaces: flag.list('namespace'),
      userAgent: flag.string('user-agent') ?? defaultUserAgent(version),
      connectTimeoutMs: flag.duration('connect-timeout'),
      responseTimeoutMs: flag.duration('response-timeout'),
      maxResponseBytes: flag.count('max-response-bytes'),
      perSubscriberConcurrency: flag.count('max-per-subscriber'),
      maxRaisesInFlight: flag.count('max-raises-in-flight'),
      maxRaisesInFlightPerNamespace: flag.count('max-raises-in-flight-per-namespace'),
      maxParkedRaisesPerNamespace: flag.count('max-parked-raises-per-namespace'),
      workers: flag.count('workers'),
      logLevel: flag.string('log-level')!,
      httpPort: flag.port('http-port'),
      leaderElect: flag.bool('leader-elect'),
      leaderElectionNamespace: dnsName(raw('leader-election-namespace'), 'leader-election-namespace', 63) ?? podNamespace(),
      leaderElectionId: dnsName(raw('leader-election-id'), 'leader-election-id', 253) ?? (spec('leader-election-id').default as string),
      leaseDurationMs: flag.duration('lease-duration'),
      renewDeadlineMs: flag.duration('renew-deadline'),
      retryPeriodMs: flag.duration('retry-period'),
      shutdownGraceMs: flag.duration('shutdown-grace'),
      retry: {
        limit: flag.whole('retry-limit'),
        backoff: backoff(flag.string('retry-backoff')!),
        initialDelayMs: flag.duration('retry-initial-delay'),
        maxDelayMs: flag.duration('retry-max-delay'),
        retryOnFaultCodes: [],
      },
      secretTtlMs: flag.duration('secret-ttl'),
      egressDeny: parseEgressRanges(flag.list('egress-deny'), 'egress-deny').map((r) => r.text),
      egressAllow: parseEgressRanges(flag.list('egress-allow'), 'egress-allow').map((r) => r.text),
      relayPort: flag.port('relay-port'),
      relayHost: flag.string('relay-host') ?? `event-xmlrpc-operator-relay.${podNamespace()}.svc`,
      relayQueueBytes: flag.count('relay-queue-bytes'),
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
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
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

function backoff(value: string): RetryPolicy['backoff'] {
  if (value === 'exponential' || value === 'linear') return value;
  throw new Error(`--retry-backoff must be exponential or linear, not "${value}"`);
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
