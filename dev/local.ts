// `npm run local`: the whole thing on this machine in one command. An embedded
// control plane (the one the tests use), the CRDs, the operator, a demo
// XML-RPC server that prints what it receives, the example Subscribers and one
// example raise. SIGINT (Ctrl-C), SIGTERM or SIGHUP to this process, or to the
// npm that runs it, stops everything it started; so does the death of npm.
//
//   npm run local [-- --port=8090]
//
// The examples it applies are deploy/examples/ with the demo server's port,
// written to .local/examples/ so that applying them again keeps that port.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { KubernetesObjectApi, loadAllYaml, type KubernetesObject } from '@kubernetes/client-node';
import { applyCrds, buildBinaries } from '../test/controlplane/bootstrap.js';
import { ControlPlane } from '../test/controlplane/control-plane.js';
import { startDemoServer, type DemoServer } from './demo-server.js';
import { LogMessage } from '../src/log-messages.js';

const root = path.resolve(import.meta.dirname, '..');
const stateDir = path.join(root, '.local');
const EXAMPLES = path.join(root, 'deploy/examples');
const EXAMPLE_PORT = 8090;
const say = (line: string): void => void process.stdout.write(`[local] ${line}\n`);

const { values } = parseArgs({ options: { port: { type: 'string', default: '8090' } } });
const demoPort = Number(values.port);

let controlPlane: ControlPlane | undefined;
let operator: ChildProcess | undefined;
let demo: DemoServer | undefined;
let stopping: Promise<void> | undefined;

function stop(code: number, why: string): Promise<void> {
  stopping ??= (async () => {
    clearInterval(parentWatch);
    say(`stopping (${why})`);
    if (operator && operator.exitCode === null && operator.signalCode === null) {
      operator.kill('SIGTERM');
      await once(operator, 'exit');
    }
    await demo?.close();
    await controlPlane?.stop();
    say('stopped; nothing is left running');
    process.exit(code);
  })();
  return stopping;
}
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => void stop(0, signal));
// npm forwards SIGINT and SIGTERM to its script, and the script execs node, so
// they arrive here. Should npm die without forwarding (SIGKILL), this process
// is handed to another parent: stop then too, rather than run on unseen.
const parent = process.ppid;
const parentWatch = setInterval(() => {
  if (process.ppid !== parent) void stop(1, `the process that started it, ${parent}, is gone`);
}, 500);
parentWatch.unref();

try {
  demo = await startDemoServer(demoPort, (line) => process.stdout.write(`[xmlrpc-server] ${line}\n`)).catch((err: Error) => {
    throw new Error(`the demo XML-RPC server cannot listen on 127.0.0.1:${demoPort} (${err.message}); pick another port: npm run local -- --port=8091`);
  });
  say(`demo XML-RPC server listening on 127.0.0.1:${demo.port}`);

  controlPlane = await ControlPlane.start({ binDir: await buildBinaries(), log: say });
  const admin = controlPlane.kubeConfig('admin');
  await applyCrds(admin, say);
  mkdirSync(stateDir, { recursive: true });
  const kubeconfig = path.join(stateDir, 'kubeconfig');
  controlPlane.writeKubeconfig(kubeconfig, 'admin');

  // The operator runs as its own user, with only the rights deploy/ grants it.
  const objects = KubernetesObjectApi.makeApiClient(admin);
  const [role] = yamlObjects(path.join(root, 'deploy/cluster-role.yaml'));
  await objects.create(role!);
  await objects.create({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: 'event-xmlrpc-operator' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role!.metadata!.name! },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'event-xmlrpc-operator' }],
  } as KubernetesObject);
  const operatorKubeconfig = path.join(stateDir, 'operator.kubeconfig');
  controlPlane.writeKubeconfig(operatorKubeconfig, 'operator');
  // Free ports: the demo server may take any; relays' sockets then name the loopback.
  operator = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'src/main.ts'), '--http-port=0', '--relay-port=0', '--relay-host=127.0.0.1'], {
    env: { ...process.env, KUBECONFIG: operatorKubeconfig },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  operator.on('exit', (code, signal) => {
    if (!stopping) {
      void stop(1, `the operator exited (${signal ?? code})`);
    }
  });
  await operatorStarted(operator);
  say('operator started (its JSON logs: .local/operator.log)');

  const examples = writeExamples(demo.port);
  for (const file of [...examples.applied, ...examples.created]) {
    for (const obj of yamlObjects(file)) {
      const created = await objects.create(obj);
      say(`created ${created.kind} ${created.metadata?.namespace ?? ''}/${created.metadata?.name}`);
    }
  }

  const relative = path.relative(process.cwd(), examples.dir) || '.';
  say('ready. In another terminal:');
  say(`  export KUBECONFIG=${kubeconfig}`);
  say('  npm run cli -- raise E_PIKE_BLOCKED -n demo ip=10.0.0.7 count:=1 --sync --wait');
  say('  kubectl get xsub,xraise -n demo');
  say(`  kubectl create -f ${relative}/raises/     # the example event again`);
  say(`  kubectl apply -f ${relative}/             # the example Subscribers, with port ${demo.port}`);
  say('Ctrl-C stops everything.');
} catch (err) {
  process.stderr.write(`[local] ${err instanceof Error ? err.message : String(err)}\n`);
  await stop(1, 'failed to start');
}

/**
 * deploy/examples/ with the demo server's port instead of 8090, written to
 * .local/examples/ in the same layout: the files at the top are applied
 * (namespace first, then Subscribers), those in raises/ created.
 */
function writeExamples(port: number): { dir: string; applied: string[]; created: string[] } {
  const dir = path.join(stateDir, 'examples');
  rmSync(dir, { recursive: true, force: true });
  const copy = (sub: string): string[] => {
    mkdirSync(path.join(dir, sub), { recursive: true });
    return readdirSync(path.join(EXAMPLES, sub))
      .filter((f) => f.endsWith('.yaml'))
      .sort((a, b) => Number(!a.startsWith('namespace')) - Number(!b.startsWith('namespace')) || a.localeCompare(b))
      .map((f) => {
        const text = readFileSync(path.join(EXAMPLES, sub, f), 'utf8').replaceAll(`127.0.0.1:${EXAMPLE_PORT}`, `127.0.0.1:${port}`);
        const file = path.join(dir, sub, f);
        writeFileSync(file, text);
        return file;
      });
  };
  return { dir, applied: copy(''), created: copy('raises') };
}

function yamlObjects(file: string): KubernetesObject[] {
  return (loadAllYaml(readFileSync(file, 'utf8')) as (KubernetesObject | null)[]).filter((o): o is KubernetesObject => !!o);
}

/** Resolves on the operator's "operator started" line; its logs go to .local/operator.log. */
function operatorStarted(child: ChildProcess): Promise<void> {
  const logFile = path.join(stateDir, 'operator.log');
  writeFileSync(logFile, '');
  return new Promise((resolve, reject) => {
    let pending = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      writeFileSync(logFile, chunk, { flag: 'a' });
      pending += chunk.toString();
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      if (lines.some((l) => l.includes(`"${LogMessage.operatorStarted}"`))) resolve();
    });
    child.once('exit', (code) => reject(new Error(`the operator exited with ${code} before it started; see ${logFile}`)));
  });
}
