// One stuck subscriber must not delay the others: a healthy subscriber of the
// same event gets every sync raise while a black hole still holds each request
// meant for the stuck one (an order, whatever the machine's load), and the
// stuck subscriber holds at most --max-per-subscriber sockets. Real sockets,
// no mocks.
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import type { EventRaise } from '../../src/api/types.js';
import { parseCommandLine } from '../../src/config.js';
import type { Operator } from '../../src/operator.js';
import { newNamespace } from '../support/cluster.js';
import { createSubscriber, listRaises, raiseNamed, TERMINAL, waitFor, waitForReady } from '../support/objects.js';
import { startOperator } from '../support/operator.js';
import { startSynBlackhole } from '../support/python-peers.js';
import { raiseNameOf } from '../support/raise-names.js';
import { startCountingBlackhole, startRawPeer, startStampingPeer as startHealthyPeer, type RawPeer } from '../support/tcp-peers.js';

const RAISES = 10;
/** Connect and response timeout: the black hole's requests stay pending for the whole test. */
const STUCK_TIMEOUT = '30s';
/** How long the healthy peer may take to get every raise: generous, and still before the first STUCK_TIMEOUT ends. */
const HEALTHY_WAIT_MS = 25_000;

/** Resolves 'hangs' if a plain connect neither completes nor fails within `ms`. */
function plainConnect(port: number, ms: number): Promise<'hangs' | 'connected' | string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const timer = setTimeout(() => finish('hangs'), ms);
    function finish(result: string) {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    }
    socket.once('connect', () => finish('connected'));
    socket.once('error', (err: NodeJS.ErrnoException) => finish(err.code ?? err.message));
  });
}

/**
 * Subscribers "healthy" and "stuck" of one event, RAISES sync raises created
 * one after the other; returns each raise's creation time (taken just before
 * the create call).
 */
async function raiseToBoth(namespace: string, healthyPort: number, stuckPort: number): Promise<Map<string, number>> {
  await createSubscriber(namespace, 'healthy', { event: 'E_ISOLATION', socket: `xmlrpc:127.0.0.1:${healthyPort}:m` });
  await createSubscriber(namespace, 'stuck', { event: 'E_ISOLATION', socket: `xmlrpc:127.0.0.1:${stuckPort}:m` });
  await Promise.all([waitForReady(namespace, 'healthy'), waitForReady(namespace, 'stuck')]);
  const created = new Map<string, number>();
  for (let i = 0; i < RAISES; i++) {
    const name = `r-${String(i).padStart(2, '0')}`;
    created.set(name, Date.now());
    await raiseNamed(namespace, name, { event: 'E_ISOLATION', syncMode: true });
  }
  return created;
}

/**
 * The proof of isolation is an order, not a speed. The stuck subscriber holds
 * each request for STUCK_TIMEOUT, so a delivery to the healthy one that waited
 * on a stuck one could only arrive once the stuck side ended something. Waits
 * for every raise at the healthy peer; then the stuck peer must have seen
 * none of its connections end (`stuckEnded`, where the peer can tell), and
 * the raises' status must record a healthy result and no stuck one.
 */
async function assertHealthyGotAllFirst(
  t: { diagnostic(msg: string): void },
  namespace: string,
  created: Map<string, number>,
  healthy: { peer: RawPeer; arrivals: Map<string, number> },
  stuckEnded?: () => number,
): Promise<void> {
  await healthy.peer.waitFor(RAISES, HEALTHY_WAIT_MS);
  if (stuckEnded) assert.equal(stuckEnded(), 0, 'no connection to the stuck subscriber had ended when the healthy one had every raise');
  // A sync raise records the healthy result in a progress write while it waits for the stuck one.
  const raises = await waitFor(
    () => listRaises(namespace),
    (items) => (items.length === RAISES && items.every((r) => TERMINAL.has(r.status?.phase ?? '') || resultOf(r, 'healthy')) ? items : undefined),
    15_000,
  );
  const stuckEndedFirst = raises.filter((r) => TERMINAL.has(r.status?.phase ?? '') || resultOf(r, 'stuck'));
  assert.deepEqual(
    stuckEndedFirst.map((r) => [r.metadata.name, r.status]),
    [],
    'every raise reached the healthy subscriber while its delivery to the stuck one was still pending',
  );
  assert.deepEqual(
    raises.map((r) => [r.metadata.name, resultOf(r, 'healthy')?.outcome]),
    raises.map((r) => [r.metadata.name, 'Delivered']),
  );
  const ms = [...created].map(([name, at]) => healthy.arrivals.get(name)! - at);
  t.diagnostic(`healthy subscriber: creation-to-arrival latency min ${Math.min(...ms)} ms, max ${Math.max(...ms)} ms over ${RAISES} raises`);
}

const resultOf = (raise: EventRaise, subscriber: string) => raise.status?.deliveries?.find((d) => d.subscriber === subscriber);

// A graceful stop waits (up to --shutdown-grace, where the operator has it) for the
// raises in flight, and the black hole's never finish: the tests end without that wait.
const noGrace = parseCommandLine(['--shutdown-grace=100ms'], {}, 'test').kind === 'run' ? ['--shutdown-grace=100ms'] : [];
const stuckFlags = ['--sync-mode', `--connect-timeout=${STUCK_TIMEOUT}`, `--response-timeout=${STUCK_TIMEOUT}`, ...noGrace];

describe('fault isolation between subscribers', () => {
  it('a subscriber that accepts and never answers does not delay the healthy one', async (t) => {
    const namespace = await newNamespace('faults-silent');
    const healthy = await startHealthyPeer();
    const stuck = await startRawPeer(() => null);
    let operator: Operator | undefined;
    try {
      operator = await startOperator(namespace, stuckFlags);
      const created = await raiseToBoth(namespace, healthy.peer.port, stuck.port);
      await assertHealthyGotAllFirst(t, namespace, created, healthy, () => stuck.accepted - stuck.open);
      // The stuck subscriber has every request and answers none: they are all still pending.
      await stuck.waitFor(RAISES, 5_000);
      assert.equal(stuck.requests.length, RAISES);
      assert.equal(stuck.open, RAISES, 'every connection to the stuck subscriber is still open');
    } finally {
      await operator?.stop();
      await healthy.peer.close();
      await stuck.close();
    }
  });

  it('a subscriber whose SYNs are dropped (full accept queue) does not delay the healthy one', async (t) => {
    const namespace = await newNamespace('faults-syn');
    const healthy = await startHealthyPeer();
    const blackhole = await startSynBlackhole();
    let operator: Operator | undefined;
    try {
      // The fault is real: a plain connect neither completes nor is refused (1.5 s covers the first SYN retransmit).
      assert.equal(await plainConnect(blackhole.port, 1_500), 'hangs', `connect to the black hole (accept queue filled with ${blackhole.filled})`);
      operator = await startOperator(namespace, stuckFlags);
      const created = await raiseToBoth(namespace, healthy.peer.port, blackhole.port);
      // The black hole sees nothing of a connect: the raises' status tells whether one ended.
      await assertHealthyGotAllFirst(t, namespace, created, healthy);
    } finally {
      await operator?.stop();
      await healthy.peer.close();
      await blackhole.close();
    }
  });

  it('--max-per-subscriber=3: a stuck subscriber holds at most 3 sockets, the healthy one gets all raises', async (t) => {
    const namespace = await newNamespace('faults-cap');
    const healthy = await startHealthyPeer();
    const stuck = await startCountingBlackhole();
    let operator: Operator | undefined;
    try {
      operator = await startOperator(namespace, [...stuckFlags, '--max-per-subscriber=3']);
      const created = await raiseToBoth(namespace, healthy.peer.port, stuck.port);
      await assertHealthyGotAllFirst(t, namespace, created, healthy, () => stuck.accepted() - stuck.open());
      // Once every raise recorded its healthy result (a progress write, >= 1 s after the start), the
      // stuck subscriber has had all the time it needs to receive more than 3 connections if the cap leaked.
      await waitFor(async () => stuck.open(), (open) => (open === 3 ? true : undefined), 5_000);
      assert.equal(stuck.maxOpen(), 3, 'never more than 3 connections open at once at the stuck subscriber');
      assert.equal(stuck.accepted(), 3, 'the other 7 requests wait for a slot');
      t.diagnostic(`stuck subscriber: ${stuck.accepted()} connections accepted, at most ${stuck.maxOpen()} open at once`);
    } finally {
      await operator?.stop();
      await healthy.peer.close();
      await stuck.close();
    }
  });
});
