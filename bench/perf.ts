// `npm run bench`: the operator's throughput, latency, memory and delivery
// cost on a real kube-apiserver + etcd, each figure against a baseline
// measured in the same run, interleaved and repeated:
//
//   figure: value, baseline, ratio [min/median/max of the per-repetition ratios]
//
// The operator runs as it ships (`node dist/main.js`, compiled first), and for
// memory also as `npm start` runs it (tsx). The load comes from a separate
// process (bench/writer.ts), which is also the baseline client: node:https
// with a keep-alive agent doing the same API writes (create, then the status
// PUT) the operator's path costs. Raises go to a fast sink (bench/sink.ts).
// CPU is read from /proc/<pid>/stat for the operator, kube-apiserver, etcd and
// the load generator, and tells what bounds the rate.
//
//   npm run bench                  # the full run, at most about 10 minutes on 2 cores
//   BENCH_SMALL=1 npm run bench    # (or -- --small) tiny counts: checks that it all works (CI)
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import got from 'got';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { encodeMethodCall } from '../src/core/method-call.js';
import { requestHeaders } from '../src/core/http-request.js';
import { parseSocket, type DeliveryTarget } from '../src/core/socket.js';
import { HttpSender } from '../src/delivery/http-sender.js';
import { applyCrds, buildBinaries } from '../test/controlplane/bootstrap.js';
import { ControlPlane } from '../test/controlplane/control-plane.js';
import { OPERATOR_NODE_FLAGS } from '../test/support/entry-points.js';
import { BareClient } from './support/bare-client.js';
import { connectionsTo, cpuMs, machine, memoryMiB } from './support/proc.js';
import { figure, median, quantile, type Paired } from './support/stats.js';
import type { WriterJob, WriterResult } from './writer.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const SMALL = process.env.BENCH_SMALL === '1' || process.argv.includes('--small');
const N = {
  ...(SMALL
    ? { reps: 2, rate: 20, latency: 20, bulk: 40, crowd: 40, fanout: 20, sends: 200 }
    : { reps: 3, rate: 1000, latency: 400, bulk: 10_000, crowd: 10_000, fanout: 1_000, sends: 4_000 }),
  // BENCH_COUNTS=rate=300,reps=1 overrides some counts (for a quick look, or a profile).
  ...Object.fromEntries((process.env.BENCH_COUNTS ?? '').split(',').filter(Boolean).map((kv) => [kv.split('=')[0], Number(kv.split('=')[1])])),
};
/** BENCH_PROFILE=DIR: the compiled operator writes a V8 CPU profile there when it stops. */
const PROFILE_DIR = process.env.BENCH_PROFILE;
/** BENCH_ONLY=throughput: stop after the throughput figures. BENCH_OPERATOR_FLAGS='--workers=8': more flags for the operator. */
const ONLY_THROUGHPUT = process.env.BENCH_ONLY === 'throughput';
const SENDER_CONCURRENCY = 16;
const WRITER_CONCURRENCY = 32;
const NS = { op: 'bench', bare: 'bench-bare', tsx: 'bench-tsx' };
const TERMINAL = new Set(['Dispatched', 'Delivered', 'PartiallyDelivered', 'Failed', 'NoSubscribers']);
const started = Date.now();
const say = (line: string) => void process.stderr.write(`[bench ${((Date.now() - started) / 1000).toFixed(0).padStart(3)}s] ${line}\n`);
const out = (line: string) => void process.stdout.write(`${line}\n`);
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------- processes

interface Child {
  process: ChildProcess;
  pid: number;
  lines: AsyncIterator<string>;
}

function startChild(args: string[], env: NodeJS.ProcessEnv = {}, logFile?: string): Child {
  const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', logFile ? 'pipe' : 'inherit'] });
  if (logFile) child.stderr!.pipe(createWriteStream(logFile, { flags: 'a' }));
  return { process: child, pid: child.pid!, lines: createInterface({ input: child.stdout! })[Symbol.asyncIterator]() };
}

async function nextLine(child: Child, what: string): Promise<string> {
  const { value, done } = await child.lines.next();
  if (done) throw new Error(`${what}: the process ended (exit ${child.process.exitCode})`);
  return value;
}

async function stopChild(child: Child): Promise<void> {
  if (child.process.exitCode !== null || child.process.signalCode !== null) return;
  child.process.kill('SIGTERM');
  await once(child.process, 'exit');
}

class Writer {
  private queue = Promise.resolve<unknown>(undefined);
  constructor(readonly child: Child) {}
  run(job: Omit<WriterJob, 'server' | 'caFile' | 'token'>): Promise<WriterResult> {
    const result = this.queue.then(async () => {
      this.child.process.stdin!.write(`${JSON.stringify({ ...endpointFields, ...job })}\n`);
      const res = JSON.parse(await nextLine(this.child, 'writer')) as WriterResult;
      if (res.errors.length) throw new Error(`writer: ${res.errors.join('; ')}`);
      return res;
    });
    this.queue = result.catch(() => {});
    return result;
  }
}

interface OperatorProcess extends Child {
  logFile: string;
  httpPort: number;
}

async function startOperator(label: string, entry: string[], namespace: string): Promise<OperatorProcess> {
  const logFile = path.join(workDir, `operator-${label}.log`);
  const extra = (process.env.BENCH_OPERATOR_FLAGS ?? '').split(' ').filter(Boolean);
  const child = startChild([...entry, `--namespace=${namespace}`, '--http-port=0', ...extra], { KUBECONFIG: kubeconfigFile }, logFile);
  const log = createWriteStream(logFile, { flags: 'a' });
  let httpPort: number;
  for (;;) {
    const line = await nextLine(child, `operator ${label}`);
    log.write(`${line}\n`);
    if (line.includes('"operator started"')) {
      httpPort = (JSON.parse(line) as { httpPort: number }).httpPort;
      break;
    }
  }
  // The rest of its log goes to the file.
  void (async () => {
    for (;;) {
      const { value, done } = await child.lines.next();
      if (done) return;
      log.write(`${value}\n`);
    }
  })();
  return { ...child, logFile, httpPort };
}

/** The operator's V8 heap in use, in MiB, from its /metrics (prom-client's nodejs_heap_size_used_bytes). */
async function heapUsedMiB(operator: OperatorProcess): Promise<number> {
  const text = await new Promise<string>((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port: operator.httpPort, path: '/metrics' }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c: string) => (body += c)).on('end', () => resolve(body));
      })
      .on('error', reject);
  });
  return Number(/^nodejs_heap_size_used_bytes (\S+)$/m.exec(text)?.[1] ?? NaN) / 2 ** 20;
}

// ---------------------------------------------------------------- watching objects

/**
 * Follows one kind in one namespace through a watch (watched again from the
 * last resourceVersion when the apiserver ends it; listed again on 410):
 * when each object turned terminal (raises) or Ready (subscribers), which are gone.
 */
class Observer {
  readonly terminalAt = new Map<string, number>();
  readonly ready = new Set<string>();
  readonly lastDelivery = new Map<string, string>();
  readonly deleted = new Set<string>();
  private readonly known = new Set<string>();
  private waiters: Array<() => void> = [];
  private watch: { close(): void } | undefined;
  private closed = false;
  private resourceVersion = '';
  private gone = false;

  private constructor(private readonly base: string) {}

  static async start(namespace: string, plural: 'eventraises' | 'subscribers'): Promise<Observer> {
    const o = new Observer(`/apis/eventxmlrpc.io/v1alpha1/namespaces/${namespace}/${plural}`);
    await o.relist();
    void o.follow();
    return o;
  }

  private async relist(): Promise<void> {
    const list = await api.request<{ metadata: { resourceVersion: string }; items: Array<Record<string, unknown>> }>('GET', this.base);
    const present = new Set<string>();
    for (const item of list.items) {
      present.add((item.metadata as { name: string }).name);
      this.event('ADDED', item);
    }
    for (const name of this.known) if (!present.has(name)) this.event('DELETED', { metadata: { name } });
    this.resourceVersion = list.metadata.resourceVersion;
  }

  private async follow(): Promise<void> {
    while (!this.closed) {
      if (this.gone) {
        this.gone = false;
        await this.relist();
      }
      const watch = api.watch(`${this.base}?watch=1&allowWatchBookmarks=true&resourceVersion=${this.resourceVersion}`, (type, obj) => this.event(type, obj));
      this.watch = watch;
      await watch.ended.catch(() => sleep(500));
      if (!this.closed) say(`watch of ${this.base} ended; watching again from ${this.resourceVersion}`);
    }
  }

  private event(type: string, obj: Record<string, unknown>): void {
    const at = now();
    if (type === 'ERROR') {
      if ((obj as { code?: number }).code === 410) this.gone = true;
      return;
    }
    const metadata = obj.metadata as { name: string; generation?: number; resourceVersion?: string } | undefined;
    if (!metadata) return;
    if (metadata.resourceVersion) this.resourceVersion = metadata.resourceVersion;
    if (type === 'BOOKMARK') return;
    const status = obj.status as
      | { phase?: string; observedGeneration?: number; lastDeliveryTime?: string; conditions?: Array<{ type: string; status: string }> }
      | undefined;
    this.known.add(metadata.name);
    if (type === 'DELETED') this.deleted.add(metadata.name);
    else if (status?.phase && TERMINAL.has(status.phase) && !this.terminalAt.has(metadata.name)) this.terminalAt.set(metadata.name, at);
    if (status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') && status.observedGeneration === metadata.generation) this.ready.add(metadata.name);
    if (status?.lastDeliveryTime) this.lastDelivery.set(metadata.name, status.lastDeliveryTime);
    for (const wake of this.waiters.splice(0)) wake();
  }

  /** Until every name is in `set`; checked incrementally, so that waiting for N names costs O(N) in all. */
  untilAll(what: string, names: readonly string[], set: { has(name: string): boolean }): Promise<void> {
    let next = 0;
    return this.until(what, () => {
      while (next < names.length && set.has(names[next]!)) next++;
      return next === names.length;
    });
  }

  async until(what: string, done: () => boolean, timeoutMs = 300_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!done()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 500);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  close(): void {
    this.closed = true;
    this.watch?.close();
  }
}

// ---------------------------------------------------------------- CPU accounting

interface CpuWindow {
  elapsedMs: number;
  /** CPU milliseconds per process label. */
  cpu: Record<string, number>;
}

function cpuSnapshot(pids: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(pids).map(([label, pid]) => [label, cpuMs(pid)]));
}

async function measured<T>(pids: Record<string, number>, fn: () => Promise<T>): Promise<{ result: T; window: CpuWindow }> {
  const before = cpuSnapshot(pids);
  const t0 = now();
  const result = await fn();
  const after = cpuSnapshot(pids);
  return { result, window: { elapsedMs: now() - t0, cpu: Object.fromEntries(Object.keys(pids).map((k) => [k, after[k]! - before[k]!])) } };
}

// ---------------------------------------------------------------- the figures

interface RaiseRun {
  rate: number;
  latencies: number[];
  window: CpuWindow;
  clientCpuMs: number;
}

const raiseSpec = (event: string, syncMode: boolean) => ({ event, syncMode, params: [{ name: 'raise', string: '{name}' }, { name: 'n', int: '{i}' }] });

/** The terminal status the operator writes for a raise to one subscriber that answered (sync) or was written to (async). */
function operatorLikeStatus(syncMode: boolean): Record<string, unknown> {
  const condition = { type: 'Complete', status: 'True', observedGeneration: 1, lastTransitionTime: '{now}' };
  return syncMode
    ? {
        observedGeneration: 1,
        phase: 'Delivered',
        matched: 1,
        delivered: 1,
        failed: 0,
        startTime: '{now}',
        completionTime: '{now}',
        deliveries: [{ subscriber: 'sink', url: `http://127.0.0.1:${sinkPort}/RPC2`, method: 'm', outcome: 'Delivered', httpStatus: 200, attempts: 1, durationMs: 1 }],
        conditions: [{ ...condition, reason: 'Delivered', message: '1 of 1 subscribers answered with success' }],
      }
    : {
        observedGeneration: 1,
        phase: 'Dispatched',
        matched: 1,
        delivered: 1,
        failed: 0,
        startTime: '{now}',
        completionTime: '{now}',
        conditions: [{ ...condition, reason: 'Dispatched', message: 'request written to 1 of 1 subscribers; responses are not awaited in async mode' }],
      };
}

let runNumber = 0;

/** `count` raises by the operator (baseline: false) or by the bare client alone (baseline: true). */
async function raiseRun(opts: { baseline: boolean; syncMode: boolean; count: number; ratePerSec?: number }): Promise<RaiseRun> {
  const namespace = opts.baseline ? NS.bare : NS.op;
  const observer = opts.baseline ? bareRaises : opRaises;
  const prefix = `r${runNumber++}`;
  const pids = { operator: operator.pid, apiserver: cp.pids.apiServer!, etcd: cp.pids.etcd!, writer: writer.child.pid, bench: process.pid, sink: sink.pid };
  const { result, window } = await measured(pids, async () => {
    const res = await writer.run({
      namespace,
      plural: 'eventraises',
      kind: 'EventRaise',
      prefix,
      count: opts.count,
      concurrency: WRITER_CONCURRENCY,
      ratePerSec: opts.ratePerSec,
      spec: raiseSpec('E_RATE', opts.syncMode),
      status: opts.baseline ? operatorLikeStatus(opts.syncMode) : undefined,
    });
    await observer.untilAll(`${prefix}: ${opts.count} terminal raises`, Object.keys(res.startedAt), observer.terminalAt);
    return res;
  });
  const names = Object.keys(result.startedAt);
  const first = Math.min(...names.map((n) => result.startedAt[n]!));
  const last = Math.max(...names.map((n) => observer.terminalAt.get(n)!));
  return {
    rate: (opts.count * 1000) / (last - first),
    latencies: names.map((n) => observer.terminalAt.get(n)! - result.startedAt[n]!),
    window: { ...window, elapsedMs: last - first },
    clientCpuMs: result.cpuMs,
  };
}

/** Runs `op` and `bare` alternately, `N.reps` times, the order swapped every other repetition. */
async function interleaved<T>(bare: () => Promise<T>, op: () => Promise<T>): Promise<{ op: T[]; bare: T[] }> {
  const result = { op: [] as T[], bare: [] as T[] };
  for (let rep = 0; rep < N.reps; rep++) {
    if (rep % 2 === 0) {
      result.bare.push(await bare());
      result.op.push(await op());
    } else {
      result.op.push(await op());
      result.bare.push(await bare());
    }
  }
  return result;
}

const pair = <T>(runs: { op: T[]; bare: T[] }, f: (r: T) => number): Paired => ({ values: runs.op.map(f), baselines: runs.bare.map(f) });

function cpuReport(label: string, runs: { op: RaiseRun[]; bare: RaiseRun[] }, count: number): void {
  const per = (rs: RaiseRun[], k: string) => median(rs.map((r) => r.window.cpu[k]! / count));
  const clientPer = (rs: RaiseRun[]) => median(rs.map((r) => r.clientCpuMs / count));
  out(figure(`  CPU per raise of the operator vs the bare client (${label})`, 'ms', { values: runs.op.map((r) => r.window.cpu.operator! / count), baselines: runs.bare.map((r) => r.clientCpuMs / count) }, 2));
  const line = (name: string, rs: RaiseRun[], client: string, clientMs: number) => {
    const cores = median(rs.map((r) => Object.values(r.window.cpu).reduce((a, b) => a + b, 0) / r.window.elapsedMs));
    const shares: Array<[string, number]> = [
      [client, clientMs],
      ['kube-apiserver', per(rs, 'apiserver')],
      ['etcd', per(rs, 'etcd')],
      ['bench observer', per(rs, 'bench')],
      ['sink', per(rs, 'sink')],
    ];
    const top = [...shares].sort((a, b) => b[1] - a[1])[0]!;
    out(
      `  ${name}: ${shares.map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')} ms CPU per raise; ` +
        `${cores.toFixed(2)} of ${os.availableParallelism()} cores busy; the largest share: ${top[0]}`,
    );
  };
  line('operator run', runs.op, 'operator', per(runs.op, 'operator'));
  line('baseline run', runs.bare, 'bare client', clientPer(runs.bare));
}

async function throughput(syncMode: boolean): Promise<RaiseRun[]> {
  const label = syncMode ? 'sync' : 'async';
  say(`throughput, ${label}: ${N.reps} x (${N.rate} raises by the operator, ${N.rate} by the bare client)`);
  const runs = await interleaved(
    () => raiseRun({ baseline: true, syncMode, count: N.rate }),
    () => raiseRun({ baseline: false, syncMode, count: N.rate }),
  );
  out(figure(`${label} raises/s, ${N.rate} raises, 1 subscriber (baseline: bare client, create + status)`, 'raises/s', pair(runs, (r) => r.rate), 0));
  cpuReport(label, runs, N.rate);
  return runs.op;
}

async function latency(ratePerSec: number, label: string): Promise<{ op: RaiseRun[]; bare: RaiseRun[] }> {
  say(`latency ${label}: ${N.reps} x ${N.latency} sync raises paced at ${ratePerSec.toFixed(0)}/s`);
  const runs = await interleaved(
    () => raiseRun({ baseline: true, syncMode: true, count: N.latency, ratePerSec }),
    () => raiseRun({ baseline: false, syncMode: true, count: N.latency, ratePerSec }),
  );
  out(figure(`p50 create -> terminal at ${ratePerSec.toFixed(0)}/s${label}`, 'ms', pair(runs, (r) => quantile(r.latencies, 0.5))));
  out(figure(`p99 create -> terminal at ${ratePerSec.toFixed(0)}/s${label}`, 'ms', pair(runs, (r) => quantile(r.latencies, 0.99))));
  return runs;
}

async function createSubscribers(namespace: string, observer: Observer, prefix: string, count: number, event: string, socket: string): Promise<void> {
  await writer.run({ namespace, plural: 'subscribers', kind: 'Subscriber', prefix, count, concurrency: WRITER_CONCURRENCY, spec: { event, socket } });
  await observer.untilAll(`${count} ${prefix} subscribers Ready`, Array.from({ length: count }, (_, i) => `${prefix}-${i}`), observer.ready);
}

interface Resting {
  rss: number;
  heap: number;
}

/**
 * RSS and heap of the operator at rest: once nothing happens, V8's memory
 * reducer collects and gives pages back within some seconds; wait until RSS
 * has not fallen for 3 s (at most 20 s) so that a figure is what is kept, not garbage.
 */
async function resting(operator: OperatorProcess): Promise<Resting> {
  let lowest = memoryMiB(operator.pid).rss;
  let steady = 0;
  for (let waited = 0; waited < (SMALL ? 2_000 : 20_000) && steady < 3; waited += 1_000) {
    await sleep(1_000);
    const rss = memoryMiB(operator.pid).rss;
    steady = rss > lowest - 1 ? steady + 1 : 0;
    lowest = Math.min(lowest, rss);
  }
  return { rss: memoryMiB(operator.pid).rss, heap: await heapUsedMiB(operator) };
}

interface MemoryStep {
  label: string;
  before: Resting;
  after: Resting;
}

function memoryFigure(variant: string, steps: MemoryStep[], pid: number): void {
  for (const { label, before, after } of steps) {
    out(
      `RSS ${variant}, ${label}: ${after.rss.toFixed(0)} MiB, baseline ${before.rss.toFixed(0)} MiB, ratio ${(after.rss / before.rss).toFixed(2)}; ` +
        `growth ${(after.rss - before.rss).toFixed(0)} MiB (V8 heap in use ${before.heap.toFixed(0)} -> ${after.heap.toFixed(0)} MiB)`,
    );
  }
  out(`RSS ${variant}, peak (VmHWM) over the run: ${memoryMiB(pid).peak.toFixed(0)} MiB`);
}

/** Raises that the operator finishes and deletes at once (ttlSecondsAfterFinished: 0). */
async function ttlRaises(namespace: string, observer: Observer, count: number): Promise<void> {
  const spec = { ...raiseSpec('E_RATE', true), ttlSecondsAfterFinished: 0 };
  const res = await writer.run({ namespace, plural: 'eventraises', kind: 'EventRaise', prefix: `ttl${runNumber++}`, count, concurrency: WRITER_CONCURRENCY, spec });
  await observer.untilAll(`${count} raises deleted after their ttl`, Object.keys(res.startedAt), observer.deleted);
}

async function keptRaises(namespace: string, observer: Observer, count: number): Promise<void> {
  const res = await writer.run({ namespace, plural: 'eventraises', kind: 'EventRaise', prefix: `kept${runNumber++}`, count, concurrency: WRITER_CONCURRENCY, spec: raiseSpec('E_RATE', true) });
  await observer.untilAll(`${count} kept raises terminal`, Object.keys(res.startedAt), observer.terminalAt);
}

/** One sync raise to N.fanout subscribers, against create + N.fanout raw POSTs at once + the status PUT. */
async function fanout(): Promise<void> {
  say(`fan-out: ${N.fanout} subscribers of one event`);
  const subscribers = await Observer.start(NS.op, 'subscribers');
  await createSubscribers(NS.op, subscribers, 'fan', N.fanout, 'E_FAN', `xmlrpc:127.0.0.1:${sinkPort}:m`);
  const target = parseSocket(`xmlrpc:127.0.0.1:${sinkPort}:m`);
  if (!target.ok) throw new Error('bad sink socket');
  const base = (ns: string) => `/apis/eventxmlrpc.io/v1alpha1/namespaces/${ns}/eventraises`;
  let n = 0;
  const once = async (baseline: boolean): Promise<number> => {
    const name = `fan-${n++}`;
    const params = [{ name: 'raise', string: name }];
    const observer = baseline ? bareRaises : opRaises;
    const t0 = now();
    const created = await api.request<Record<string, unknown>>('POST', base(baseline ? NS.bare : NS.op), {
      apiVersion: 'eventxmlrpc.io/v1alpha1',
      kind: 'EventRaise',
      metadata: { name },
      spec: { event: 'E_FAN', syncMode: true, params },
    });
    if (baseline) {
      const body = encodeMethodCall({ method: 'm', event: 'E_FAN', params, useStructParam: false });
      const results = await Promise.all(Array.from({ length: N.fanout }, () => rawPost(target.target, body)));
      const stamp = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
      const deliveries = results.slice(0, 100).map((status, i) => ({ subscriber: `fan-${i}`, url: target.target.url, method: 'm', outcome: 'Delivered', httpStatus: status, attempts: 1, durationMs: 1 }));
      await api.request('PUT', `${base(NS.bare)}/${name}/status`, {
        ...created,
        status: { observedGeneration: 1, phase: 'Delivered', matched: N.fanout, delivered: N.fanout, failed: 0, startTime: stamp, completionTime: stamp, deliveries },
      });
    }
    await observer.until(`${name} terminal`, () => observer.terminalAt.has(name));
    const took = observer.terminalAt.get(name)! - t0;
    if (!baseline) {
      // The health writes that follow (one per subscriber, coalesced over 5 s) must not overlap the next run.
      const since = t0 - 1000;
      const healthWritten = { has: (sub: string) => Date.parse(subscribers.lastDelivery.get(sub) ?? '') >= since };
      await subscribers.untilAll('fan-out health written', Array.from({ length: N.fanout }, (_, i) => `fan-${i}`), healthWritten);
      await sleep(1_000);
    }
    return took;
  };
  const runs = await interleaved(() => once(true), () => once(false));
  out(figure(`one sync raise to ${N.fanout} subscribers, create -> terminal (baseline: create + ${N.fanout} raw POSTs at once + status)`, 'ms', pair(runs, (x) => x), 0));
  subscribers.close();
}

function rawPost(target: DeliveryTarget, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: target.host, port: target.port, path: target.path, method: 'POST', agent: false, headers: Object.fromEntries(requestHeaders(target, 'bench', body)) },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** HttpSender.send against a raw http.request loop, SENDER_CONCURRENCY at once, to the same sink. */
async function sender(): Promise<void> {
  say(`sender: ${N.reps} x ${N.sends} requests, ${SENDER_CONCURRENCY} at once`);
  const parsed = parseSocket(`xmlrpc:127.0.0.1:${sinkPort}:m`);
  if (!parsed.ok) throw new Error('bad sink socket');
  const target = parsed.target;
  const body = encodeMethodCall({ method: 'm', event: 'E_SEND', params: [{ name: 'ip', string: '192.168.2.11' }, { name: 'count', int: 3 }], useStructParam: false });
  const httpSender = new HttpSender({ userAgent: 'bench', connectTimeoutMs: 5_000, responseTimeoutMs: 15_000, maxResponseBytes: 65_536 });
  const loop = async (one: () => Promise<unknown>): Promise<number> => {
    let left = N.sends;
    const t0 = now();
    await Promise.all(
      Array.from({ length: SENDER_CONCURRENCY }, async () => {
        while (left-- > 0) await one();
      }),
    );
    return (N.sends * 1000) / (now() - t0);
  };
  const viaSender = () =>
    loop(async () => {
      const result = await httpSender.send(target, body).result;
      if (result.outcome !== 'Delivered') throw new Error(`sender: ${JSON.stringify(result)}`);
    });
  const viaRaw = () =>
    loop(async () => {
      if ((await rawPost(target, body)) !== 200) throw new Error('raw: not 200');
    });
  await viaRaw(); // warm-up of both sides
  await viaSender();
  // What got itself costs: a prepared instance, the same options and headers, the body read; nothing of ours.
  const agent = new http.Agent({ keepAlive: false });
  const bareGot = got.extend({ agent: { http: agent }, retry: { limit: 0 }, throwHttpErrors: false, followRedirect: false, decompress: false, timeout: { connect: 5_000, response: 15_000, read: 15_000 } });
  const headers = Object.fromEntries(requestHeaders(target, 'bench', body));
  const viaGot = () =>
    loop(
      () =>
        new Promise<void>((resolve, reject) => {
          const stream = bareGot.stream.post(target.url, { body, request: (url, opts, callback) => http.request(url, { ...opts, headers }, callback) });
          stream.once('error', reject).on('data', () => {}).once('end', resolve);
        }),
    );
  await viaGot();
  const runs = await interleaved(viaRaw, viaSender);
  out(figure(`HttpSender.send, ${SENDER_CONCURRENCY} at once (baseline: raw http.request loop, Connection: close, same sink)`, 'req/s', pair(runs, (x) => x), 0));
  const gotRuns = await interleaved(viaRaw, viaGot);
  out(figure(`  got alone (prepared got.extend, stream, the same headers; baseline: the raw loop again)`, 'req/s', pair(gotRuns, (x) => x), 0));
  httpSender.close();
  agent.destroy();
}

// ---------------------------------------------------------------- the run

say(`${SMALL ? 'small run (tiny counts)' : 'full run'} on ${machine()}`);
say('compiling the operator (npm run build)');
{
  const tsc = spawn(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' });
  const [code] = (await once(tsc, 'exit')) as [number];
  if (code !== 0) throw new Error(`tsc exited with ${code}`);
}
const workDir = mkdtempSync(path.join(os.tmpdir(), 'event-xmlrpc-bench-'));
const kubeconfigFile = path.join(workDir, 'kubeconfig');
const cp = await ControlPlane.start({ binDir: await buildBinaries(), log: say });
let endpointFields: Pick<WriterJob, 'server' | 'caFile' | 'token'>;
let api!: BareClient;
let writer: Writer;
let sink: Child;
let sinkPort: number;
let operator: OperatorProcess;
let opRaises: Observer;
let bareRaises: Observer;
const children: Child[] = [];
try {
  await applyCrds(cp.kubeConfig('admin'), () => {});
  cp.writeKubeconfig(kubeconfigFile, 'admin');
  endpointFields = { server: cp.server, caFile: cp.caFile, token: cp.adminToken };
  api = new BareClient({ server: cp.server, ca: readFileSync(cp.caFile), token: cp.adminToken });
  for (const name of Object.values(NS)) await api.request('POST', '/api/v1/namespaces', { metadata: { name } });

  sink = startChild(['--import', 'tsx', 'bench/sink.ts']);
  children.push(sink);
  sinkPort = Number(await nextLine(sink, 'sink'));
  const writerChild = startChild(['--import', 'tsx', 'bench/writer.ts']);
  children.push(writerChild);
  await nextLine(writerChild, 'writer');
  writer = new Writer(writerChild);

  opRaises = await Observer.start(NS.op, 'eventraises');
  bareRaises = await Observer.start(NS.bare, 'eventraises');
  const opSubscribers = await Observer.start(NS.op, 'subscribers');

  operator = await startOperator('compiled', [...OPERATOR_NODE_FLAGS, ...(PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`] : []), 'dist/main.js'], NS.op);
  children.push(operator);
  const apiPort = Number(new URL(cp.server).port);
  let peakSockets = 0;
  const sampler = setInterval(() => (peakSockets = Math.max(peakSockets, connectionsTo(operator.pid, apiPort))), 100);
  await createSubscribers(NS.op, opSubscribers, 'sink', 1, 'E_RATE', `xmlrpc:127.0.0.1:${sinkPort}:m`);
  const idle = await resting(operator);
  say(`operator (node dist/main.js) idle: ${idle.rss.toFixed(0)} MiB RSS`);

  await raiseRun({ baseline: false, syncMode: true, count: Math.min(N.rate, 200) }); // warm-up: JIT, connections
  await raiseRun({ baseline: true, syncMode: true, count: Math.min(N.rate, 200) });
  out(`# ${SMALL ? 'SMALL RUN, tiny counts: the figures mean nothing' : 'full run'}; ${machine()}; every figure: value, baseline, ratio [min/median/max] over ${N.reps} interleaved repetitions`);
  const sync = await throughput(true);
  await throughput(false);
  if (ONLY_THROUGHPUT) {
    await stopChild(operator);
    process.exit(0);
  }
  const pace = 0.5 * median(sync.map((r) => r.rate));
  const plain = await latency(pace, '');
  out(`sockets from the operator to the apiserver, peak sampled every 100 ms: ${peakSockets}, baseline 1`);

  const memory: MemoryStep[] = [];
  // The raises of the figures above stay; more are added up to N.bulk kept.
  if (opRaises.terminalAt.size < N.bulk) await keptRaises(NS.op, opRaises, N.bulk - opRaises.terminalAt.size);
  const kept = opRaises.terminalAt.size;
  memory.push({ label: `idle -> ${kept} finished raises kept`, before: idle, after: await resting(operator) });
  say(`memory: ${N.bulk} raises with ttlSecondsAfterFinished: 0`);
  let before = memory.at(-1)!.after;
  await ttlRaises(NS.op, opRaises, N.bulk);
  memory.push({ label: `+ ${N.bulk} finished raises deleted by their ttl`, before, after: await resting(operator) });

  say(`${N.crowd} unrelated subscribers`);
  before = memory.at(-1)!.after;
  await createSubscribers(NS.op, opSubscribers, 'crowd', N.crowd, 'E_OTHER', `xmlrpc:127.0.0.1:${sinkPort}:m`);
  memory.push({ label: `+ ${N.crowd} unrelated subscribers`, before, after: await resting(operator) });
  const crowded = await latency(pace, `, with ${N.crowd} unrelated subscribers`);
  const p99 = (r: RaiseRun) => quantile(r.latencies, 0.99);
  out(figure(`p99 with ${N.crowd} unrelated subscribers (baseline: the operator's p99 without them, measured before)`, 'ms', { values: crowded.op.map(p99), baselines: plain.op.map(p99) }));
  out(
    figure(`  the same, each p99 first divided by the bare client's p99 of its own repetition`, 'x', {
      values: crowded.op.map((r, i) => p99(r) / p99(crowded.bare[i]!)),
      baselines: plain.op.map((r, i) => p99(r) / p99(plain.bare[i]!)),
    }, 2),
  );
  await fanout();
  out(`sockets from the operator to the apiserver, peak over everything above: ${peakSockets}, baseline 1`);
  clearInterval(sampler);
  memoryFigure('node dist/main.js', memory, operator.pid);
  await stopChild(operator);

  // npm start: the first memory step again; what tsx adds (its loader, the transformed sources) shows there,
  // and the later steps run the same code (one step keeps the whole run within 10 minutes).
  say('memory of the operator under tsx (npm start)');
  const tsxRaises = await Observer.start(NS.tsx, 'eventraises');
  const tsxSubscribers = await Observer.start(NS.tsx, 'subscribers');
  const tsxOperator = await startOperator('tsx', [...OPERATOR_NODE_FLAGS, '--import', 'tsx', 'src/main.ts'], NS.tsx);
  children.push(tsxOperator);
  await createSubscribers(NS.tsx, tsxSubscribers, 'sink', 1, 'E_RATE', `xmlrpc:127.0.0.1:${sinkPort}:m`);
  const tsxMemory: MemoryStep[] = [];
  const tsxIdle = await resting(tsxOperator);
  await keptRaises(NS.tsx, tsxRaises, N.bulk);
  tsxMemory.push({ label: `idle -> ${N.bulk} finished raises kept`, before: tsxIdle, after: await resting(tsxOperator) });
  memoryFigure('npm start (tsx)', tsxMemory, tsxOperator.pid);
  await stopChild(tsxOperator);

  await sender();
  for (const o of [opRaises, bareRaises, opSubscribers, tsxRaises, tsxSubscribers]) o.close();
  say(`done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
} catch (err) {
  say(`failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}; the operators' logs are kept in ${workDir}`);
  process.exitCode = 1;
} finally {
  for (const child of children) await stopChild(child).catch(() => {});
  api?.close();
  await cp.stop();
  if (!process.exitCode) rmSync(workDir, { recursive: true, force: true });
}
process.exit(process.exitCode ?? 0);
