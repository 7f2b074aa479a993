// The runner behind `npm test` (unit + integration, against one real control
// plane shared by every test file) and `npm run test:unit` (no control plane).
//
//   tsx test/run.ts [--unit] [file-filter...] [--node-test-flag=value...] [-- args for node --test...]
//
// A bare word keeps only the test files whose path contains it; a word starting
// with "-" and everything after "--" goes to `node --test` (so use the
// `--flag=value` form, e.g. `npm test -- --test-name-pattern=operator`).
import { spawn, type ChildProcess } from 'node:child_process';
import { globSync } from 'node:fs';
import path from 'node:path';
import { applyCrds, buildBinaries } from './controlplane/bootstrap.js';
import { ControlPlane } from './controlplane/control-plane.js';
import { CLUSTER_ENV, writeClusterInfo } from './support/cluster.js';

const root = path.resolve(import.meta.dirname, '..');
const say = (line: string): void => void process.stderr.write(`[test] ${line}\n`);

const { unit, filters, nodeTestArgs } = parseArgs(process.argv.slice(2));
const files = testFiles(unit ? ['test/unit/**/*.test.ts'] : ['test/unit/**/*.test.ts', 'test/integration/**/*.test.ts'], filters);
if (files.length === 0) {
  say(filters.length ? `no test file matches ${filters.join(', ')}` : 'no test files');
  process.exit(filters.length ? 1 : 0);
}

let cp: ControlPlane | undefined;
let tests: ChildProcess | undefined;
let stopped: Promise<void> | undefined;
let exitCode: number | undefined;

/** Every path out goes through here; the first caller's code wins (a signal, then the tests ending). */
async function shutdown(code: number): Promise<never> {
  exitCode ??= code;
  stopped ??= cp?.stop().catch((err: unknown) => say(`stopping the control plane: ${String(err)}`));
  await stopped;
  process.exit(exitCode);
}

for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
  process.on(signal, () => {
    say(`${signal}: stopping`);
    tests?.kill(signal);
    void shutdown(code);
  });
}

try {
  const env = { ...process.env };
  if (!unit) {
    const binDir = await timed('binaries', buildBinaries);
    cp = await timed('control plane start', () => ControlPlane.start({ binDir, log: say }));
    await timed('CRDs', () => applyCrds(cp!.kubeConfig('admin'), say));
    const infoFile = path.join(cp.dataDir, 'cluster.json');
    writeClusterInfo(infoFile, cp);
    env[CLUSTER_ENV] = infoFile;
  }
  const code = await timed('tests', () => runTests(files, nodeTestArgs, env));
  await shutdown(code);
} catch (err) {
  say(err instanceof Error ? (err.stack ?? err.message) : String(err));
  await shutdown(1);
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

function runTests(files: string[], extraArgs: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const args = ['--import', 'tsx', '--test', '--test-concurrency=4', '--test-timeout=120000', ...extraArgs, ...files];
  return new Promise((resolve, reject) => {
    tests = spawn(process.execPath, args, { cwd: root, env, stdio: 'inherit' });
    tests.on('error', reject);
    tests.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}
