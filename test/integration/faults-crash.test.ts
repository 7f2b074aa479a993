// The operator's process SIGKILLed at random moments while raises pour in,
// and started again each time: every raise ends terminal, every subscriber
// gets every raise at least once, and no raise is delivered again once its
// terminal status was written. "Written" is observed twice: a snapshot of the
// terminal raises right after each kill (they must get no further delivery),
// and a watch on the EventRaises that stamps the moment each raise is first
// seen terminal (no request for it may reach a peer after that).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { CustomObjectsApi, Watch } from '@kubernetes/client-node';
import { GROUP, VERSION, type EventRaise } from '../../src/api/types.js';
import { newNamespace, testCluster } from '../support/cluster.js';
import { createSubscriber, listRaises, raiseNamed, TERMINAL, waitFor, waitForReady } from '../support/objects.js';
import { spawnOperator, type OperatorProcess } from '../support/operator.js';

const RAISES = 200;
const KILLS = 3;
/** Raises being created at once: as fast as the API allows. */
const CREATORS = 8;
/** A kill lands this long (random, ms) after the operator said it started. */
const KILL_DELAY_MS: [number, number] = [100, 1_000];
const SUBSCRIBERS = [
  { name: 'a', delayMs: 0 },
  { name: 'b', delayMs: 0 },
  { name: 'slow', delayMs: 25 },
];

interface Arrival {
  raise: string;
  subscriber: string;
  /** When the peer's kernel received the request's last byte (ms since the epoch; TCP_INFO, whatever the peer's scheduling). */
  receivedAt: number;
  /** When the peer's accept() returned its connection: may lag behind under load. */
  acceptedAt: number;
}

const STAMPING_PEER = fileURLToPath(new URL('../peers/stamping_peer.py', import.meta.url));

/**
 * test/peers/stamping_peer.py: one raw peer per subscriber answering XML-RPC OK
 * (after its delay), recording for every request the raise named in its
 * "raise" param and when its last byte reached the peer's kernel. (A stamp
 * taken when a busy event loop gets round to the connection can lag by
 * 100 ms and more, behind the watch event of the status written after it.)
 */
async function startStampingPeers(arrivals: Arrival[]): Promise<{ ports: Map<string, number>; close(): Promise<void> }> {
  const child = spawn('python3', [STAMPING_PEER, ...SUBSCRIBERS.map((s) => `${s.name}:${s.delayMs}`)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = once(child, 'exit');
  const ports = new Map<string, number>();
  await new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    exited.then(([code]) => reject(new Error(`stamping_peer.py exited with ${String(code)}`)), reject);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const listening = /^listening (\S+) (\d+)$/.exec(line);
      if (listening) {
        ports.set(listening[1]!, Number(listening[2]));
        if (ports.size === SUBSCRIBERS.length) resolve();
      } else {
        arrivals.push(JSON.parse(line) as Arrival);
      }
    });
  });
  return {
    ports,
    close: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill();
      await exited;
    },
  };
}

/** Watches the namespace's EventRaises and stamps when each is first seen in a terminal phase. */
async function watchTerminal(namespace: string): Promise<{ firstTerminal: Map<string, number>; stop(): void }> {
  const firstTerminal = new Map<string, number>();
  const path = `/apis/${GROUP}/${VERSION}/namespaces/${namespace}/eventraises`;
  const watch = new Watch(testCluster().admin);
  let resourceVersion = '';
  let stopped = false;
  let abort: AbortController | undefined;
  const see = (raise: EventRaise) => {
    const name = raise.metadata.name!;
    if (TERMINAL.has(raise.status?.phase ?? '') && !firstTerminal.has(name)) firstTerminal.set(name, Date.now());
  };
  const list = async () => {
    const page = (await testCluster()
      .admin.makeApiClient(CustomObjectsApi)
      .listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: 'eventraises' })) as {
      items: EventRaise[];
      metadata: { resourceVersion: string };
    };
    for (const raise of page.items) see(raise);
    resourceVersion = page.metadata.resourceVersion;
  };
  const start = async (): Promise<void> => {
    if (stopped) return;
    if (!resourceVersion) await list();
    abort = await watch.watch(
      path,
      { resourceVersion, allowWatchBookmarks: true },
      (type: string, obj: EventRaise & { code?: number }) => {
        if (type === 'ERROR') {
          if (obj.code === 410) resourceVersion = '';
          return;
        }
        if (obj.metadata?.resourceVersion) resourceVersion = obj.metadata.resourceVersion;
        if (type === 'ADDED' || type === 'MODIFIED') see(obj);
      },
      // Ended (the server's timeout) or failed: watch again from where it was, after a pause on errors.
      (err: unknown) => void setTimeout(() => void start().catch(() => {}), err ? 100 : 0),
    );
  };
  await start();
  return {
    firstTerminal,
    stop() {
      stopped = true;
      abort?.abort();
    },
  };
}

function countByPair(arrivals: Arrival[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const { raise, subscriber } of arrivals) counts.set(`${raise}/${subscriber}`, (counts.get(`${raise}/${subscriber}`) ?? 0) + 1);
  return counts;
}

async function createAll(namespace: string, names: string[], syncMode: boolean): Promise<void> {
  let next = 0;
  const creator = async () => {
    while (next < names.length) {
      const name = names[next++]!;
      await raiseNamed(namespace, name, { event: 'E_CRASH', syncMode });
    }
  };
  await Promise.all(Array.from({ length: CREATORS }, creator));
}

interface Snapshot {
  /** Raises terminal once the killed process was gone (and before the next one started). */
  terminal: Set<string>;
  existing: number;
  /** When the next process was spawned: any request reaching a peer later comes from it or a later one. */
  respawnAt: number;
}

/**
 * (raise, subscriber) pairs one operator process delivered more than once,
 * from its own debug log: one "delivered" or "delivery failed" line per
 * delivery it started (whatever its number of attempts).
 */
function sameProcessDuplicates(processes: OperatorProcess[]): string[] {
  return processes.flatMap((operator, i) => {
    const seen = new Set<string>();
    const duplicates: string[] = [];
    for (const line of operator.lines) {
      let entry: { message?: string; name?: string; subscriber?: string };
      try {
        entry = JSON.parse(line) as typeof entry;
      } catch {
        continue;
      }
      if (entry.message !== 'delivered' && entry.message !== 'delivery failed') continue;
      const key = `${entry.name}/${entry.subscriber}`;
      if (seen.has(key)) duplicates.push(`${key} by process ${i + 1}`);
      seen.add(key);
    }
    return duplicates;
  });
}

async function crashLoop(mode: 'sync' | 'async', t: { diagnostic(msg: string): void }): Promise<void> {
  const started = Date.now();
  const syncMode = mode === 'sync';
  const namespace = await newNamespace(`faults-crash-${mode}`);
  const arrivals: Arrival[] = [];
  const peers = await startStampingPeers(arrivals);
  // Debug: every finished delivery is logged, which tells duplicates by one process from redeliveries after a kill.
  const args = ['--namespace', namespace, '--log-level=debug'];
  let operator: OperatorProcess = await spawnOperator(args);
  const processes = [operator];
  const watcher = await watchTerminal(namespace);
  try {
    await operator.started;
    for (const s of SUBSCRIBERS) {
      await createSubscriber(namespace, s.name, { event: 'E_CRASH', socket: `xmlrpc:127.0.0.1:${peers.ports.get(s.name)}:m` });
    }
    await Promise.all(SUBSCRIBERS.map((s) => waitForReady(namespace, s.name)));

    const names = Array.from({ length: RAISES }, (_, i) => `${mode[0]}-${String(i).padStart(3, '0')}`);
    const snapshots: Snapshot[] = [];
    /** Times relative to when the raise was first seen terminal: its arrivals, the process events and what each process logged of it. */
    const explain = (raises: Set<string>) =>
      [...raises]
        .map((raise) => {
          const at = watcher.firstTerminal.get(raise)!;
          const rel = (t: number) => `${t - at >= 0 ? '+' : ''}${(t - at).toFixed(1)}ms`;
          const lines = [
            `${raise}: first seen terminal at ${new Date(at).toISOString()}`,
            ...arrivals.filter((a) => a.raise === raise).map((a) => `  arrival ${a.subscriber} received ${rel(a.receivedAt)}, accepted ${rel(a.acceptedAt)}`),
            ...processLog.map(([t, what]) => `  ${what} ${rel(t)}`),
            ...processes.flatMap((p, i) =>
              p.lines.filter((l) => l.includes(`"name":"${raise}"`)).map((l) => `  process ${i + 1}: ${l}`),
            ),
          ];
          return lines.join('\n');
        })
        .join('\n');
    const processLog: Array<[number, string]> = [];
    const kills = async () => {
      for (let k = 0; k < KILLS; k++) {
        await operator.started;
        await sleep(randomInt(...KILL_DELAY_MS)); // a random moment: the fault itself, not a wait for a condition
        processLog.push([Date.now(), `SIGKILL process ${k + 1}`]);
        await operator.kill('SIGKILL');
        processLog.push([Date.now(), `process ${k + 1} gone`]);
        const raises = await listRaises(namespace);
        snapshots.push({
          terminal: new Set(raises.filter((r) => TERMINAL.has(r.status?.phase ?? '')).map((r) => r.metadata.name!)),
          existing: raises.length,
          respawnAt: Date.now(),
        });
        operator = await spawnOperator(args);
        processes.push(operator);
        void operator.started.then(() => processLog.push([Date.now(), `process ${k + 2} started`]));
      }
      await operator.started;
    };
    await Promise.all([createAll(namespace, names, syncMode), kills()]);

    const final = await waitFor(
      () => listRaises(namespace),
      (raises) => (raises.length === RAISES && raises.every((r) => TERMINAL.has(r.status?.phase ?? '')) ? raises : undefined),
      40_000,
    );
    // Async: Dispatched means written to the connection; the peer reads it a moment later.
    await waitFor(
      async () => countByPair(arrivals),
      (counts) => (names.every((n) => SUBSCRIBERS.every((s) => counts.has(`${n}/${s.name}`))) ? counts : undefined),
      5_000,
    ).catch(() => undefined);
    await waitFor(
      async () => watcher.firstTerminal.size,
      (seen) => (seen === RAISES ? true : undefined),
      5_000,
    );

    const phase = syncMode ? 'Delivered' : 'Dispatched';
    assert.deepEqual(
      final.filter((r) => r.status?.phase !== phase || r.status.delivered !== SUBSCRIBERS.length).map((r) => [r.metadata.name, r.status]),
      [],
      `every raise ${phase} to all ${SUBSCRIBERS.length} subscribers`,
    );

    const counts = countByPair(arrivals);
    const missing = names.flatMap((n) => SUBSCRIBERS.filter((s) => !counts.has(`${n}/${s.name}`)).map((s) => `${n}/${s.name}`));
    assert.deepEqual(missing, [], 'every subscriber received every raise at least once');

    for (const [k, snapshot] of snapshots.entries()) {
      const again = arrivals.filter((a) => snapshot.terminal.has(a.raise) && a.receivedAt >= snapshot.respawnAt);
      assert.deepEqual(
        again.map((a) => `${a.raise}/${a.subscriber}`),
        [],
        `raises terminal at kill ${k + 1} got no further delivery\n${explain(new Set(again.map((a) => a.raise)))}`,
      );
    }

    const late = arrivals.filter((a) => a.receivedAt > watcher.firstTerminal.get(a.raise)!);
    assert.deepEqual(
      late.map((a) => `${a.raise}/${a.subscriber}: received ${(a.receivedAt - watcher.firstTerminal.get(a.raise)!).toFixed(1)} ms after it was seen terminal`),
      [],
      `no delivery after the raise was seen terminal\n${explain(new Set(late.map((a) => a.raise)))}`,
    );

    assert.deepEqual(sameProcessDuplicates(processes), [], 'no process delivered a raise twice to one subscriber: duplicates come from redelivery after a kill');

    const midStream = snapshots.filter((s) => s.terminal.size < s.existing).length;
    assert.ok(midStream >= 1, 'at least one kill landed while raises were in flight');
    const margins = arrivals.map((a) => watcher.firstTerminal.get(a.raise)! - a.receivedAt);
    const duplicates = [...counts.values()].reduce((sum, n) => sum + n - 1, 0);
    const raisesWithDuplicates = new Set([...counts].filter(([, n]) => n > 1).map(([key]) => key.split('/')[0])).size;
    t.diagnostic(
      `${mode}: ${RAISES} raises x ${SUBSCRIBERS.length} subscribers, ${KILLS} SIGKILLs ` +
        `(terminal/existing at each kill: ${snapshots.map((s) => `${s.terminal.size}/${s.existing}`).join(', ')}; ${midStream} mid-stream); ` +
        `${duplicates} duplicate deliveries over ${raisesWithDuplicates} raises, all by a later process; ` +
        `last arrival to first seen terminal: min ${Math.min(...margins).toFixed(1)} ms; ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
  } finally {
    watcher.stop();
    await operator.kill();
    await peers.close();
  }
}

describe('operator crashes', () => {
  it(`sync: ${RAISES} raises, ${KILLS} SIGKILLs at random moments: all terminal, at-least-once, nothing after terminal`, async (t) => {
    await crashLoop('sync', t);
  });

  it(`async: ${RAISES} raises, ${KILLS} SIGKILLs at random moments: all Dispatched, at-least-once, nothing after terminal`, async (t) => {
    await crashLoop('async', t);
  });
});
