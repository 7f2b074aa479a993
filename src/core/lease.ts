// The decisions of client-go's leader election (k8s.io/client-go/tools/leaderelection),
// without I/O: what a candidate concludes from the Lease it read, and what it writes.

/** client-go's defaults (LeaseDuration, RenewDeadline, RetryPeriod). */
export const DEFAULT_LEASE_DURATION_MS = 15_000;
export const DEFAULT_RENEW_DEADLINE_MS = 10_000;
export const DEFAULT_RETRY_PERIOD_MS = 2_000;
/** wait.JitterUntil's factor for the acquire loop: each wait is RetryPeriod * [1, 1 + 1.2). */
export const JITTER_FACTOR = 1.2;

/** The fields of a coordination.k8s.io/v1 LeaseSpec that leader election uses (client-go's LeaderElectionRecord). */
export interface LeaseRecord {
  /** Empty: nobody holds the lease (it was released). */
  holderIdentity: string;
  leaseDurationSeconds: number;
  /** metav1.MicroTime, "2006-01-02T15:04:05.000000Z". */
  acquireTime: string;
  renewTime: string;
  leaseTransitions: number;
}

/**
 * The record as we last saw it change, and when we saw that: `atMs` is OUR
 * monotonic clock. Expiry is judged from this time, never from the remote
 * renewTime, so a skewed clock elsewhere cannot make us steal a live lease.
 */
export interface Observation {
  record: LeaseRecord;
  atMs: number;
}

/** metav1.MicroTime's format: RFC 3339 in UTC with six fractional digits. */
export function microTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** A LeaseSpec as read from the API (fields may be missing, times may be strings or Dates) as a record. */
export function recordOf(spec: {
  holderIdentity?: string | null;
  leaseDurationSeconds?: number | null;
  acquireTime?: unknown;
  renewTime?: unknown;
  leaseTransitions?: number | null;
} | undefined): LeaseRecord {
  const time = (t: unknown) => (t instanceof Date ? microTime(t) : typeof t === 'string' ? t : '');
  return {
    holderIdentity: spec?.holderIdentity ?? '',
    leaseDurationSeconds: spec?.leaseDurationSeconds ?? 0,
    acquireTime: time(spec?.acquireTime),
    renewTime: time(spec?.renewTime),
    leaseTransitions: spec?.leaseTransitions ?? 0,
  };
}

function sameRecord(a: LeaseRecord, b: LeaseRecord): boolean {
  return (
    a.holderIdentity === b.holderIdentity &&
    a.leaseDurationSeconds === b.leaseDurationSeconds &&
    a.acquireTime === b.acquireTime &&
    a.renewTime === b.renewTime &&
    a.leaseTransitions === b.leaseTransitions
  );
}

/**
 * What we know after reading `record` at `nowMs`: a record that differs from
 * the one observed before restarts the clock; the same record keeps the time
 * we first saw it (a holder that stopped renewing ages, however often we read).
 */
export function observe(previous: Observation | undefined, record: LeaseRecord, nowMs: number): Observation {
  if (previous && sameRecord(previous.record, record)) return previous;
  return { record, atMs: nowMs };
}

/** client-go's isLeaseValid: the observed record's leaseDurationSeconds have not run out since we saw it change. */
export function isLeaseValid(observed: Observation, nowMs: number): boolean {
  return observed.atMs + observed.record.leaseDurationSeconds * 1000 > nowMs;
}

/**
 * Whether `identity` may write itself into the lease: nobody holds it, or its
 * holder let it run out (by our clock), or it is already ours (a renewal).
 */
export function mayAcquire(observed: Observation, identity: string, nowMs: number): boolean {
  const holder = observed.record.holderIdentity;
  return holder === '' || holder === identity || !isLeaseValid(observed, nowMs);
}

/**
 * The record `identity` writes to acquire or renew: a renewal keeps the
 * acquire time and the transition count; taking the lease from someone else
 * (or from nobody) counts one more transition. `current` undefined: the Lease
 * does not exist yet and is created with 0 transitions.
 */
export function claim(current: LeaseRecord | undefined, identity: string, leaseDurationMs: number, now: Date): LeaseRecord {
  const at = microTime(now);
  const leaseDurationSeconds = Math.floor(leaseDurationMs / 1000);
  if (!current) return { holderIdentity: identity, leaseDurationSeconds, acquireTime: at, renewTime: at, leaseTransitions: 0 };
  if (current.holderIdentity === identity) {
    return { holderIdentity: identity, leaseDurationSeconds, acquireTime: current.acquireTime || at, renewTime: at, leaseTransitions: current.leaseTransitions };
  }
  return { holderIdentity: identity, leaseDurationSeconds, acquireTime: at, renewTime: at, leaseTransitions: current.leaseTransitions + 1 };
}

/**
 * client-go's release (ReleaseOnCancel): no holder, a one-second duration and
 * times of now, so that a candidate takes it at its next try.
 */
export function released(current: LeaseRecord, now: Date): LeaseRecord {
  const at = microTime(now);
  return { holderIdentity: '', leaseDurationSeconds: 1, acquireTime: at, renewTime: at, leaseTransitions: current.leaseTransitions };
}

/**
 * The leader's renewal deadline: leadership is kept only while some renewal
 * that STARTED less than renewDeadline ago succeeded. Counting from the start
 * of the request (not its answer) keeps the leader's view on the safe side of
 * every other candidate's, which starts counting when it reads the write.
 */
export function renewalExpired(lastRenewStartMs: number, nowMs: number, renewDeadlineMs: number): boolean {
  return nowMs - lastRenewStartMs >= renewDeadlineMs;
}

/** The acquire loop's wait: RetryPeriod plus up to JITTER_FACTOR of it (wait.Jitter). */
export function jittered(retryPeriodMs: number, random: number = Math.random()): number {
  return Math.round(retryPeriodMs * (1 + random * JITTER_FACTOR));
}

/** client-go's checks of a LeaderElectionConfig; a message per broken rule. */
export function checkDurations(leaseDurationMs: number, renewDeadlineMs: number, retryPeriodMs: number): string[] {
  const problems: string[] = [];
  if (leaseDurationMs < 1000 || leaseDurationMs % 1000 !== 0) {
    problems.push('--lease-duration must be a whole number of seconds (a Lease stores seconds)');
  }
  if (leaseDurationMs <= renewDeadlineMs) problems.push('--lease-duration must be greater than --renew-deadline');
  if (renewDeadlineMs <= JITTER_FACTOR * retryPeriodMs) problems.push(`--renew-deadline must be greater than ${JITTER_FACTOR} x --retry-period`);
  return problems;
}
