// The runner behind `npm test` (unit + integration, against one real control
// plane shared by every test file) and `npm run test:unit` (no control plane).
//
//   tsx test/run.ts [--unit] [file-filter...] [--node-test-flag=value...] [-- args for node --test...]
//
// A bare word keeps only the test files whose path contains it; a word starting
// with "-" and everything after "--" goes to `node --test` (so use the
// `--flag=value` form, e.g. `npm test -- --test-name-pattern=operator`).
//
// The unit tests run at once, all in one process (they need no control
// plane, and a process per file would load tsx and their imports 34 times).
// While the control plane starts, it type-checks everything (tsc --noEmit) and
// builds dist/ (npm run build), which the tests' child processes run, as the
// image and the npm bin do; both incremental. The integration files are split
// between SHARDS processes of about equal length, by the durations of the last
// run (kept in ~/.cache/event-xmlrpc-operator), each running its files one
// after another.
//
// Two phases on the one control plane of the run. First every test file but
// the apiserver-fault ones, in those processes at once. Then the files whose path contains
// "faults-apiserver", one after another in one process, alone on the control plane, since they
// stop and start the kube-apiserver under every client. Only that second phase
// gets EVENT_XMLRPC_TEST_CONTROL, the base URL of a control endpoint the runner
// serves on 127.0.0.1 (a random token in the path keeps other local processes out):
//
//   POST $EVENT_XMLRPC_TEST_CONTROL/apiserver/stop    204 once kube-apiserver has exited (SIGTERM: it
//                                                     closes its port at once and ends open watches
//                                                     when it exits; SIGKILL after 5 s)
//   POST $EVENT_XMLRPC_TEST_CONTROL/apiserver/start   204 once it serves /readyz again:
//                                                     same port, etcd, certificates and flags
//
// Any failure answers 500 with the reason as text. Requests are handled one at
// a time. An apiserver left stopped is started again by the runner after
// MAX_APISERVER_DOWN_MS, and at the end of that phase.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { globSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { applyCrds, buildBinaries } from './controlplane/bootstrap.js';
import { ControlPlane } from './controlplane/control-plane.js';
import { CLUSTER_ENV, writeClusterInfo } from './support/cluster.js';
import { childrenCpuMs, cpuMs } from '../bench/support/proc.js';

const root = path.resolve(import.meta.dirname, '..');
/** Test files that run after all others, one at a time, with the apiserver control endpoint. */
const ALONE = ['faults-apiserver'];
const CONTROL_ENV = 'EVENT_XMLRPC_TEST_CONTROL';
const MAX_APISERVER_DOWN_MS = 30_000;
/** The cache of build-binaries.sh; the runner keeps each file's last duration there. */
const CACHE_DIR = process.env.EVENT_XMLRPC_CACHE ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'event-xmlrpc-operator');
const DURATIONS_FILE = path.join(CACHE_DIR, 'test-durations.json');
const TSC = path.join(root, 'node_modules/typescript/bin/tsc');
/**
 * Processes the integration files are split between, each running its files
 * one after another: a process per file would load tsx and client-node (about
 * 2.5 s of CPU) 30 times over.
 */
const SHARDS = 4;
const say = (line: string): void => void process.stderr.write(`[test] ${line}\n`);

const { unit, filters, nodeTestArgs } = parseArgs(process.argv.slice(2));
const files = testFiles(unit ? ['test/unit/**/*.test.ts'] : ['test/unit/**/*.test.ts', 'test/integration/**/*.test.ts'], filters);
if (files.length === 0) {
  say(filters.length ? `no test file matches ${filters.join(', ')}` : 'no test files');
  process.exit(filters.length ? 1 : 0);
}

let cp: ControlPlane | undefined;
let control: ApiServerControl | undefined;
const running = new Set<ChildProcess>();
/** CPU of the kube-apiserver processes a test stopped (the one running at the end is read then). */
let stoppedApiServersCpuMs = 0;
let runs = 0;
let stopped: Promise<void> | undefined;
let exitCode: number | undefined;

/** Every path out goes through here; the first caller's code wins (a signal, then the tests ending). */
async function shutdown(code: number): Promise<never> {
  exitCode ??= code;
  if (code !== 130 && code !== 143) reportCpu();
  control?.close();
  stopped ??= cp?.stop().catch((err: unknown) => say(`stopping the control plane: ${String(err)}`));
  await stopped;
  process.exit(exitCode);
}

for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
  process.on(signal, () => {
    say(`${signal}: stopping`);
    for (const child of running) child.kill(signal);
    void shutdown(code);
  });
}

try {
  const env = { ...process.env };
  const unitFiles = files.filter((file) => file.startsWith('test/unit/'));
  const integrationFiles = files.filter((file) => !unitFiles.includes(file));
  // The unit tests need no control plane: all in one process (tsx and their imports load once), at once.
  const unitsEnded = unitFiles.length ? timed('unit tests (one process)', () => runTests(unitFiles, nodeTestArgs, env)) : Promise.resolve(0);
  // The type check (and, for the integration tests, the build) runs while the control plane starts.
  const checked = timed('type check (tsc --noEmit)', () => tsc(['-p', 'tsconfig.json', '--noEmit', '--incremental', '--tsBuildInfoFile', path.join(root, 'node_modules/.cache/tsc/typecheck.tsbuildinfo')]));
  checked.catch(() => {});
  if (integrationFiles.length) {
    // Child processes run the compiled entry points (test/support/entry-points.ts).
    const built = timed('npm run build', () => tsc(['-p', 'tsconfig.build.json', '--incremental', '--tsBuildInfoFile', path.join(root, 'dist/.tsbuildinfo')]));
    built.catch(() => {});
    const binDir = await timed('binaries', buildBinaries);
    cp = await timed('control plane start', () => ControlPlane.start({ binDir, log: say }));
    await timed('CRDs', () => applyCrds(cp!.kubeConfig('admin'), say));
    await built;
    const infoFile = path.join(cp.dataDir, 'cluster.json');
    writeClusterInfo(infoFile, cp);
    env[CLUSTER_ENV] = infoFile;
  }
  // The integration tests start as soon as the control plane is up; the unit tests and the type check end meanwhile.
  const checkedAndUnits = Promise.all([checked, unitsEnded]);
  checkedAndUnits.catch(() => {});
  let code = 0;
  const alone = integrationFiles.filter((file) => ALONE.some((pattern) => file.includes(pattern)));
  const together = integrationFiles.filter((file) => !alone.includes(file));
  if (together.length) {
    const groups = shards(together, SHARDS);
    const ended = await timed(`tests (${groups.length} process${groups.length === 1 ? '' : 'es'} at once)`, () =>
      Promise.all(groups.map((group, i) => timed(`  process ${i + 1} of ${groups.length} (${group.length} files)`, () => runTests(group, nodeTestArgs, env)))),
    );
    code ||= ended.find((c) => c !== 0) ?? 0;
  }
  const [, unitCode] = await checkedAndUnits;
  code ||= unitCode;
  if (alone.length) {
    control = await serveApiServerControl(cp!);
    const url = control.url;
    // One process, the files one after another: each is alone on the control plane.
    code ||= await timed(`tests alone: ${alone.join(', ')}`, () => runTests(alone, nodeTestArgs, { ...env, [CONTROL_ENV]: url }));
    await control.ensureRunning();
  }
  await shutdown(code);
} catch (err) {
  say(err instanceof Error ? (err.stack ?? err.message) : String(err));
  await shutdown(1);
}

/** Where the run's CPU went: the test processes (with every process they waited for), and the control plane. */
function reportCpu(): void {
  const seconds = (ms: number) => `${(ms / 1000).toFixed(0)} s`;
  const parts = [`test processes ${seconds(childrenCpuMs())}`];
  if (cp) parts.push(`kube-apiserver ${seconds(stoppedApiServersCpuMs + cpuOf(cp.pids.apiServer))}`, `etcd ${seconds(cpuOf(cp.pids.etcd))}`);
  say(`CPU: ${parts.join(', ')}`);
}

function cpuOf(pid: number | undefined): number {
  try {
    return pid === undefined ? 0 : cpuMs(pid);
  } catch {
    return 0; // exited already
  }
}

function parseArgs(argv: string[]): { unit: boolean; filters: string[]; nodeTestArgs: string[] } {
  const dashDash = argv.indexOf('--');
  const own = dashDash === -1 ? argv : argv.slice(0, dashDash);
  const nodeTestArgs = own.filter((a) => a.startsWith('-') && a !== '--unit');
  if (dashDash !== -1) nodeTestArgs.push(...argv.slice(dashDash + 1));
  return { unit: own.includes('--unit'), filters: own.filter((a) => !a.startsWith('-')), nodeTestArgs };
}

function testFiles(patterns: string[], filters: string[]): string[] {
  return patterns
    .flatMap((pattern) => globSync(pattern, { cwd: root }))
    .sort()
    .filter((file) => filters.length === 0 || filters.some((f) => file.includes(f)));
}

async function timed<T>(phase: string, fn: () => Promise<T>): Promise<T> {
  const start = performance.now();
  try {
    return await fn();
  } finally {
    say(`${phase}: ${((performance.now() - start) / 1000).toFixed(1)}s`);
  }
}

/** tsc with `args`, incremental so that a run after no change checks in a second; its messages go to stderr. */
function tsc(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [TSC, ...args], { cwd: root, stdio: ['ignore', 2, 2] });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`tsc ${args.join(' ')} exited ${code}`))));
  });
}

/**
 * The files split into `count` groups of about equal length, each run by one
 * process: the longest first, each to the group with the least so far (by
 * the durations of the last run; a file never timed counts as long as the
 * average one, and without any record the file's size stands for it).
 */
function shards(files: string[], count: number): string[][] {
  const last = readDurations();
  const known = files.map((file) => last[file]).filter((ms): ms is number => ms !== undefined);
  const average = known.length ? known.reduce((a, b) => a + b, 0) / known.length : 0;
  const weight = (file: string) => (known.length ? (last[file] ?? average) : statSync(path.join(root, file)).size);
  const groups = Array.from({ length: Math.min(count, files.length) }, () => ({ files: [] as string[], total: 0 }));
  for (const file of [...files].sort((a, b) => weight(b) - weight(a) || a.localeCompare(b))) {
    const lightest = groups.reduce((min, g) => (g.total < min.total ? g : min));
    lightest.files.push(file);
    lightest.total += weight(file);
  }
  return groups.map((g) => g.files);
}

function readDurations(): Record<string, number> {
  try {
    return JSON.parse(readFileSync(DURATIONS_FILE, 'utf8')) as Record<string, number>;
  } catch {
    return {};
  }
}

/** `files` one after another in one node --test process, which exits once they are done. */
function runTests(files: string[], extraArgs: string[], env: NodeJS.ProcessEnv): Promise<number> {
  // The spec reporter as usual, and the durations for the next run's order, unless the caller chose reporters.
  const timings = extraArgs.some((a) => a.startsWith('--test-reporter')) ? undefined : path.join(os.tmpdir(), `event-xmlrpc-test-durations-${process.pid}-${++runs}.json`);
  const reporters = timings
    ? ['--test-reporter=spec', '--test-reporter-destination=stdout', `--test-reporter=${path.join(root, 'test/support/durations-reporter.ts')}`, `--test-reporter-destination=${timings}`]
    : [];
  const args = ['--import', 'tsx', '--test', '--experimental-test-isolation=none', '--test-force-exit', '--test-timeout=120000', ...reporters, ...extraArgs, ...files];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: root, env, stdio: 'inherit' });
    running.add(child);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      running.delete(child);
      if (timings) recordDurations(timings);
      resolve(code ?? (signal ? 1 : 0));
    });
  });
}

/** Merges the durations a run wrote into the cache (a file that did not run keeps its last figure). */
function recordDurations(timings: string): void {
  try {
    const written = JSON.parse(readFileSync(timings, 'utf8')) as Record<string, number>;
    // Keyed by the path in the repository, so that every clone on the machine shares them.
    const fresh = Object.fromEntries(Object.entries(written).map(([file, ms]) => [path.relative(root, file), Math.round(ms)]));
    mkdirSync(CACHE_DIR, { recursive: true });
    // Each figure halfway between the last one and this run's: one slow run does not upset the split.
    const last = readDurations();
    const merged = { ...last };
    for (const [file, ms] of Object.entries(fresh)) merged[file] = last[file] === undefined ? ms : Math.round((last[file] + ms) / 2);
    writeFileSync(DURATIONS_FILE, JSON.stringify(merged, null, 1));
  } catch {
    // no durations written (the run was stopped): keep the last ones
  } finally {
    rmSync(timings, { force: true });
  }
}

/** The control endpoint of the second phase: stops and starts the one kube-apiserver. */
interface ApiServerControl {
  url: string;
  /** Starts the apiserver if a test left it stopped. */
  ensureRunning(): Promise<void>;
  close(): void;
}

async function serveApiServerControl(cp: ControlPlane): Promise<ApiServerControl> {
  const token = randomBytes(16).toString('hex');
  let queue: Promise<unknown> = Promise.resolve();
  let down = false;
  let watchdog: NodeJS.Timeout | undefined;

  const serially = (op: () => Promise<void>): Promise<void> => {
    const result = queue.then(op);
    queue = result.catch(() => {});
    return result;
  };
  const start = async (): Promise<void> => {
    clearTimeout(watchdog);
    if (!down) return;
    await cp.startApiServer();
    down = false;
  };
  const stop = async (): Promise<void> => {
    if (down) return;
    say('kube-apiserver: stopping (asked by a test)');
    stoppedApiServersCpuMs += cpuOf(cp.pids.apiServer);
    await cp.stopApiServer();
    down = true;
    watchdog = setTimeout(() => {
      say(`kube-apiserver: down for ${MAX_APISERVER_DOWN_MS / 1000}s, starting it again`);
      serially(start).catch((err: unknown) => say(`starting kube-apiserver: ${String(err)}`));
    }, MAX_APISERVER_DOWN_MS);
  };

  const server = http.createServer((req, res) => {
    req.resume();
    const action = req.method === 'POST' && req.url?.startsWith(`/${token}/`) ? req.url.slice(token.length + 2) : '';
    const op = action === 'apiserver/stop' ? stop : action === 'apiserver/start' ? start : undefined;
    if (!op) {
      res.writeHead(404).end();
      return;
    }
    serially(op).then(
      () => res.writeHead(204).end(),
      (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(String(err)),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/${token}`,
    ensureRunning: () => serially(start),
    close() {
      clearTimeout(watchdog);
      server.close();
      server.closeAllConnections();
    },
  };
}
