// What a hostile subscriber costs everyone else. The operator runs as its own
// process (`src/main.ts`, so its RSS is its own) against a real control plane.
// A healthy subscriber in namespace `victim` gets sync raises one after the
// other; its latency (raise created -> request arrived) is measured alone and
// while namespace `attacker` floods a subscriber whose server answers with
// one of the attacks below. Phases are interleaved and repeated (each
// repetition runs every phase, in a rotated order); each figure is a ratio
// to the phase "alone" of the same repetition, shown as min/median/max over
// the repetitions. Peak RSS of a phase is compared with the RSS just before it.
// A harmless flood at the same rate is measured too: the ratio to it is what
// the hostile answers cost, beyond the load of the raises themselves.
//
//   npm run bench:hostile [-- --repetitions=3 --raises=20 --attack-rate=20]
//   BENCH_SMALL=1 npm run bench:hostile     (or --small: 1 repetition, 3 raises, for CI)
//
// An attack is one entry of ATTACKS: a name and a setup that starts its
// peers and subscribers and returns what to run during a phase.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { GROUP, VERSION, type EventRaise } from '../src/api/types.js';
import { applyCrds, buildBinaries } from '../test/controlplane/bootstrap.js';
import { ControlPlane, kubeconfigYaml } from '../test/controlplane/control-plane.js';
import { OPERATOR_NODE_FLAGS } from '../test/support/entry-points.js';
import { deepMethodResponse, hugeFault } from '../test/support/hostile-bodies.js';
import { XMLRPC_OK, httpResponse, startEndlessPeer, startRawPeer } from '../test/support/tcp-peers.js';

const { values } = parseArgs({
  options: {
    repetitions: { type: 'string' },
    raises: { type: 'string' },
    'attack-rate': { type: 'string', default: '20' },
    small: { type: 'boolean', default: false },
  },
});
const SMALL = values.small || process.env.BENCH_SMALL === '1';
const REPETITIONS = Number(values.repetitions ?? (SMALL ? 1 : 3));
const RAISES = Number(values.raises ?? (SMALL ? 3 : 20));
/** Attack raises created per second during a phase. */
const ATTACK_RATE = Number(values['attack-rate']);
const VICTIM = 'victim';
const ATTACKER = 'attacker';
const ROOT = path.resolve(import.meta.dirname, '..');
const say = (line: string) => void process.stderr.write(`[bench] ${line}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** USER_HZ, the unit of /proc/<pid>/stat times: 100 on every Linux this runs on. */
const CLOCK_TICKS = 100;

/** What an attack needs from the bench. */
interface BenchContext {
  /** Creates a Subscriber in the attacker namespace. */
  subscribe(name: string, event: string, socket: string, delivery?: object): Promise<void>;
  /** Creates sync raises of `event` in the attacker namespace at `ratePerSecond` until `stop` resolves. */
  flood(event: string, ratePerSecond: number, stop: Promise<void>): Promise<void>;
}

interface RunningAttack {
  /** Runs the attack until `stop` resolves. */
  run(stop: Promise<void>): Promise<void>;
  close(): Promise<void>;
}

interface Attack {
  name: string;
  setup(ctx: BenchContext): Promise<RunningAttack>;
  /** Its raises never finish by themselves: they are deleted after the phase (which cancels them). */
  neverFinishes?: boolean;
}

/** An attack whose server answers every request with one hostile response. */
function hostileServer(name: string, event: string, start: () => Promise<{ port: number; close(): Promise<void> }>): Attack {
  return {
    name,
    async setup(ctx) {
      const peer = await start();
      await ctx.subscribe(event.toLowerCase().replaceAll('_', '-'), event, `xmlrpc:127.0.0.1:${peer.port}:m`);
      return { run: (stop) => ctx.flood(event, ATTACK_RATE, stop), close: () => peer.close() };
    },
  };
}

const NESTED = Buffer.from(httpResponse(200, deepMethodResponse(9_000)));
const HUGE_FAULT = Buffer.from(httpResponse(200, hugeFault(20 * 1024 * 1024)));

const HARMLESS = 'harmless flood (same rate, XML-RPC OK)';

const ATTACKS: Attack[] = [
  // Not an attack: the same flood of raises answered at once, to tell the cost of a hostile answer from that of the load.
  hostileServer(HARMLESS, 'E_HARMLESS', () => startRawPeer(() => XMLRPC_OK)),
  // 9,000 levels is the deepest that fits the default --max-response-bytes: it reaches the scanner.
  hostileServer('nested XML (63 KB, 9,000 levels)', 'E_NESTED', () => startRawPeer(() => NESTED)),
  hostileServer('huge body (400 MB, no length)', 'E_HUGE_BODY', () => startEndlessPeer('HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\n\r\n')),
  hostileServer('huge faultString (20 MB)', 'E_HUGE_FAULT', () => startRawPeer(() => HUGE_FAULT)),
  // A namespace flooding a server that accepts and never answers: its raises hold what they may, no more.
  {
    name: 'flooding namespace (never-answering server)',
    neverFinishes: true,
    async setup(ctx) {
      const peer = await startRawPeer(() => null);
      await ctx.subscribe('black-hole', 'E_BLACK_HOLE', `xmlrpc:127.0.0.1:${peer.port}:m`, { timeoutSeconds: 300, retry: { limit: 0 } });
      return { run: (stop) => ctx.flood('E_BLACK_HOLE', ATTACK_RATE * 5, stop), close: () => peer.close() };
    },
  },
];

const cp = await ControlPlane.start({ binDir: await buildBinaries(), log: () => {} });
let operator: ReturnType<typeof spawn> | undefined;
try {
  const admin = cp.kubeConfig('admin');
  await applyCrds(admin, () => {});
  const core = admin.makeApiClient(CoreV1Api);
  for (const name of [VICTIM, ATTACKER]) await core.createNamespace({ body: { metadata: { name } } });
  const custom = admin.makeApiClient(CustomObjectsApi);
  const create = (namespace: string, plural: string, kind: string, body: object) =>
    custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural, body: { apiVersion: `${GROUP}/${VERSION}`, kind, ...body } });

  // The operator, in its own process, with the default bounds.
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-hostile-'));
  const kubeconfig = path.join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, kubeconfigYaml(cp, { name: 'admin', token: cp.adminToken }), { mode: 0o600 });
  const httpPort = await freePort();
  operator = spawn(
    process.execPath,
    [...OPERATOR_NODE_FLAGS, '--import', 'tsx', `${ROOT}/src/main.ts`, `--namespace=${VICTIM}`, `--namespace=${ATTACKER}`, '--sync-mode', '--log-level=error', `--http-port=${httpPort}`, '--shutdown-grace=1s'],
    { env: { ...process.env, KUBECONFIG: kubeconfig }, stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const pid = operator.pid!;
  await until(async () => (await fetch(`http://127.0.0.1:${httpPort}/readyz`).catch(() => undefined))?.status === 200, 60_000, 'the operator never got ready');

  // The healthy subscriber, and when each of its raises arrived.
  const arrivals = new Map<string, (at: number) => void>();
  const healthy = await startRawPeer((request) => {
    const raise = /<string>(victim-\d+)<\/string>/.exec(request.body.toString())?.[1];
    if (raise) arrivals.get(raise)?.(performance.now());
    return XMLRPC_OK;
  });
  await create(VICTIM, 'subscribers', 'Subscriber', { metadata: { name: 'healthy' }, spec: { event: 'E_BENCH', socket: `xmlrpc:127.0.0.1:${healthy.port}:m` } });

  let attackRaises = 0;
  const ctx: BenchContext = {
    subscribe: async (name, event, socket, delivery) => {
      await create(ATTACKER, 'subscribers', 'Subscriber', { metadata: { name }, spec: { event, socket, ...(delivery ? { delivery } : {}) } });
    },
    flood: async (event, ratePerSecond, stop) => {
      let stopped = false;
      void stop.then(() => (stopped = true));
      const creations: Array<Promise<unknown>> = [];
      for (let next = performance.now(); !stopped; next += 1000 / ratePerSecond) {
        creations.push(create(ATTACKER, 'eventraises', 'EventRaise', { metadata: { name: `attack-${attackRaises++}` }, spec: { event } }).catch(() => {}));
        await Promise.race([sleep(Math.max(0, next - performance.now())), stop]);
      }
      await Promise.all(creations);
    },
  };
  const attacks = await Promise.all(ATTACKS.map(async (attack) => ({ attack, running: await attack.setup(ctx) })));
  await sleep(1000); // the informer has the subscribers

  let n = 0;
  /** Latencies in ms of `count` sync raises to the healthy subscriber, one after the other. */
  async function measure(count: number): Promise<number[]> {
    const latencies: number[] = [];
    for (let i = 0; i < count; i++) {
      const name = `victim-${n++}`;
      const arrived = new Promise<number>((resolve, reject) => {
        arrivals.set(name, resolve);
        setTimeout(() => reject(new Error(`${name} did not arrive within 120 s`)), 120_000).unref();
      });
      const started = performance.now();
      await create(VICTIM, 'eventraises', 'EventRaise', { metadata: { name }, spec: { event: 'E_BENCH', params: [{ string: name }] } });
      latencies.push((await arrived) - started);
      arrivals.delete(name);
    }
    return latencies;
  }

  /** Waits until every attack raise is terminal (or not, for an attack whose raises never finish), then deletes them, so that phases do not overlap. */
  async function drainAttacker(wait: boolean): Promise<void> {
    if (wait) await until(async () => {
      const list = (await custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ATTACKER, plural: 'eventraises' })) as { items: EventRaise[] };
      return list.items.every((r) => r.status?.completionTime !== undefined);
    }, 300_000, 'the attack raises never finished');
    await custom.deleteCollectionNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ATTACKER, plural: 'eventraises' });
  }

  const phases = [
    { name: 'alone', running: undefined as RunningAttack | undefined, neverFinishes: false },
    ...attacks.map(({ attack, running }) => ({ name: attack.name, running, neverFinishes: attack.neverFinishes === true })),
  ];
  const results = new Map(phases.map((p) => [p.name, { ratios: [] as number[], toHarmless: [] as number[], rss: [] as number[], cpu: [] as number[], latencies: [] as number[] }]));

  await measure(5); // warm-up: caches, connections, JIT
  for (let rep = 0; rep < REPETITIONS; rep++) {
    const order = phases.map((_, i) => phases[(i + rep) % phases.length]!);
    const medians = new Map<string, number>();
    for (const phase of order) {
      await sleep(500);
      const idle = rssOf(pid);
      const kernelPeak = resetPeak(pid);
      const cpuBefore = cpuMsOf(pid);
      const phaseStarted = performance.now();
      const raisesBefore = attackRaises;
      let stopAttack!: () => void;
      const stop = new Promise<void>((resolve) => (stopAttack = resolve));
      const attack = phase.running?.run(stop);
      const sampler = sampleRss(pid, stop);
      if (attack) await sleep(500); // let the flood build up first
      const latencies = await measure(RAISES);
      stopAttack();
      const peak = Math.max(await sampler, kernelPeak ? (peakOf(pid) ?? 0) : 0);
      await attack;
      const cpu = (cpuMsOf(pid) - cpuBefore) / (performance.now() - phaseStarted);
      if (phase.running) await drainAttacker(!phase.neverFinishes);
      const result = results.get(phase.name)!;
      medians.set(phase.name, median(latencies));
      result.latencies.push(...latencies);
      result.rss.push(peak / idle);
      result.cpu.push(cpu);
      say(
        `repetition ${rep + 1}, ${phase.name}: median ${median(latencies).toFixed(1)} ms, peak RSS ${mb(peak)} / idle ${mb(idle)}, ` +
          `operator CPU ${(cpu * 100).toFixed(0)}%, ${attackRaises - raisesBefore} attack raises`,
      );
    }
    for (const [name, m] of medians) {
      results.get(name)!.ratios.push(m / medians.get('alone')!);
      results.get(name)!.toHarmless.push(m / medians.get(HARMLESS)!);
    }
  }

  console.log(`healthy subscriber (namespace ${VICTIM}) beside namespace ${ATTACKER} attacking at ${ATTACK_RATE} raises/s`);
  console.log(`${REPETITIONS} repetition(s) x ${RAISES} sync raises per phase; min/median/max over the repetitions`);
  console.log('');
  const rows = [['phase', 'latency ms (all raises)', 'latency / alone', 'latency / harmless flood', 'peak RSS / idle', 'operator CPU (of one core)']];
  for (const { name } of phases) {
    const r = results.get(name)!;
    rows.push([
      name,
      triple(r.latencies, 1),
      triple(r.ratios, 2, 'x'),
      triple(r.toHarmless, 2, 'x'),
      triple(r.rss, 2, 'x'),
      triple(r.cpu.map((c) => c * 100), 0, '%'),
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  for (const row of rows) console.log(`  ${row.map((cell, i) => cell.padEnd(widths[i]!)).join('   ')}`);
  say(`${attackRaises} attack raises in all`);

  for (const { running } of attacks) await running.close();
  await healthy.close();
} finally {
  if (operator && operator.exitCode === null) {
    operator.kill('SIGTERM');
    await new Promise((resolve) => operator!.once('exit', resolve));
  }
  await cp.stop();
}
process.exit(0);

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function triple(xs: number[], digits: number, unit = ''): string {
  const sorted = [...xs].sort((a, b) => a - b);
  return [sorted[0]!, median(xs), sorted.at(-1)!].map((x) => `${x.toFixed(digits)}${unit}`).join(' / ');
}

function mb(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(0)} MB`;
}

/** Resident memory of a process, from /proc (Linux). */
function rssOf(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) * 1024;
}

/** CPU time (user + system) a process used so far, from /proc (Linux). */
function cpuMsOf(pid: number): number {
  // Fields after the command name, which is in parentheses and may hold spaces.
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1000) / CLOCK_TICKS;
}

/** The kernel's peak RSS since the last reset, where the kernel offers one. */
function peakOf(pid: number): number | undefined {
  const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return kb === undefined ? undefined : Number(kb) * 1024;
}

/** Resets VmHWM to the current RSS (Linux >= 4.0); false where not permitted: the samples alone give the peak then. */
function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** The largest RSS seen every 20 ms until `stop`. */
async function sampleRss(pid: number, stop: Promise<void>): Promise<number> {
  let stopped = false;
  void stop.then(() => (stopped = true));
  let peak = 0;
  while (!stopped) {
    peak = Math.max(peak, rssOf(pid));
    await sleep(20);
  }
  return Math.max(peak, rssOf(pid));
}

async function until(check: () => Promise<boolean>, timeoutMs: number, message: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(message);
    await sleep(100);
  }
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
