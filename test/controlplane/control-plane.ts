// A real kube-apiserver + etcd for the integration tests, with static-token
// authentication and RBAC, run from binaries built by build-binaries.sh.
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeConfig, dumpYaml, type Cluster, type User } from '@kubernetes/client-node';

export type KubeUser = 'admin' | 'operator' | { token: string; name: string };

/** Where a cluster is and how to trust it: enough to build a client in any process. */
export interface ClusterEndpoint {
  server: string;
  caFile: string;
}

const CLUSTER_NAME = 'event-xmlrpc-test';
const OPERATOR_USER = 'event-xmlrpc-operator';
const READY_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 5_000;
/**
 * The kube-apiserver's own loopback address, apart from the 127.0.0.1 of the
 * test peers: the operator denies deliveries to the API server's addresses,
 * as in a cluster, where they are never a subscriber's (every 127/8 address is
 * local on Linux).
 */
export const API_SERVER_HOST = '127.0.0.2';

/** A client config for `user` (a bearer token) against `endpoint`. */
export function makeKubeConfig(endpoint: ClusterEndpoint, user: { name: string; token: string }): KubeConfig {
  const cluster: Cluster = { name: CLUSTER_NAME, server: endpoint.server, caFile: endpoint.caFile, skipTLSVerify: false };
  const kubeUser: User = { name: user.name, token: user.token };
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [cluster],
    users: [kubeUser],
    contexts: [{ name: user.name, cluster: CLUSTER_NAME, user: user.name }],
    currentContext: user.name,
  });
  return kc;
}

/** The same config as a kubeconfig YAML document, for KUBECONFIG= (client-node and kubectl). */
export function kubeconfigYaml(endpoint: ClusterEndpoint, user: { name: string; token: string }): string {
  return dumpYaml({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: CLUSTER_NAME, cluster: { server: endpoint.server, 'certificate-authority': endpoint.caFile } }],
    users: [{ name: user.name, user: { token: user.token } }],
    contexts: [{ name: user.name, context: { cluster: CLUSTER_NAME, user: user.name } }],
    'current-context': user.name,
  });
}

export class ControlPlane implements ClusterEndpoint {
  readonly server: string;
  readonly caFile: string;
  readonly adminToken = randomBytes(24).toString('hex');
  readonly operatorToken = randomBytes(24).toString('hex');

  private etcd: ChildProcess | undefined;
  private apiServer: ChildProcess | undefined;
  /** Last resort when the process exits without stop(): nothing async can run any more. */
  private readonly killOnExit = () => {
    for (const child of [this.apiServer, this.etcd]) if (child && isRunning(child)) child.kill('SIGKILL');
    if (this.ownsDataDir) rmSync(this.dataDir, { recursive: true, force: true, maxRetries: 3 });
  };

  private constructor(
    readonly dataDir: string,
    private readonly ownsDataDir: boolean,
    private readonly binDir: string,
    private readonly etcdPorts: { client: number; peer: number },
    private readonly apiPort: number,
    private readonly log: (line: string) => void,
  ) {
    this.server = `https://${API_SERVER_HOST}:${apiPort}`;
    // kube-apiserver writes its self-signed serving cert followed by the CA that
    // signed it (IP SAN = --advertise-address), so the file works as a CA bundle.
    this.caFile = path.join(dataDir, 'certs', 'apiserver.crt');
    process.on('exit', this.killOnExit);
  }

  static async start(opts: { binDir: string; dataDir?: string; log?: (line: string) => void }): Promise<ControlPlane> {
    const dataDir = opts.dataDir ?? mkdtempSync(path.join(os.tmpdir(), 'event-xmlrpc-cp-'));
    mkdirSync(dataDir, { recursive: true });
    const [client, peer, api] = [await freePort(), await freePort(), await freePort(API_SERVER_HOST)];
    const cp = new ControlPlane(dataDir, opts.dataDir === undefined, opts.binDir, { client, peer }, api, opts.log ?? (() => {}));
    try {
      cp.writeAuthFiles();
      await cp.startEtcd();
      await cp.startApiServer();
    } catch (err) {
      await cp.stop();
      throw err;
    }
    return cp;
  }

  /** etcd's client URL: for tests that must store what the apiserver would refuse (objects from an older schema). */
  get etcdServer(): string {
    return `http://127.0.0.1:${this.etcdPorts.client}`;
  }

  /** Process ids of the running kube-apiserver and etcd (for /proc readings). */
  get pids(): { apiServer: number | undefined; etcd: number | undefined } {
    return { apiServer: this.apiServer?.pid, etcd: this.etcd?.pid };
  }

  kubeConfig(user: KubeUser): KubeConfig {
    return makeKubeConfig(this, this.resolveUser(user));
  }

  writeKubeconfig(file: string, user: KubeUser): void {
    writeFileSync(file, kubeconfigYaml(this, this.resolveUser(user)), { mode: 0o600 });
  }

  /** Starts kube-apiserver (again) on the same port, etcd and flags; resolves once /readyz is ok. */
  async startApiServer(): Promise<void> {
    if (this.apiServer && isRunning(this.apiServer)) throw new Error('kube-apiserver is already running');
    const logFile = path.join(this.dataDir, 'kube-apiserver.log');
    this.apiServer = launch(path.join(this.binDir, 'kube-apiserver'), this.apiServerArgs(), logFile);
    await waitUntil('kube-apiserver /readyz', this.apiServer, logFile, () => this.isReady());
    this.log(`kube-apiserver ready at ${this.server}`);
  }

  async stopApiServer(): Promise<void> {
    await terminate(this.apiServer);
    this.apiServer = undefined;
  }

  async stop(): Promise<void> {
    await terminate(this.apiServer);
    await terminate(this.etcd);
    this.apiServer = this.etcd = undefined;
    process.off('exit', this.killOnExit);
    if (this.ownsDataDir) rmSync(this.dataDir, { recursive: true, force: true, maxRetries: 3 });
  }

  private resolveUser(user: KubeUser): { name: string; token: string } {
    if (user === 'admin') return { name: 'admin', token: this.adminToken };
    if (user === 'operator') return { name: OPERATOR_USER, token: this.operatorToken };
    return user;
  }

  private writeAuthFiles(): void {
    // token,user,uid,"groups"
    writeFileSync(
      path.join(this.dataDir, 'tokens.csv'),
      `${this.adminToken},admin,admin,"system:masters"\n${this.operatorToken},${OPERATOR_USER},${OPERATOR_USER}\n`,
      { mode: 0o600 },
    );
    const { privateKey } = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    });
    writeFileSync(path.join(this.dataDir, 'service-account.key'), privateKey, { mode: 0o600 });
  }

  private async startEtcd(): Promise<void> {
    const { client, peer } = this.etcdPorts;
    const logFile = path.join(this.dataDir, 'etcd.log');
    this.etcd = launch(
      path.join(this.binDir, 'etcd'),
      [
        `--data-dir=${path.join(this.dataDir, 'etcd')}`,
        `--listen-client-urls=http://127.0.0.1:${client}`,
        `--advertise-client-urls=http://127.0.0.1:${client}`,
        `--listen-peer-urls=http://127.0.0.1:${peer}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${peer}`,
        `--initial-cluster=default=http://127.0.0.1:${peer}`,
        // Throwaway data: skipping fsync makes every write several times faster.
        '--unsafe-no-fsync',
        '--log-level=warn',
      ],
      logFile,
    );
    await waitUntil('etcd /health', this.etcd, logFile, async () => {
      const res = await fetch(`http://127.0.0.1:${client}/health`);
      return res.ok && ((await res.json()) as { health?: string }).health === 'true';
    });
    this.log(`etcd ready at http://127.0.0.1:${client}`);
  }

  private apiServerArgs(): string[] {
    const key = path.join(this.dataDir, 'service-account.key');
    return [
      `--etcd-servers=http://127.0.0.1:${this.etcdPorts.client}`,
      `--bind-address=${API_SERVER_HOST}`,
      // Without it the apiserver looks for a non-loopback interface to advertise.
      `--advertise-address=${API_SERVER_HOST}`,
      `--secure-port=${this.apiPort}`,
      `--cert-dir=${path.join(this.dataDir, 'certs')}`,
      `--token-auth-file=${path.join(this.dataDir, 'tokens.csv')}`,
      '--authorization-mode=RBAC',
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${key}`,
      `--service-account-signing-key-file=${key}`,
      '--service-cluster-ip-range=10.0.0.0/24',
      // No controller-manager runs, so nothing would create the default ServiceAccounts it waits for.
      '--disable-admission-plugins=ServiceAccount',
      '--allow-privileged=true',
      // The "kubernetes" Service cannot point at a loopback address; don't keep trying.
      '--endpoint-reconciler-type=none',
    ];
  }

  /** true on /readyz 200, false while not yet up; throws on a TLS verification error, which retrying won't fix. */
  private isReady(): Promise<boolean> {
    if (!existsSync(this.caFile)) return Promise.resolve(false);
    const ca = readFileSync(this.caFile);
    return new Promise((resolve, reject) => {
      const req = https.get(
        `${this.server}/readyz`,
        { ca, headers: { Authorization: `Bearer ${this.adminToken}` }, timeout: 2_000 },
        (res) => {
          res.resume();
          resolve(res.statusCode === 200);
        },
      );
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code?.startsWith('ERR_TLS') || err.code?.includes('CERT')) reject(new FatalError(`TLS check of ${this.server} against ${this.caFile}: ${err.message}`));
        else resolve(false);
      });
    });
  }
}

// Linux: setpriv execs the binary with PR_SET_PDEATHSIG, so the kernel kills it
// even when this process dies without running its 'exit' handlers (SIGKILL, OOM).
const PDEATHSIG = existsSync('/usr/bin/setpriv') ? ['/usr/bin/setpriv', '--pdeathsig', 'KILL', '--'] : [];

/** An error that waiting longer will not cure. */
class FatalError extends Error {}

function launch(bin: string, args: string[], logFile: string): ChildProcess {
  if (!existsSync(bin)) throw new Error(`${bin} does not exist: run test/controlplane/build-binaries.sh`);
  const fd = openSync(logFile, 'a');
  try {
    const [command, ...argv] = [...PDEATHSIG, bin, ...args];
    const child = spawn(command!, argv, { stdio: ['ignore', fd, fd] });
    child.on('error', () => {}); // e.g. EACCES: waitUntil reports the process as gone
    return child;
  } finally {
    closeSync(fd);
  }
}

function isRunning(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

async function waitUntil(what: string, child: ChildProcess, logFile: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = performance.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (!isRunning(child) || child.pid === undefined) {
      throw new Error(`${what}: process exited (code ${child.exitCode}, signal ${child.signalCode})\n${tail(logFile)}`);
    }
    if (await check().catch((err: unknown) => (err instanceof FatalError ? Promise.reject(err) : false))) return;
    if (performance.now() > deadline) throw new Error(`${what}: not ready after ${READY_TIMEOUT_MS / 1000}s\n${tail(logFile)}`);
    await sleep(100);
  }
}

function tail(logFile: string, lines = 30): string {
  const text = existsSync(logFile) ? readFileSync(logFile, 'utf8').trimEnd() : '';
  return `--- last lines of ${path.basename(logFile)} ---\n${text.split('\n').slice(-lines).join('\n')}`;
}

async function terminate(child: ChildProcess | undefined): Promise<void> {
  if (!child || !isRunning(child) || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
  await exited;
  clearTimeout(timer);
}

/** A port that was free a moment ago (bind to 0, read it, release it). */
function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}
