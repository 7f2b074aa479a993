import { randomUUID } from 'node:crypto';
import os from 'node:os';
import {
  CoordinationV1Api,
  Observable,
  type KubeConfig,
  type ObservableMiddleware,
  type RequestContext,
  type ResponseContext,
  type V1Lease,
  type V1MicroTime,
} from '@kubernetes/client-node';
import type { Logger } from 'winston';
import {
  claim,
  isLeaseValid,
  jittered,
  mayAcquire,
  observe,
  recordOf,
  released,
  renewalExpired,
  type LeaseRecord,
  type Observation,
} from '../core/lease.js';
import { errorText, statusCode } from './errors.js';
import { Pause } from '../pause.js';
import { LogMessage } from '../log-messages.js';

/** The pod's name (POD_NAME, from the downward API) or the host name, plus a random part: two processes never share one. */
export function leaderIdentity(env: NodeJS.ProcessEnv = process.env): string {
  return `${env.POD_NAME || os.hostname()}_${randomUUID()}`;
}

export interface LeaderElectionOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  /** The Lease's name. */
  name: string;
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  log: Logger;
  /** Wall clock for the times written into the Lease; expiry uses the monotonic clock. */
  now?: () => Date;
}

export interface LeaderCallbacks {
  onStartedLeading(): void;
  /** Leadership lost without stop(): the caller must stop working at once. Not called after stop(). */
  onStoppedLeading(reason: string): void;
}

/**
 * client-go's LeaseLock leader election: try to acquire the Lease every
 * RetryPeriod (jittered); once leader, renew it every RetryPeriod; a renewal
 * that does not succeed within RenewDeadline, or a Lease found in someone
 * else's name, ends the leadership. stopAndRelease() hands the Lease back
 * (ReleaseOnCancel). The decisions are in core/lease.ts; this is the I/O.
 */
export class LeaderElector {
  private readonly api: CoordinationV1Api;
  private readonly now: () => Date;
  private observed: Observation | undefined;
  /** The Lease as last read or written: its resourceVersion guards our next update. */
  private lease: V1Lease | undefined;
  private leading = false;
  private stopped = false;
  private loop: Promise<void> | undefined;
  private readonly pause = new Pause();
  private lastSeenHolder: string | undefined;

  constructor(private readonly options: LeaderElectionOptions) {
    this.api = options.kubeConfig.makeApiClient(CoordinationV1Api);
    this.now = options.now ?? (() => new Date());
  }

  get identity(): string {
    return this.options.identity;
  }

  /** namespace/name of the Lease. */
  get lock(): string {
    return `${this.options.namespace}/${this.options.name}`;
  }

  get isLeader(): boolean {
    return this.leading;
  }

  start(callbacks: LeaderCallbacks): void {
    this.loop ??= this.run(callbacks).catch((err: unknown) => {
      // Nothing in run() is meant to throw; if it does, do not keep leading unsupervised.
      this.options.log.error('leader election: failed', { error: errorText(err) });
      if (this.leading && !this.stopped) {
        this.leading = false;
        callbacks.onStoppedLeading(`leader election failed: ${errorText(err)}`);
      }
    });
  }

  /** Stops trying and renewing; if we hold the Lease, releases it. Never calls onStoppedLeading. */
  async stopAndRelease(): Promise<void> {
    this.stopped = true;
    this.pause.cancel();
    await this.loop;
    if (!this.leading) return;
    this.leading = false;
    const { log } = this.options;
    try {
      await this.release();
      log.info(LogMessage.leaderReleased, { identity: this.identity, lease: this.lock });
    } catch (err) {
      log.warn('leader election: could not release the lease; it expires on its own', {
        identity: this.identity,
        lease: this.lock,
        error: errorText(err),
      });
    }
  }

  private async run(callbacks: LeaderCallbacks): Promise<void> {
    const { log, retryPeriodMs, renewDeadlineMs } = this.options;
    log.info('leader election: trying to acquire the lease', { identity: this.identity, lease: this.lock });
    let renewedAt: number;
    for (;;) {
      if (this.stopped) return;
      const startedAt = performance.now();
      if (await this.tryAcquireOrRenew(renewDeadlineMs)) {
        renewedAt = startedAt;
        break;
      }
      await this.pause.sleep(jittered(retryPeriodMs));
    }
    this.leading = true;
    if (this.stopped) return; // stopAndRelease() hands it back
    callbacks.onStartedLeading();

    while (!this.stopped) {
      await this.pause.sleep(retryPeriodMs);
      // One renewal: tried every RetryPeriod until it succeeds or RenewDeadline has passed.
      for (;;) {
        if (this.stopped) return;
        const startedAt = performance.now();
        const remaining = renewedAt + renewDeadlineMs - startedAt;
        if (remaining > 0 && (await this.tryAcquireOrRenew(remaining))) {
          renewedAt = startedAt;
          break;
        }
        if (this.stopped) return;
        const holder = this.observed?.record.holderIdentity ?? '';
        const reason =
          holder !== '' && holder !== this.identity
            ? `the lease is held by ${holder}`
            : renewalExpired(renewedAt, performance.now(), renewDeadlineMs)
              ? `not renewed within the renew deadline (${renewDeadlineMs}ms)`
              : undefined;
        if (reason) {
          this.leading = false;
          callbacks.onStoppedLeading(reason);
          return;
        }
        await this.pause.sleep(Math.min(retryPeriodMs, renewedAt + renewDeadlineMs - performance.now()));
      }
    }
  }

  /** client-go's tryAcquireOrRenew: true when the Lease now names us, renewed just now. */
  private async tryAcquireOrRenew(timeoutMs: number): Promise<boolean> {
    const { identity, leaseDurationMs, namespace, name } = this.options;
    const signal = AbortSignal.timeout(Math.max(1, Math.round(timeoutMs)));
    const now = this.now();

    // 1. The leader's fast path: update on top of the Lease it wrote last, assuming nobody wrote since.
    if (this.leading && this.lease && this.observed && isLeaseValid(this.observed, performance.now())) {
      try {
        await this.write(claim(this.observed.record, identity, leaseDurationMs, now), signal);
        return true;
      } catch (err) {
        this.report('renewing the lease failed; reading it again', err);
        if (signal.aborted) return false;
      }
    }

    // 2. Read it, or create it.
    let lease: V1Lease;
    try {
      lease = await this.api.readNamespacedLease({ namespace, name }, withSignal(signal));
    } catch (err) {
      if (statusCode(err) !== 404) {
        this.report('cannot read the lease', err);
        return false;
      }
      const record = claim(undefined, identity, leaseDurationMs, now);
      try {
        const body: V1Lease = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { namespace, name }, spec: specOf(record) };
        this.remember(await this.api.createNamespacedLease({ namespace, body }, withSignal(signal)));
        return true;
      } catch (createErr) {
        this.report('cannot create the lease', createErr);
        return false;
      }
    }

    // 3. Someone holds it and it has not run out by our clock: not ours to take.
    this.lease = lease;
    const nowMs = performance.now();
    this.observed = observe(this.observed, recordOf(lease.spec), nowMs);
    this.noteHolder(this.observed.record.holderIdentity);
    if (!mayAcquire(this.observed, identity, nowMs)) return false;

    // 4. Write ourselves in on top of the resourceVersion just read: a 409 means someone else wrote first.
    try {
      await this.write(claim(this.observed.record, identity, leaseDurationMs, now), signal);
      return true;
    } catch (err) {
      this.report('cannot update the lease', err);
      return false;
    }
  }

  private async release(): Promise<void> {
    const signal = AbortSignal.timeout(this.options.renewDeadlineMs);
    for (let attempt = 0; ; attempt++) {
      if (!this.lease || this.observed?.record.holderIdentity !== this.identity) return;
      try {
        await this.write(released(this.observed.record, this.now()), signal);
        return;
      } catch (err) {
        // A renewal cut short by the stop may have moved the resourceVersion: read it once more.
        if (statusCode(err) !== 409 || attempt > 0) throw err;
        const { namespace, name } = this.options;
        this.lease = await this.api.readNamespacedLease({ namespace, name }, withSignal(signal));
        this.observed = observe(this.observed, recordOf(this.lease.spec), performance.now());
      }
    }
  }

  /** PUT with the resourceVersion of the Lease we hold in memory. */
  private async write(record: LeaseRecord, signal: AbortSignal): Promise<void> {
    const { namespace, name } = this.options;
    const body: V1Lease = { ...this.lease, spec: { ...this.lease?.spec, ...specOf(record) } };
    this.remember(await this.api.replaceNamespacedLease({ namespace, name, body }, withSignal(signal)));
  }

  /** Our own write: what the API server returned is what everyone else now sees, from now on. */
  private remember(lease: V1Lease): void {
    this.lease = lease;
    this.observed = { record: recordOf(lease.spec), atMs: performance.now() };
    this.noteHolder(this.observed.record.holderIdentity);
  }

  private noteHolder(holder: string): void {
    if (holder === this.lastSeenHolder) return;
    this.lastSeenHolder = holder;
    if (holder !== this.identity) {
      this.options.log.info('leader election: the lease is held by another', { identity: this.identity, lease: this.lock, holder: holder || '(nobody)' });
    }
  }

  private report(what: string, err: unknown): void {
    const code = statusCode(err);
    // A 409 is the optimistic concurrency doing its job: someone else wrote first.
    const level = code === 409 ? 'debug' : 'warn';
    this.options.log.log(level, `leader election: ${what}`, { identity: this.identity, lease: this.lock, error: errorText(err) });
  }
}

/** The LeaseSpec of a record; MicroTime fields go as their strings (client-node passes unknown types through). */
function specOf(record: LeaseRecord): NonNullable<V1Lease['spec']> {
  return {
    holderIdentity: record.holderIdentity,
    leaseDurationSeconds: record.leaseDurationSeconds,
    acquireTime: record.acquireTime as unknown as V1MicroTime,
    renewTime: record.renewTime as unknown as V1MicroTime,
    leaseTransitions: record.leaseTransitions,
  };
}

/** Per-call options that abort the request when `signal` fires. */
function withSignal(signal: AbortSignal) {
  const middleware: ObservableMiddleware = {
    pre: (context: RequestContext) => {
      context.setSignal(signal);
      return new Observable(Promise.resolve(context));
    },
    post: (response: ResponseContext) => new Observable(Promise.resolve(response)),
  };
  return { middleware: [middleware], middlewareMergeStrategy: 'append' as const };
}
