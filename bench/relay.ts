// What an EventRelay sustains, measured against baselines in the same run,
// interleaved and repeated (min / median / max of each figure and ratio):
//
//  - burst: N events sent as OpenSIPS's sender sends them (one connection at a
//    time: connect, write, close, next; the answer never read) to a Memory
//    relay with one fast subscriber. Its rate, from the first send to the last
//    arrival at the subscriber, against a raw Node http.request loop (a new
//    connection per request, each awaited) to the same sink; events dropped;
//    the operator's RSS during the burst against idle. Twice: to a subscriber
//    as OpenSIPS delivers (a new connection per event, the default), and to
//    one with spec.delivery.keepAlive (its connections reused).
//  - latency: receipt to delivery at half the burst rate, paced.
//  - durable: the same sends to a Durable relay (an EventRaise per event,
//    delivered by the leader), against a bare client that creates a raise and
//    writes its status, 32 at a time, with the operator's own API client (one
//    HTTP/2 connection): the API server's ceiling for that work.
//
// The operator runs compiled (npm run build, node dist/main.js), in its own
// process, so that its RSS and CPU time are its own.
//
//   npm run bench:relay [-- --events=20000 --repeats=3]
//   BENCH_SMALL=1 npm run bench:relay     (or --small: tiny counts, for CI: it runs and drops nothing)
//   BENCH_PROF=/tmp/prof npm run bench:relay   (also writes the operator's CPU profile there)
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { EVENT_RAISES, GROUP, VERSION, type EventRaise } from '../src/api/types.js';
import type { EventRelay } from '../src/api/relay-types.js';
import { ApiClient } from '../src/kube/api-client.js';
import { applyCrds, buildBinaries } from '../test/controlplane/bootstrap.js';
import { ControlPlane } from '../test/controlplane/control-plane.js';
import { OPERATOR_NODE_FLAGS } from '../test/support/entry-points.js';

const { values } = parseArgs({
  options: { small: { type: 'boolean', default: false }, events: { type: 'string' }, repeats: { type: 'string' }, durable: { type: 'string' } },
});
const SMOKE = values.small || process.env.BENCH_SMALL === '1';
const EVENTS = Number(values.events ?? (SMOKE ? 300 : 20_000));
const REPEATS = Number(values.repeats ?? (SMOKE ? 1 : 3));
const PACED = SMOKE ? 200 : Math.min(EVENTS, 5_000);
const DURABLE = Number(values.durable ?? (SMOKE ? 30 : 1_000));
const NAMESPACE = 'bench';
/** Raises the bare client writes at once: more than the operator's own writers (16 creates, 4 status workers). */
const CEILING_CONCURRENCY = 32;
const CEILING_NAMESPACE = 'bench-ceiling';
const ROOT = fileURLToPath(new URL('../', import.meta.url));
const say = (line: string) => void process.stderr.write(`[bench] ${line}\n`);

// ---- the sink: a fast XML-RPC server in its own process, stamping arrivals ----

interface Sink {
  port: number;
  arrivals: Map<number, number>;
  /** Resolves once every seq in [from, to) arrived, or when none arrived for `quietMs`. */
  waitFor(from: number, to: number, quietMs?: number): Promise<void>;
  close(): void;
}

async function startSink(): Promise<Sink> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench/support/stamping-sink.ts')], { stdio: ['pipe', 'pipe', 'inherit'] });
  const arrivals = new Map<number, number>();
  let lastArrival = performance.now();
  const lines = createInterface({ input: child.stdout! });
  const port = await new Promise<number>((resolve) =>
    lines.on('line', (line) => {
      const listening = /^listening (\d+)$/.exec(line);
      if (listening) return resolve(Number(listening[1]));
      const [seq, at] = line.split(' ');
      arrivals.set(Number(seq), Number(at));
      lastArrival = performance.now();
    }),
  );
  return {
    port,
    arrivals,
    async waitFor(from, to, quietMs = 15_000) {
      const missing = () => {
        for (let seq = from; seq < to; seq++) if (!arrivals.has(seq)) return true;
        return false;
      };
      lastArrival = performance.now();
      while (missing() && performance.now() - lastArrival < quietMs) await sleep(20);
    },
    close: () => child.stdin!.end(),
  };
}

// ---- the operator, in its own process (its RSS is its own) ----

interface OperatorChild {
  child: ChildProcess;
  httpPort: number;
  relayPort: number;
  rssBytes(): number;
  /** CPU time the process used so far, in ms. */
  cpuMs(): number;
  metric(name: string): Promise<number>;
  stop(): Promise<void>;
}

async function startOperator(kubeconfig: string): Promise<OperatorChild> {
  // The compiled operator, as the image runs it (npm run build, then node dist/main.js).
  const profile = process.env.BENCH_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROF}`] : [];
  const args = [...OPERATOR_NODE_FLAGS, ...profile, path.join(ROOT, 'dist/main.js'), `--namespace=${NAMESPACE}`, '--http-port=0', '--relay-port=0', '--relay-host=127.0.0.1'];
  const child = spawn(process.execPath, args, { env: { ...process.env, KUBECONFIG: kubeconfig }, stdio: ['ignore', 'pipe', 'inherit'] });
  const started = await new Promise<{ httpPort: number; relayPort: number }>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the operator exited with ${code}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line.includes('"operator started"')) resolve(JSON.parse(line) as { httpPort: number; relayPort: number });
      else if (/"level":"(warn|error)"/.test(line)) say(`operator: ${line.slice(0, 300)}`);
    });
  });
  return {
    child,
    ...started,
    rssBytes: () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? 0) * 1024,
    cpuMs: () => {
      // utime and stime, fields 14 and 15 of /proc/PID/stat, in clock ticks (100 per second).
      const fields = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      return (Number(fields[11]) + Number(fields[12])) * 10;
    },
    async metric(name) {
      const text = await (await fetch(`http://127.0.0.1:${started.httpPort}/metrics`)).text();
      let sum = 0;
      for (const line of text.split('\n')) if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) sum += Number(line.split(' ').at(-1));
      return sum;
    },
    async stop() {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    },
  };
}

// ---- senders ----

let nextSeq = 0;

/** The event of the default subscriber, and of the one with spec.delivery.keepAlive. */
const EVENT = 'E_PIKE_BLOCKED';
const KEPT_EVENT = 'E_PIKE_BLOCKED_KEPT';

function body(seq: number, event: string): string {
  return (
    `<?xml version="1.0"?>\n<methodCall>\n<methodName>relay</methodName>\n<params>\n<param>\n<value><string>${event}</string></value>\n</param>\n` +
    `<param>\n<name>ip</name>\n<value><string>10.0.${(seq >> 8) & 255}.${seq & 255}</string></value>\n</param>\n` +
    `<param>\n<name>seq</name>\n<value><int>${seq}</int></value>\n</param>\n</params>\n</methodCall>`
  );
}

/** The bytes OpenSIPS writes for one event to a relay. */
function openSipsRequest(port: number, relayPath: string, seq: number, event = EVENT): Buffer {
  const b = body(seq, event);
  return Buffer.from(
    `POST ${relayPath} HTTP/1.1\r\nHost:127.0.0.1:${port}\r\nConnection: close\r\nUser-Agent: OpenSIPS XMLRPC Notifier\r\nContent-type: text/xml\r\nContent-length: ${Buffer.byteLength(b)}\r\n\r\n${b}`,
  );
}

/** Connects of `fire` that took a second or more: the kernel dropped the SYN (the accept queue was full) and the sender waited for its retransmit. */
let stalledConnects = 0;

/** As OpenSIPS's sender: connect, write everything, close; resolves once written, without waiting for any answer. */
function fire(port: number, request: Buffer): Promise<void> {
  return new Promise((resolve) => {
    const started = performance.now();
    const socket = net.connect({ host: '127.0.0.1', port }, () => {
      if (performance.now() - started >= 1_000) stalledConnects++;
      socket.end(request, () => resolve());
    });
    socket.on('error', () => resolve()); // lost: the sink will not see it
    socket.resume();
  });
}

const rawAgent = new http.Agent({ keepAlive: false });

/** One request, its response read: the baseline's unit of work. */
function rawRequest(port: number, seq: number): Promise<void> {
  const b = body(seq, EVENT);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, path: '/RPC2', method: 'POST', agent: rawAgent, headers: { 'Content-Type': 'text/xml', 'Content-Length': Buffer.byteLength(b) } },
      (res) => res.resume().on('end', resolve),
    );
    req.on('error', reject);
    req.end(b);
  });
}

// ---- the measurements ----

interface Burst {
  rate: number;
  dropped: number;
  /** The operator's CPU time per event, in ms. */
  cpuPerEvent: number;
  rssIdle: number;
  rssPeak: number;
}

async function rawLoop(sink: Sink, n: number): Promise<number> {
  const from = nextSeq;
  nextSeq += n;
  const started = performance.now();
  for (let seq = from; seq < from + n; seq++) await rawRequest(sink.port, seq);
  return n / ((performance.now() - started) / 1000);
}

async function relayBurst(sink: Sink, operator: OperatorChild, relayPath: string, n: number, event = EVENT): Promise<Burst> {
  const from = nextSeq;
  nextSeq += n;
  const droppedBefore = await operator.metric('event_xmlrpc_relay_dropped_total');
  const rssIdle = operator.rssBytes();
  let rssPeak = rssIdle;
  const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, operator.rssBytes())), 25);
  const cpuBefore = operator.cpuMs();
  const stalledBefore = stalledConnects;
  const started = performance.timeOrigin + performance.now();
  for (let seq = from; seq < from + n; seq++) await fire(operator.relayPort, openSipsRequest(operator.relayPort, relayPath, seq, event));
  const sentAt = performance.timeOrigin + performance.now();
  const stalled = stalledConnects - stalledBefore;
  await sink.waitFor(from, from + n);
  clearInterval(sampler);
  const cpuPerEvent = (operator.cpuMs() - cpuBefore) / n;
  let last = 0;
  let arrived = 0;
  for (let seq = from; seq < from + n; seq++) {
    const at = sink.arrivals.get(seq);
    if (at !== undefined) {
      arrived++;
      last = Math.max(last, at);
    }
  }
  const droppedByRelay = (await operator.metric('event_xmlrpc_relay_dropped_total')) - droppedBefore;
  if (droppedByRelay !== n - arrived) say(`the relay counted ${droppedByRelay} drops; ${n - arrived} events did not arrive`);
  say(
    `burst${event === KEPT_EVENT ? ' (keepAlive)' : ''}: ${n} sent in ${(sentAt - started).toFixed(0)} ms (${((n * 1000) / (sentAt - started)).toFixed(0)}/s), the last arrived ${(last - sentAt).toFixed(0)} ms after the last send; ` +
      `${stalled} connect(s) waited a second for a SYN retransmit`,
  );
  return { rate: arrived / ((last - started) / 1000), dropped: n - arrived, cpuPerEvent, rssIdle, rssPeak };
}

/** Receipt-to-delivery latencies (ms) of `n` events sent at `rate` per second. */
async function paced(sink: Sink, operator: OperatorChild, relayPath: string, n: number, rate: number): Promise<number[]> {
  const from = nextSeq;
  nextSeq += n;
  const sentAt = new Map<number, number>();
  const t0 = performance.now();
  for (let k = 0; k < n; k++) {
    const due = t0 + (k * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    const seq = from + k;
    await fire(operator.relayPort, openSipsRequest(operator.relayPort, relayPath, seq));
    sentAt.set(seq, performance.timeOrigin + performance.now());
  }
  await sink.waitFor(from, from + n);
  const latencies: number[] = [];
  for (const [seq, sent] of sentAt) {
    const at = sink.arrivals.get(seq);
    if (at !== undefined) latencies.push(Math.max(at - sent, 0));
  }
  return latencies;
}

async function durableRun(sink: Sink, operator: OperatorChild, relayPath: string, n: number): Promise<number> {
  const from = nextSeq;
  nextSeq += n;
  const started = performance.timeOrigin + performance.now();
  for (let seq = from; seq < from + n; seq++) await fire(operator.relayPort, openSipsRequest(operator.relayPort, relayPath, seq));
  await sink.waitFor(from, from + n, 30_000);
  let last = started;
  let arrived = 0;
  for (let seq = from; seq < from + n; seq++) {
    const at = sink.arrivals.get(seq);
    if (at !== undefined) {
      arrived++;
      last = Math.max(last, at);
    }
  }
  if (arrived < n) say(`durable: ${n - arrived} of ${n} events did not arrive`);
  return arrived / ((last - started) / 1000);
}

/**
 * A bare client's create + status write of `n` raises, CEILING_CONCURRENCY at
 * a time, where no operator watches: the operator's own API client (one
 * HTTP/2 connection), without the operator.
 */
async function ceiling(api: ApiClient, n: number): Promise<number> {
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    while (next < n) {
      const i = next++;
      const seq = nextSeq++;
      const raise = await api.create<EventRaise>(EVENT_RAISES, {
        apiVersion: `${GROUP}/${VERSION}`,
        kind: 'EventRaise',
        metadata: { name: `ceiling-${seq}`, namespace: CEILING_NAMESPACE },
        spec: { event: 'E_PIKE_BLOCKED', params: [{ name: 'ip', string: `10.0.0.${i & 255}` }, { name: 'seq', int: seq }], ttlSecondsAfterFinished: 3600 },
      });
      const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
      await api.replaceStatus(EVENT_RAISES, raise, { observedGeneration: 1, phase: 'Dispatched', matched: 1, delivered: 1, failed: 0, startTime: now, completionTime: now });
    }
  };
  await Promise.all(Array.from({ length: CEILING_CONCURRENCY }, worker));
  return n / ((performance.now() - started) / 1000);
}

// ---- the run ----

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function stats(xs: number[]): { min: number; median: number; max: number } {
  const sorted = [...xs].sort((a, b) => a - b);
  return { min: sorted[0] ?? NaN, median: sorted[Math.floor(sorted.length / 2)] ?? NaN, max: sorted.at(-1) ?? NaN };
}

function percentile(xs: number[], p: number): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? NaN;
}

function row(label: string, xs: number[], unit: string, digits = 0, note = ''): string {
  const { min, median, max } = stats(xs);
  const f = (x: number) => `${x.toFixed(digits)}${unit}`.padStart(11);
  return `  ${label.padEnd(34)}${f(min)}${f(median)}${f(max)}  ${note}`;
}

async function waitForSocket(custom: CustomObjectsApi, name: string): Promise<string> {
  for (;;) {
    const relay = (await custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: NAMESPACE, plural: 'eventrelays', name })) as EventRelay;
    if (relay.status?.path) return relay.status.path;
    await sleep(100);
  }
}

say('building the operator (npm run build)');
await new Promise<void>((resolve, reject) =>
  spawn('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: 'inherit' }).on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`npm run build exited with ${code}`)))),
);
const cp = await ControlPlane.start({ binDir: await buildBinaries(), log: () => {} });
let sink: Sink | undefined;
let operator: OperatorChild | undefined;
let ceilingApi: ApiClient | undefined;
let failed = false;
try {
  const admin = cp.kubeConfig('admin');
  await applyCrds(admin, () => {});
  const core = admin.makeApiClient(CoreV1Api);
  for (const name of [NAMESPACE, CEILING_NAMESPACE]) await core.createNamespace({ body: { metadata: { name } } });
  const kubeconfig = path.join(await mkdtemp(path.join(os.tmpdir(), 'bench-relay-')), 'kubeconfig');
  cp.writeKubeconfig(kubeconfig, 'admin');
  sink = await startSink();
  operator = await startOperator(kubeconfig);
  const custom = admin.makeApiClient(CustomObjectsApi);
  ceilingApi = new ApiClient(admin);
  const create = (plural: string, kind: string, metadata: object, spec: object) =>
    custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: NAMESPACE, plural, body: { apiVersion: `${GROUP}/${VERSION}`, kind, metadata, spec } });
  await create('subscribers', 'Subscriber', { name: 'sink' }, { event: EVENT, socket: `xmlrpc:127.0.0.1:${sink.port}:block_ip` });
  await create('subscribers', 'Subscriber', { name: 'sink-kept' }, { event: KEPT_EVENT, socket: `xmlrpc:127.0.0.1:${sink.port}:block_ip`, delivery: { keepAlive: true } });
  await create('eventrelays', 'EventRelay', { name: 'memory' }, {});
  await create('eventrelays', 'EventRelay', { name: 'durable' }, { mode: 'Durable', ttlSecondsAfterFinished: 3600 });
  const memoryPath = await waitForSocket(custom, 'memory');
  const durablePath = await waitForSocket(custom, 'durable');

  // Warm-up: connections, caches, JIT; the subscriber is matched once this arrives.
  say('warming up');
  for (const event of [EVENT, KEPT_EVENT]) {
    for (;;) {
      const seq = nextSeq++;
      await fire(operator.relayPort, openSipsRequest(operator.relayPort, memoryPath, seq, event));
      await sleep(100);
      if (sink.arrivals.has(seq)) break;
    }
  }
  await rawLoop(sink, 300);
  await relayBurst(sink, operator, memoryPath, Math.min(EVENTS, 1_000));
  await relayBurst(sink, operator, memoryPath, Math.min(EVENTS, 1_000), KEPT_EVENT);

  const raw: number[] = [];
  const bursts: Burst[] = [];
  const keptBursts: Burst[] = [];
  const latencies: number[][] = [];
  const durable: number[] = [];
  const ceilings: number[] = [];
  for (let r = 0; r < REPEATS; r++) {
    say(`round ${r + 1} of ${REPEATS}: raw loop, relay burst, relay burst to keepAlive, paced, durable, ceiling`);
    raw.push(await rawLoop(sink, EVENTS));
    bursts.push(await relayBurst(sink, operator, memoryPath, EVENTS));
    keptBursts.push(await relayBurst(sink, operator, memoryPath, EVENTS, KEPT_EVENT));
    latencies.push(await paced(sink, operator, memoryPath, PACED, bursts.at(-1)!.rate / 2));
    durable.push(await durableRun(sink, operator, durablePath, DURABLE));
    ceilings.push(await ceiling(ceilingApi!, DURABLE));
  }

  const mb = (b: number) => b / 1024 / 1024;
  const dropped = [...bursts, ...keptBursts].map((b) => b.dropped);
  console.log(`relay benchmark: ${EVENTS} events per burst, ${REPEATS} interleaved round(s), ${os.cpus().length} CPUs${SMOKE ? ' (smoke)' : ''}`);
  console.log(`  ${''.padEnd(34)}${'min'.padStart(11)}${'median'.padStart(11)}${'max'.padStart(11)}`);
  console.log(row('raw http.request loop to the sink', raw, '/s'));
  console.log(row('relay burst, OpenSIPS-style sends', bursts.map((b) => b.rate), '/s', 0, 'subscriber default: a connection per event'));
  console.log(row('ratio relay / raw', bursts.map((b, i) => b.rate / raw[i]!), 'x', 2, 'target >= 0.7x'));
  console.log(row('relay burst, keepAlive subscriber', keptBursts.map((b) => b.rate), '/s', 0, 'spec.delivery.keepAlive: true'));
  console.log(row('ratio relay keepAlive / raw', keptBursts.map((b, i) => b.rate / raw[i]!), 'x', 2, 'target >= 0.7x'));
  console.log(row('events dropped in the bursts', dropped, '', 0, `of ${EVENTS} each, default queue size; target 0`));
  console.log(row('operator CPU per event in the burst', bursts.map((b) => b.cpuPerEvent), 'ms', 2, 'receive, parse, deliver'));
  console.log(row('the same, keepAlive subscriber', keptBursts.map((b) => b.cpuPerEvent), 'ms', 2));
  console.log(row('latency p50 at half the burst rate', latencies.map((l) => percentile(l, 50)), 'ms', 1));
  console.log(row('latency p99 at half the burst rate', latencies.map((l) => percentile(l, 99)), 'ms', 1));
  console.log(row('latency max at half the burst rate', latencies.map((l) => percentile(l, 100)), 'ms', 1));
  console.log(row('operator RSS idle', bursts.map((b) => mb(b.rssIdle)), ' MB', 1));
  console.log(row('operator RSS peak during the burst', bursts.map((b) => mb(b.rssPeak)), ' MB', 1));
  console.log(row('ratio RSS burst / idle', bursts.map((b) => b.rssPeak / b.rssIdle), 'x', 2));
  console.log(row('durable relay, end to end', durable, '/s', 0, `${DURABLE} events each`));
  console.log(row(`bare create + status, ${CEILING_CONCURRENCY} at once`, ceilings, '/s'));
  console.log(row('ratio durable / ceiling', durable.map((d, i) => d / ceilings[i]!), 'x', 2));
  if (dropped.some((d) => d > 0)) {
    failed = true;
    say('FAILED: the burst dropped events at the default queue size');
  }
  if (durable.some((d) => !Number.isFinite(d) || d <= 0)) failed = true;
} finally {
  await operator?.stop();
  await ceilingApi?.close();
  sink?.close();
  await cp.stop();
}
process.exit(failed ? 1 : 0);
