// Runs the operator for a test: in this process through its real Operator
// object, or as its real entry point in a child process.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CoordinationV1Api, KubernetesObjectApi, loadAllYaml, type KubernetesObject, type KubeConfig } from '@kubernetes/client-node';
import winston from 'winston';
import { parseCommandLine } from '../../src/config.js';
import { Operator, type OperatorDeps } from '../../src/operator.js';
import { testCluster, writeKubeconfigFile } from './cluster.js';
import { statusCode } from '../../src/kube/errors.js';
import { whenAllowed } from './allowed.js';
import { LogMessage } from '../../src/log-messages.js';
import { OPERATOR_ARGV } from './entry-points.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLUSTER_ROLE = `${ROOT}deploy/cluster-role.yaml`;
const LEADER_ELECTION_ROLE = `${ROOT}deploy/base/leader-election-role.yaml`;

/** Test files run side by side: every operator takes free ports, and its relays' sockets name the loopback. */
export const FREE_PORTS = ['--http-port=0', '--relay-port=0', '--relay-host=127.0.0.1'];

let granted: Promise<void> | undefined;

/** Binds deploy/'s ClusterRole to the operator's test user, once per run (idempotent). */
export function grantOperatorRbac(): Promise<void> {
  granted ??= (async () => {
    const api = KubernetesObjectApi.makeApiClient(testCluster().admin);
    const [role] = loadAllYaml(readFileSync(CLUSTER_ROLE, 'utf8')) as KubernetesObject[];
    const binding = {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'event-xmlrpc-operator-test-user' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role!.metadata!.name },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'event-xmlrpc-operator' }],
    };
    for (const obj of [role!, binding]) {
      try {
        await api.create(obj);
      } catch (err) {
        if ((err as { code?: number }).code !== 409) throw err;
      }
    }
    await waitUntilAllowed(testCluster().operator);
  })();
  return granted;
}

/**
 * Grants the operator's test user deploy/base/'s leader-election Role (leases:
 * get, create, update) in `namespace`, which the ClusterRole does not give.
 */
export async function grantLeaseRbac(namespace: string): Promise<void> {
  const api = KubernetesObjectApi.makeApiClient(testCluster().admin);
  const role = (loadAllYaml(readFileSync(LEADER_ELECTION_ROLE, 'utf8')) as KubernetesObject[]).find((o) => o.kind === 'Role')!;
  const name = role.metadata!.name!;
  await api.create({ ...role, metadata: { ...role.metadata, namespace } });
  const binding = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name, namespace },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'event-xmlrpc-operator' }],
  };
  await api.create(binding);
  // RBAC takes effect asynchronously: wait until a read is answered 404 (no Lease yet) instead of 403.
  const leases = testCluster().operator.makeApiClient(CoordinationV1Api);
  await whenAllowed(() =>
    leases.readNamespacedLease({ namespace, name: 'rbac-probe' }).then(
      () => undefined,
      (err: unknown) => {
        if (statusCode(err) !== 404) throw err;
      },
    ),
  );
}

async function waitUntilAllowed(kc: KubeConfig): Promise<void> {
  const api = KubernetesObjectApi.makeApiClient(kc);
  await whenAllowed(() => api.list('eventxmlrpc.io/v1alpha1', 'EventRaise', 'default'), { retryOn: [403, 429] });
}

/** The operator in this process, watching `namespace` (or each of several) only, as the RBAC-bound operator user (or as `deps.kubeConfig` says). */
export async function startOperator(namespace: string | string[], flags: string[] = [], deps: Partial<Pick<OperatorDeps, 'lookup' | 'log' | 'kubeConfig'>> = {}): Promise<Operator> {
  await grantOperatorRbac();
  const watched = (Array.isArray(namespace) ? namespace : [namespace]).flatMap((ns) => ['--namespace', ns]);
  const parsed = parseCommandLine([...watched, ...FREE_PORTS, ...flags], {}, 'test');
  if (parsed.kind !== 'run') throw new Error(`bad operator flags: ${JSON.stringify(parsed)}`);
  const log = winston.createLogger({ level: 'error', transports: [new winston.transports.Console({ stderrLevels: ['error'] })] });
  const operator = new Operator({ kubeConfig: testCluster().operator, config: parsed.config, log, ...deps });
  await operator.start();
  return operator;
}

export interface OperatorProcess {
  child: ChildProcess;
  /** Log lines it printed so far (JSON). */
  lines: string[];
  /** Resolves once it logged that it started. */
  started: Promise<void>;
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

/** The operator's log lines (JSON) whose message is `message`. */
export function loggedEntries(operator: OperatorProcess, message: string): Array<Record<string, unknown>> {
  return operator.lines.flatMap((line) => {
    try {
      const entry = JSON.parse(line) as Record<string, unknown>;
      return entry.message === message ? [entry] : [];
    } catch {
      return [];
    }
  });
}

/** The compiled operator (dist/main.js) in a child process, the way the image runs it. */
export async function spawnOperator(args: string[], env: NodeJS.ProcessEnv = {}): Promise<OperatorProcess> {
  await grantOperatorRbac();
  const kubeconfig = await writeKubeconfigFile('operator');
  const child = spawn(process.execPath, [...OPERATOR_ARGV, ...FREE_PORTS, ...args], {
    env: { ...process.env, KUBECONFIG: kubeconfig, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let markStarted!: () => void;
  const started = new Promise<void>((resolve, reject) => {
    markStarted = resolve;
    child.once('exit', (code) => reject(new Error(`operator exited with ${code} before starting: ${lines.join('\n')}`)));
  });
  started.catch(() => {});
  let pending = '';
  const collect = (chunk: Buffer) => {
    pending += chunk.toString();
    const parts = pending.split('\n');
    pending = parts.pop() ?? '';
    for (const line of parts) {
      lines.push(line);
      if (line.includes(`"${LogMessage.operatorStarted}"`)) markStarted();
    }
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  return {
    child,
    lines,
    started,
    async kill(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      const [code] = (await once(child, 'exit')) as [number | null];
      return code;
    },
  };
}
