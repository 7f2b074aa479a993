// Two operators as real processes under --leader-elect against one Lease:
// exactly one delivers; SIGKILL of the leader hands over within the lease
// duration; SIGTERM finishes the raises in flight, releases the Lease and
// hands over at once. Times are the ones the operators wrote (the Lease's
// renewTime and acquireTime, their log lines' timestamps) and the order in
// which a watch saw the Lease change, not the test's stopwatch.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CoordinationV1Api, RbacAuthorizationV1Api, type V1Lease } from '@kubernetes/client-node';
import type { EventRaise } from '../../src/api/types.js';
import { LogMessage } from '../../src/log-messages.js';
import { newNamespace, testCluster } from '../support/cluster.js';
import { createSubscriber, listRaises, raiseNamed, TERMINAL, waitFor, waitForReady } from '../support/objects.js';
import { grantLeaseRbac, spawnOperator, type OperatorProcess } from '../support/operator.js';
import { countByRaise } from '../support/raise-names.js';
import { XMLRPC_OK, startRawPeer, type RawPeer } from '../support/tcp-peers.js';
import { recordWatch, type Change } from '../support/watch-recorder.js';

const LEASE = 'event-xmlrpc-operator';
const EVENT = 'E_LEADER';
const FAST = ['--lease-duration=3s', '--renew-deadline=2s', '--retry-period=500ms'];
/** For the takeover: a follower that looks more often finds an expired Lease sooner after it ran out. */
const FAST_TAKEOVER = ['--lease-duration=3s', '--renew-deadline=2s', '--retry-period=250ms'];

interface Candidate {
  /** POD_NAME, the prefix of its holder identity. */
  pod: string;
  process: OperatorProcess;
}

async function readLease(namespace: string): Promise<V1Lease | undefined> {
  try {
    return await testCluster().admin.makeApiClient(CoordinationV1Api).readNamespacedLease({ namespace, name: LEASE });
  } catch (err) {
    if ((err as { code?: number }).code === 404) return undefined;
    throw err;
  }
}

const holderOf = (lease: V1Lease | undefined) => lease?.spec?.holderIdentity ?? '';

/** A Lease as a watch delivers it: plain JSON, its MicroTimes as strings. */
interface LeaseJson {
  metadata?: { name?: string; resourceVersion?: string };
  spec?: { holderIdentity?: string; leaseDurationSeconds?: number; acquireTime?: string; renewTime?: string; leaseTransitions?: number };
}

/** Every write of the namespace's Lease from now on (the current one first), in order. */
const recordLease = (namespace: string) => recordWatch<LeaseJson>(`/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`);

/** Who a recorded Lease names: the candidate's POD_NAME, or "(released)". */
const who = (change: Change<LeaseJson>) => change.object.spec?.holderIdentity?.split('_')[0] || '(released)';

/** The recorded writes up to the first one naming `pod`. */
function untilHeldBy(recorder: Awaited<ReturnType<typeof recordLease>>, pod: string): Promise<Change<LeaseJson>[]> {
  return recorder.until((changes) => {
    const i = changes.findIndex((c) => who(c) === pod);
    return i < 0 ? undefined : changes.slice(0, i + 1);
  }, `Lease held by ${pod}`, 15_000);
}

/** One line per recorded write, for failure messages. */
const describeWrites = (changes: Change<LeaseJson>[]) => changes.map((c) => `${c.type} ${JSON.stringify(c.object.spec)}`).join('\n');

/** The timestamp the operator wrote on its first log line with this message. */
function loggedAt(candidate: Candidate, message: LogMessage): number {
  for (const line of candidate.process.lines) {
    let entry: { message?: string; timestamp?: string };
    try {
      entry = JSON.parse(line) as typeof entry;
    } catch {
      continue; // its one line on stderr is plain text
    }
    if (entry.message === message) return Date.parse(entry.timestamp!);
  }
  assert.fail(`${candidate.pod} did not log ${message}`);
}

/** Two operators watching `namespace`, electing a leader with a Lease there. */
async function startPair(namespace: string, durations: string[]): Promise<Candidate[]> {
  await grantLeaseRbac(namespace);
  // debug: the log says which process finished each raise.
  const args = ['--namespace', namespace, '--sync-mode', '--leader-elect', `--leader-election-namespace=${namespace}`, '--log-level=debug', ...durations];
  const candidates = await Promise.all(
    ['op-a', 'op-b'].map(async (pod) => ({ pod, process: await spawnOperator(args, { POD_NAME: pod }) })),
  );
  await Promise.all(candidates.map((c) => c.process.started));
  return candidates;
}

/** One operator under leader election in `namespace`. */
async function startOne(namespace: string): Promise<Candidate> {
  await grantLeaseRbac(namespace);
  const args = ['--namespace', namespace, '--leader-elect', `--leader-election-namespace=${namespace}`, ...FAST];
  const candidate = { pod: 'op-solo', process: await spawnOperator(args, { POD_NAME: 'op-solo' }) };
  await candidate.process.started;
  await waitFor(() => readLease(namespace), (l) => (holderOf(l).startsWith('op-solo_') ? l : undefined));
  return candidate;
}

async function exitOf(candidate: Candidate, timeoutMs: number): Promise<number | null> {
  const { child } = candidate.process;
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`still running after ${timeoutMs}ms`)), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

/** The candidate named in the Lease, once one is, and the other one. */
async function leaderOf(namespace: string, candidates: Candidate[]): Promise<{ leader: Candidate; follower: Candidate; lease: V1Lease }> {
  const lease = await waitFor(() => readLease(namespace), (l) => (holderOf(l) ? l : undefined));
  const leader = candidates.find((c) => holderOf(lease).startsWith(`${c.pod}_`));
  assert.ok(leader, `the holder ${holderOf(lease)} is one of the candidates`);
  return { leader, follower: candidates.find((c) => c !== leader)!, lease };
}

/** Runs the test body; on failure, its processes' last log lines go with the error. */
async function withPair<T>(candidates: Candidate[], peer: RawPeer, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (err) {
    const logs = candidates.map((c) => `--- ${c.pod} (exit ${c.process.child.exitCode ?? c.process.child.signalCode ?? 'running'}):\n${c.process.lines.slice(-25).join('\n')}`);
    (err as Error).message += `\n${logs.join('\n')}`;
    throw err;
  } finally {
    await Promise.all(candidates.map((c) => c.process.kill('SIGKILL')));
    await peer.close();
  }
}

const createRaise = (namespace: string, name: string) => raiseNamed(namespace, name, { event: EVENT });
const names = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${String(i).padStart(3, '0')}`);
const isTerminal = (r: EventRaise) => TERMINAL.has(r.status?.phase ?? '');

function allTerminal(namespace: string, count: number, timeoutMs = 20_000): Promise<EventRaise[]> {
  return waitFor(() => listRaises(namespace), (raises) => (raises.length === count && raises.every(isTerminal) ? raises : undefined), timeoutMs);
}

/** The raises this process logged as finished (it wrote their terminal status). */
function finishedBy(candidate: Candidate): Set<string> {
  const finished = new Set<string>();
  for (const line of candidate.process.lines) {
    if (!line.includes('"raise finished"')) continue;
    finished.add((JSON.parse(line) as { name: string }).name);
  }
  return finished;
}

/**
 * Waits until the process's log satisfies `check`: a line can reach us after
 * the API shows its effect (and after the process's exit event).
 */
function logged(candidate: Candidate, check: (lines: string[]) => boolean, what: string): Promise<void> {
  return waitFor(async () => check(candidate.process.lines), (ok) => (ok ? true : undefined), 5_000).then(
    () => undefined,
    () => assert.fail(`${candidate.pod} did not log ${what}`),
  );
}

/** Some line matches every pattern (JSON log fields come in any order). */
const hasLine = (...patterns: RegExp[]) => (lines: string[]) => lines.some((l) => patterns.every((p) => p.test(l)));

/** Waits until the raises `candidate` logged as finished are exactly `expected`. */
async function finishedExactly(candidate: Candidate, expected: string[], what: string): Promise<void> {
  const same = () => JSON.stringify([...finishedBy(candidate)].sort()) === JSON.stringify([...expected].sort());
  await logged(candidate, same, what).catch(() => assert.deepEqual([...finishedBy(candidate)].sort(), [...expected].sort(), what));
}

async function leaderGauge(candidate: Candidate): Promise<string | undefined> {
  const started = candidate.process.lines.find((l) => l.includes('"operator started"'));
  const port = (JSON.parse(started!) as { httpPort: number }).httpPort;
  const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return /^event_xmlrpc_leader (\S+)$/m.exec(metrics)?.[1];
}

const ms = (since: number) => Math.round(performance.now() - since);

describe('leader election between two operator processes', () => {
  it('exactly one leads, and only it delivers: every raise exactly once', { timeout: 60_000 }, async (t) => {
    const namespace = await newNamespace('leader-one');
    const peer = await startRawPeer(() => XMLRPC_OK, { delayMs: 20 });
    const started = performance.now();
    const candidates = await startPair(namespace, FAST);
    await withPair(candidates, peer, async () => {
      const { leader, follower, lease } = await leaderOf(namespace, candidates);
      t.diagnostic(`${holderOf(lease)} leads, ${ms(started)}ms after the processes were spawned`);
      assert.equal(lease.spec?.leaseDurationSeconds, 3);
      assert.match(String(lease.spec?.renewTime), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/, 'renewTime is a MicroTime');
      assert.match(holderOf(lease), /^op-[ab]_[0-9a-f-]{36}$/, 'POD_NAME and a random part');

      await createSubscriber(namespace, 'sub', { event: EVENT, socket: `xmlrpc:127.0.0.1:${peer.port}:notify` });
      await waitForReady(namespace, 'sub');
      const raises = names('once', 30);
      for (const name of raises) await createRaise(namespace, name);
      const final = await allTerminal(namespace, raises.length);

      assert.deepEqual(final.map((r) => r.status?.phase), raises.map(() => 'Delivered'));
      const counts = countByRaise(peer.requests);
      const attempts = final.map((r) => `${r.metadata.name}: ${r.status?.deliveries?.map((d) => `${d.attempts} attempt(s)${d.error ? `, ${d.error}` : ''}`).join('; ')}`);
      assert.deepEqual(raises.map((n) => [n, counts.get(n)]), raises.map((n) => [n, 1]), `each raise reached the peer exactly once; recorded: ${attempts.join(' | ')}`);
      assert.equal(peer.requests.length, raises.length);
      await finishedExactly(leader, raises, 'the leader wrote every terminal status');
      assert.deepEqual([...finishedBy(follower)], [], 'the follower wrote none');

      // No flapping during the stream, the standby is ready (warm caches) and says it does not lead.
      const after = await readLease(namespace);
      assert.equal(holderOf(after), holderOf(lease));
      assert.equal(after?.spec?.leaseTransitions, lease.spec?.leaseTransitions);
      assert.deepEqual(await Promise.all([leaderGauge(leader), leaderGauge(follower)]), ['1', '0']);
      await logged(leader, hasLine(/"leader election: acquired"/), 'leader election: acquired');
      assert.ok(!follower.process.lines.some((l) => l.includes('"leader election: acquired"')));
    });
  });

  it('SIGKILL of the leader mid-stream: the other takes over within the lease duration, no raise lost', { timeout: 60_000 }, async (t) => {
    const namespace = await newNamespace('leader-kill');
    const peer = await startRawPeer(() => XMLRPC_OK, { delayMs: 50 });
    const candidates = await startPair(namespace, FAST_TAKEOVER);
    await withPair(candidates, peer, async () => {
      const { leader, follower, lease } = await leaderOf(namespace, candidates);
      await createSubscriber(namespace, 'sub', { event: EVENT, socket: `xmlrpc:127.0.0.1:${peer.port}:notify` });
      await waitForReady(namespace, 'sub');
      const writes = await recordLease(namespace);
      try {
        const raises = names('kill', 40);
        for (const name of raises.slice(0, 15)) await createRaise(namespace, name);
        await waitFor(() => listRaises(namespace), (rs) => (rs.filter(isTerminal).length >= 3 ? true : undefined));
        await leader.process.kill('SIGKILL');
        const atKill = await listRaises(namespace);
        const terminalAtKill = atKill.filter(isTerminal).map((r) => r.metadata.name!);
        const countsAtKill = countByRaise(peer.requests);
        assert.ok(terminalAtKill.length < raises.length, 'the kill landed mid-stream');

        const changes = await untilHeldBy(writes, follower.pod);
        const taken = changes.at(-1)!;
        const last = changes.at(-2);
        assert.ok(last && who(last) === leader.pod, `the Lease went from ${leader.pod} straight to ${follower.pod}:\n${describeWrites(changes)}`);
        const renewedAt = Date.parse(last.object.spec!.renewTime!);
        const leaseMs = last.object.spec!.leaseDurationSeconds! * 1000;
        const acquiredAt = Date.parse(taken.object.spec!.acquireTime!);
        // Safe: the follower counts the lease duration from when it SAW the last renewal, which was written
        // at renewTime or later; so the watch cannot have its write before renewTime + leaseDuration.
        assert.ok(taken.at >= renewedAt + leaseMs, `the follower's write arrived ${taken.at - renewedAt}ms after the last renewal (lease ${leaseMs}ms)`);
        // Prompt: the follower, trying every retry period, took it within one more lease duration.
        assert.ok(
          acquiredAt - renewedAt < 2 * leaseMs,
          `acquireTime ${acquiredAt - renewedAt}ms after the old holder's last renewTime (lease ${leaseMs}ms):\n${describeWrites(changes)}`,
        );
        assert.equal(taken.object.spec?.leaseTransitions, (lease.spec?.leaseTransitions ?? 0) + 1, 'a change of holder is one more transition');

        for (const name of raises.slice(15)) await createRaise(namespace, name);
        const final = await allTerminal(namespace, raises.length);
        assert.deepEqual(final.map((r) => r.status?.phase), raises.map(() => 'Delivered'));

        const counts = countByRaise(peer.requests);
        for (const name of raises) assert.ok((counts.get(name) ?? 0) >= 1, `${name} reached the peer`);
        for (const name of terminalAtKill) assert.equal(counts.get(name), countsAtKill.get(name), `${name} was terminal at the kill: not delivered again`);
        const duplicates = [...counts.entries()].filter(([, n]) => n > 1).map(([name, n]) => `${name} x${n}`);
        t.diagnostic(
          `acquireTime ${acquiredAt - renewedAt}ms after the killed leader's last renewTime (lease 3s); ` +
            `${terminalAtKill.length} of ${raises.length} raises terminal at the kill; ` +
            `${duplicates.length} delivered twice or more${duplicates.length ? `: ${duplicates.join(', ')}` : ''}`,
        );
      } finally {
        writes.stop();
      }
    });
  });

  it('SIGTERM of the leader with raises in flight: they finish and are recorded by it, it exits 0, the Lease is released and taken at once', { timeout: 60_000 }, async (t) => {
    const namespace = await newNamespace('leader-term');
    const peer = await startRawPeer(() => XMLRPC_OK, { delayMs: 1_000 });
    // A long lease: a handover much faster than 10s can only come from the release.
    const candidates = await startPair(namespace, ['--lease-duration=10s', '--renew-deadline=6s', '--retry-period=500ms']);
    await withPair(candidates, peer, async () => {
      const { leader, follower } = await leaderOf(namespace, candidates);
      await createSubscriber(namespace, 'sub', { event: EVENT, socket: `xmlrpc:127.0.0.1:${peer.port}:notify` });
      await waitForReady(namespace, 'sub');

      const inFlight = names('flight', 5);
      for (const name of inFlight) await createRaise(namespace, name);
      await peer.waitFor(inFlight.length); // every request is at the peer, which answers 1s later

      const writes = await recordLease(namespace);
      const termAt = performance.now();
      const exited = leader.process.kill('SIGTERM');
      await waitFor(async () => leader.process.lines.some((l) => l.includes('"stopping"')), (stopping) => stopping || undefined, 5_000);
      // Raised after the leader began to stop: it must leave them to the next leader.
      const later = names('later', 3);
      for (const name of later) await createRaise(namespace, name);

      assert.equal(await exited, 0, `exit code; its log:\n${leader.process.lines.slice(-15).join('\n')}`);
      const exitMs = ms(termAt);
      const atExit = await listRaises(namespace);
      const leaseAtExit = await readLease(namespace);

      const phase = (name: string) => atExit.find((r) => r.metadata.name === name)?.status?.phase;
      assert.deepEqual(inFlight.map(phase), inFlight.map(() => 'Delivered'), 'the raises in flight were finished and recorded before the exit');
      await finishedExactly(leader, inFlight, 'by the old leader, and only those');
      await logged(leader, hasLine(/"leader election: released"/), 'leader election: released');
      const holderAtExit = holderOf(leaseAtExit);
      assert.ok(
        (holderAtExit === '' && leaseAtExit?.spec?.leaseDurationSeconds === 1) || holderAtExit.startsWith(`${follower.pod}_`),
        `released at exit: ${JSON.stringify(leaseAtExit?.spec)}`,
      );

      const changes = await untilHeldBy(writes, follower.pod);
      writes.stop();
      const holders = changes.map(who).filter((holder, i, all) => holder !== all[i - 1]);
      assert.deepEqual(holders, [leader.pod, '(released)', follower.pod], `released, then taken:\n${describeWrites(changes)}`);
      const lastRenewal = changes.findLast((c) => who(c) === leader.pod)!.object.spec!;
      const release = changes.findLast((c) => who(c) === '(released)')!.object.spec!;
      const acquiredAt = Date.parse(changes.at(-1)!.object.spec!.acquireTime!);
      const runsOutAt = Date.parse(lastRenewal.renewTime!) + lastRenewal.leaseDurationSeconds! * 1000;
      assert.equal(release.leaseDurationSeconds, 1);
      assert.ok(acquiredAt < runsOutAt, `taken ${runsOutAt - acquiredAt}ms before the old leader's lease (10s) would have run out: thanks to the release`);
      const handoverMs = acquiredAt - Date.parse(release.renewTime!);

      const final = await allTerminal(namespace, inFlight.length + later.length);
      assert.deepEqual(final.map((r) => r.status?.phase), [...inFlight, ...later].map(() => 'Delivered'));
      const counts = countByRaise(peer.requests);
      for (const name of [...inFlight, ...later]) assert.equal(counts.get(name), 1, `${name} delivered exactly once`);
      await finishedExactly(follower, later, 'the new leader delivered the raises the old one left');
      t.diagnostic(`SIGTERM to exit 0: ${exitMs}ms (5 raises in flight to a 1s peer); Lease acquired ${handoverMs}ms after its release (lease 10s)`);
    });
  });

  it('a leader whose Lease was taken over (409 on renewal, then another holder read) exits 1 at once', { timeout: 30_000 }, async (t) => {
    const namespace = await newNamespace('leader-stolen');
    const peer = await startRawPeer(() => XMLRPC_OK);
    const solo = await startOne(namespace);
    await withPair([solo], peer, async () => {
      const coordination = testCluster().admin.makeApiClient(CoordinationV1Api);
      // The leader renews every 0.5s: a write on top of an older resourceVersion is refused (409), so read again.
      const stolen = await waitFor(
        async () => {
          const lease = (await readLease(namespace))!;
          const spec = { ...lease.spec, holderIdentity: 'intruder', renewTime: new Date().toISOString().replace('Z', '000Z') as never };
          try {
            return await coordination.replaceNamespacedLease({ namespace, name: LEASE, body: { ...lease, spec } });
          } catch (err) {
            if ((err as { code?: number }).code === 409) return undefined;
            throw err;
          }
        },
        (lease) => lease,
        5_000,
      );
      const stolenAt = performance.now();
      assert.equal(await exitOf(solo, 5_000), 1);
      const exitMs = ms(stolenAt);
      // At its next renewal it found the Lease in another name and stopped (the reason says so: not the renew
      // deadline), and it wrote nothing over the intruder's Lease.
      await logged(solo, hasLine(/"leader election: lost"/, /held by intruder/), 'leader election: lost, held by intruder');
      await logged(solo, hasLine(/lost the leader election.*exiting/), 'its one line on stderr');
      assert.ok(!solo.process.lines.some((l) => /"leader election: lost"/.test(l) && /renew deadline/.test(l)), 'not lost to the renew deadline');
      const final = await readLease(namespace);
      assert.equal(final?.metadata?.resourceVersion, stolen.metadata?.resourceVersion, `the intruder's write is the last: ${JSON.stringify(final?.spec)}`);
      t.diagnostic(`exit 1 ${exitMs}ms after the Lease was written in another name`);
    });
  });

  it('a leader that cannot renew (its Lease rights revoked) exits 1 within the renew deadline', { timeout: 30_000 }, async (t) => {
    const namespace = await newNamespace('leader-revoked');
    const peer = await startRawPeer(() => XMLRPC_OK);
    const solo = await startOne(namespace);
    await withPair([solo], peer, async () => {
      const rbac = testCluster().admin.makeApiClient(RbacAuthorizationV1Api);
      const revokedAt = performance.now();
      await rbac.deleteNamespacedRoleBinding({ namespace, name: 'event-xmlrpc-operator-leader-election' });
      assert.equal(await exitOf(solo, 10_000), 1);
      const exitMs = ms(revokedAt);
      // Renewals are refused (403) once RBAC drops the binding; the leader gives up when the renew deadline
      // (2s) has passed since its last good renewal started (the reason says so), which is why it stops
      // before that renewal's lease (3s) runs out and another candidate could take it: an order of the
      // operator's own times, its last renewTime and the timestamp of its log line.
      await logged(solo, hasLine(/"leader election: lost"/, /renew deadline/), 'leader election: lost, renew deadline');
      const lostAt = loggedAt(solo, LogMessage.leaderLost);
      const last = (await readLease(namespace))!.spec!;
      const renewedAt = Date.parse(String(last.renewTime));
      const runsOutAt = renewedAt + last.leaseDurationSeconds! * 1000;
      assert.ok(lostAt < runsOutAt, `stopped leading ${lostAt - renewedAt}ms after its last renewTime, lease ${last.leaseDurationSeconds}s`);
      t.diagnostic(`stopped leading ${lostAt - renewedAt}ms after its last renewal (renew deadline 2s, lease 3s); exit 1 ${exitMs}ms after the RoleBinding was deleted`);
    });
  });
});
