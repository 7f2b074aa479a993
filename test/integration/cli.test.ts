// The event-xmlrpc command line, run as its real entry point in a child process.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import type { EventRaise } from '../../src/api/types.js';
import { renderRequest } from '../../src/core/http-request.js';
import { encodeMethodCall } from '../../src/core/method-call.js';
import { parseSocket } from '../../src/core/socket.js';
import { VERSION } from '../../src/version.js';
import { kubeconfigYaml } from '../controlplane/control-plane.js';
import { newNamespace, testCluster, writeKubeconfigFile } from '../support/cluster.js';
import { serviceAccountToken } from '../support/deploy.js';
import { createSubscriber, getObject, listRaises, waitForReady } from '../support/objects.js';
import { CLI_ENTRY } from '../support/entry-points.js';
import { startOperator } from '../support/operator.js';
import { refusedPort } from '../support/tcp-peers.js';
import { VECTORS_DIR } from '../support/vectors.js';
import { startPythonPeer } from '../support/xmlrpc-peers.js';


interface Run {
  code: number | null;
  stdout: Buffer;
  stderr: string;
  ms: number;
}

function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  const start = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_ENTRY, ...args], { env: { ...process.env, ...env } });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr, ms: Date.now() - start }));
  });
}

/** The CLI as the cluster admin, whose kubeconfig context names no namespace. */
async function adminCli(args: string[]): Promise<Run> {
  return cli(args, { KUBECONFIG: await writeKubeconfigFile('admin') });
}

/** An OpenSIPS capture with this project's User-Agent and header case, as test/unit/http-request.test.ts compares. */
function vector(file: string, userAgent: string): Buffer {
  const text = readFileSync(`${VECTORS_DIR}${file}`, 'latin1')
    .replace('User-Agent: OpenSIPS XMLRPC Notifier', `User-Agent: ${userAgent}`)
    .replace('Content-type:', 'Content-Type:')
    .replace('Content-length:', 'Content-Length:');
  return Buffer.from(text, 'latin1');
}

function assertUsageError(run: Run, message: RegExp): void {
  assert.equal(run.code, 2, run.stderr);
  assert.equal(run.stdout.length, 0);
  const [first, blank, ...usage] = run.stderr.split('\n');
  assert.match(first!, /^event-xmlrpc: /);
  assert.match(first!, message);
  assert.equal(blank, '');
  assert.match(usage.join('\n'), /Usage:/);
}

function assertOneLineError(run: Run, code: number, message: RegExp): void {
  assert.equal(run.code, code, run.stderr);
  assert.equal(run.stderr.trimEnd().split('\n').length, 1, run.stderr);
  assert.match(run.stderr, /^event-xmlrpc: /);
  assert.match(run.stderr, message);
}

const SOCKET = 'xmlrpc:127.0.0.1:8090:ev_cb';

// Every test below spawns the CLI; those that share nothing run side by side.
const SIDE_BY_SIDE = { concurrency: true };

describe('event-xmlrpc render', SIDE_BY_SIDE, () => {
  it('prints the OpenSIPS request byte for byte (plain)', async () => {
    const run = await cli(['render', '--socket', SOCKET, '--user-agent', 'ua/1', 'E_XMLRPC_TEST', 'a=x', 'b:=7', 'c=y']);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(run.stdout, vector('plain__several.raw', 'ua/1'));
  });

  it('prints the OpenSIPS request byte for byte (struct), options after the params', async () => {
    const run = await cli(['render', 'E_XMLRPC_TEST', 'a=x', 'b:=7', 'c=y', '--socket', SOCKET, '--struct', '--user-agent=ua/1']);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(run.stdout, vector('struct__several.raw', 'ua/1'));
  });

  it('writes UTF-8 and counts Content-Length in bytes', async () => {
    const run = await cli(['render', '--socket', SOCKET, '--user-agent', 'ua/1', 'E_XMLRPC_TEST', 'u=héllo ☃ 日本']);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(run.stdout, vector('plain__utf8.raw', 'ua/1'));
  });

  it('unnamed params (=text, :=INT), a value holding "=", and the operator default User-Agent', async () => {
    const socket = 'xmlrpc:[::1]:8080/hooks/rpc:ns.on_event';
    const run = await cli(['render', '--socket', socket, 'E_X', '=plain', ':=-5', 'n:=42', 'q=a=b']);
    assert.equal(run.code, 0, run.stderr);
    const parsed = parseSocket(socket);
    assert.ok(parsed.ok);
    const params = [{ string: 'plain' }, { int: -5 }, { name: 'n', int: 42 }, { name: 'q', string: 'a=b' }];
    const body = encodeMethodCall({ method: 'ns.on_event', event: 'E_X', params, useStructParam: false });
    assert.equal(run.stdout.toString('utf8'), renderRequest(parsed.target, `event-xmlrpc-operator/${VERSION}`, body));
    assert.ok(body.includes('<param>\n<value><int>-5</int></value>\n</param>'), body);
  });

  it('a bad socket: one line, exit 2, nothing on stdout', async () => {
    const run = await cli(['render', '--socket', 'xmlrpc:host:0:m', 'E_X']);
    assertOneLineError(run, 2, /port "0" must be a decimal number 1\.\.65535/);
    assert.equal(run.stdout.length, 0);
  });

  it('params the encoder refuses: one line, exit 2', async () => {
    const run = await cli(['render', '--socket', SOCKET, 'E_X', 'bad name=1']);
    assertOneLineError(run, 2, /^event-xmlrpc: invalid event: params\[0\] \(bad name\): name must be/);
  });
});

describe('event-xmlrpc raise', () => {
  it('creates the EventRaise with typed params in order and syncMode as given', async () => {
    const namespace = await newNamespace('cli-raise');
    for (const [flags, syncMode] of [[['--sync'], true], [['--async'], false], [[], undefined]] as const) {
      const run = await adminCli(['raise', 'E_CLI_TEST', 's=hello', 'n:=-3', '=unnamed', ':=2147483647', '-n', namespace, ...flags]);
      assert.equal(run.code, 0, run.stderr);
      const printed = run.stdout.toString();
      assert.match(printed, new RegExp(`^${namespace}/e-cli-test-[a-z0-9]{5}\n$`));
      const name = printed.trim().split('/')[1]!;
      const raise = await getObject<EventRaise>(namespace, 'eventraises', name);
      assert.deepEqual(raise.spec, {
        event: 'E_CLI_TEST',
        params: [{ name: 's', string: 'hello' }, { name: 'n', int: -3 }, { string: 'unnamed' }, { int: 2147483647 }],
        ...(syncMode === undefined ? {} : { syncMode }),
      });
    }
  });

  it("without -n: the kubeconfig context's namespace", async () => {
    const namespace = await newNamespace('cli-context');
    const kc = new KubeConfig();
    kc.loadFromFile(await writeKubeconfigFile('admin'));
    const contexts = kc.contexts.map((c) => (c.name === kc.currentContext ? { ...c, namespace } : c));
    kc.loadFromOptions({ clusters: kc.clusters, users: kc.users, contexts, currentContext: kc.currentContext });
    const file = path.join(await mkdtemp(path.join(os.tmpdir(), 'cli-context-')), 'kubeconfig');
    await writeFile(file, kc.exportConfig(), { mode: 0o600 });

    const run = await cli(['raise', 'E_CTX'], { KUBECONFIG: file });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout.toString(), new RegExp(`^${namespace}/e-ctx-`));
    assert.deepEqual((await listRaises(namespace)).map((r) => r.spec), [{ event: 'E_CTX' }]);
  });

  it('an API error is one line, exit 1', async () => {
    const run = await adminCli(['raise', 'E_X', '-n', 'no-such-namespace-here']);
    assertOneLineError(run, 1, /namespaces "no-such-namespace-here" not found/);
  });
});

describe('event-xmlrpc raise: cluster errors say what happened and what to do', SIDE_BY_SIDE, () => {
  it('no kubeconfig at all: set KUBECONFIG', async () => {
    const home = await mkdtemp(path.join(os.tmpdir(), 'cli-home-'));
    const run = await cli(['raise', 'E_X'], { KUBECONFIG: '', HOME: home });
    assertOneLineError(run, 1, /./);
    assert.equal(
      run.stderr,
      `event-xmlrpc: no kubeconfig: KUBECONFIG is not set, ${home}/.kube/config does not exist, and this is not a pod with a service account; ` +
        "set KUBECONFIG to your cluster's kubeconfig file (export KUBECONFIG=/path/to/kubeconfig)\n",
    );
    assert.equal(run.stdout.length, 0);
  });

  it('KUBECONFIG naming no file', async () => {
    const run = await cli(['raise', 'E_X'], { KUBECONFIG: '/nonexistent/kubeconfig' });
    assertOneLineError(run, 1, /^event-xmlrpc: KUBECONFIG=\/nonexistent\/kubeconfig names no file that exists: set KUBECONFIG to your kubeconfig file/);
  });

  it('a token the cluster refuses: which server refused which user', async () => {
    const file = path.join(await mkdtemp(path.join(os.tmpdir(), 'cli-token-')), 'kubeconfig');
    await writeFile(file, kubeconfigYaml(testCluster().info, { name: 'alice', token: 'not-a-valid-token' }), { mode: 0o600 });
    const run = await cli(['raise', 'E_X', '-n', 'default'], { KUBECONFIG: file });
    assertOneLineError(run, 1, /./);
    assert.equal(
      run.stderr,
      `event-xmlrpc: the Kubernetes API at ${testCluster().info.server} refused the credentials of user "alice" from KUBECONFIG=${file} ` +
        '(HTTP 401 Unauthorized): its token or certificate is wrong or expired; renew them, or choose another context (kubectl config use-context NAME)\n',
    );
  });

  it('a server the kubeconfig does not trust, and a plain http:// server: what to fix there', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'cli-tls-'));
    const { info } = testCluster();
    const untrusted = path.join(dir, 'untrusted');
    // A self-signed CA made for this test, which signed nothing the apiserver presents.
    const otherCa = fileURLToPath(new URL('../fixtures/untrusted-ca.crt', import.meta.url));
    await writeFile(untrusted, kubeconfigYaml({ server: info.server, caFile: otherCa }, { name: 'admin', token: info.adminToken }));
    const tls = await cli(['raise', 'E_X', '-n', 'default'], { KUBECONFIG: untrusted });
    assertOneLineError(
      tls,
      1,
      new RegExp(
        `^event-xmlrpc: the Kubernetes API at ${info.server.replaceAll('.', '\\.')} presented a certificate that KUBECONFIG=${untrusted} does not trust \\(.+\\): ` +
          "check the cluster's certificate-authority there \\(kubectl config view --minify\\)$",
        'm',
      ),
    );

    const plain = path.join(dir, 'plain');
    await writeFile(plain, kubeconfigYaml({ server: 'http://127.0.0.1:8080', caFile: info.caFile }, { name: 'admin', token: 'x' }));
    const http = await cli(['raise', 'E_X', '-n', 'default'], { KUBECONFIG: plain });
    assertOneLineError(http, 1, /./);
    assert.equal(
      http.stderr,
      `event-xmlrpc: the server http://127.0.0.1:8080 in KUBECONFIG=${plain} is plain http://, which is refused unless its cluster sets ` +
        "insecure-skip-tls-verify: true; use the cluster's https:// address\n",
    );
  });

  it('a user RBAC does not let create raises: who, what, where, and how to check', async () => {
    const namespace = await newNamespace('cli-forbidden');
    // A ServiceAccount that RBAC grants nothing.
    const admin = testCluster().admin;
    await admin.makeApiClient(CoreV1Api).createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'reader' } } });
    const token = await serviceAccountToken(admin, namespace, 'reader');
    const run = await cli(['raise', 'E_X', '-n', namespace], { KUBECONFIG: await writeKubeconfigFile({ name: 'reader', token }) });
    assertOneLineError(run, 1, /./);
    const user = `system:serviceaccount:${namespace}:reader`;
    assert.equal(
      run.stderr,
      `event-xmlrpc: the Kubernetes API at ${testCluster().info.server} refused user "reader": eventraises.eventxmlrpc.io is forbidden: ` +
        `User "${user}" cannot create resource "eventraises" in API group "eventxmlrpc.io" in the namespace "${namespace}"; ` +
        `a cluster admin can grant it with RBAC (check: kubectl auth can-i create eventraises.eventxmlrpc.io -n ${namespace})\n`,
    );
    assert.deepEqual(await listRaises(namespace), []);
  });
});

describe('event-xmlrpc raise --wait', () => {
  async function operatorFor(t: TestContext, namespace: string): Promise<void> {
    const operator = await startOperator(namespace, ['--sync-mode']);
    t.after(() => operator.stop());
  }

  it('Delivered: exit 0 and a row naming the subscriber with Delivered 200', async (t) => {
    const namespace = await newNamespace('cli-wait-ok');
    const peer = await startPythonPeer();
    t.after(() => peer.close());
    await operatorFor(t, namespace);
    await createSubscriber(namespace, 'python', { event: 'E_CLI', socket: `xmlrpc:127.0.0.1:${peer.port}:on_event` });
    await waitForReady(namespace, 'python');

    const run = await adminCli(['raise', 'E_CLI', 'ip=10.0.0.1', 'n:=7', '-n', namespace, '--wait']);
    assert.equal(run.code, 0, run.stderr + run.stdout.toString());
    const [created, phase, header, row, ...rest] = run.stdout.toString().trimEnd().split('\n');
    assert.match(created!, new RegExp(`^${namespace}/e-cli-`));
    assert.match(phase!, /^Delivered: 1 of 1 subscribers answered with success$/);
    assert.match(header!, /^SUBSCRIBER\s+OUTCOME\s+HTTP\s+DURATION\s+FAULT\s+ERROR$/);
    assert.match(row!, /^python\s+Delivered\s+200\s+\d+ms\s+-\s+-$/);
    assert.deepEqual(rest, []);
    assert.equal(header!.indexOf('OUTCOME'), row!.indexOf('Delivered'), 'aligned columns');
    assert.deepEqual(peer.log.calls.map((c) => c.params), [['E_CLI', 'ip', '10.0.0.1', 'n', 7]]);
  });

  it('a refused port: exit 1 and the row shows the error', async (t) => {
    const namespace = await newNamespace('cli-wait-refused');
    const port = await refusedPort();
    await operatorFor(t, namespace);
    await createSubscriber(namespace, 'gone', { event: 'E_CLI', socket: `xmlrpc:127.0.0.1:${port}:on_event` });
    await waitForReady(namespace, 'gone');

    const run = await adminCli(['raise', 'E_CLI', '-n', namespace, '--wait', '--timeout', '1m']);
    assert.equal(run.code, 1, run.stderr);
    const out = run.stdout.toString();
    assert.match(out, /^Failed: 0 of 1 subscribers answered with success, 1 failed$/m);
    assert.match(out, new RegExp(`^gone\\s+Failed\\s+-\\s+\\d+ms\\s+-\\s+connection refused by 127\\.0\\.0\\.1:${port}$`, 'm'));
  });

  it('no subscribers: NoSubscribers, exit 1', async (t) => {
    const namespace = await newNamespace('cli-wait-none');
    await operatorFor(t, namespace);
    const run = await adminCli(['raise', 'E_NOBODY', '-n', namespace, '--wait']);
    assert.equal(run.code, 1, run.stderr);
    const [, phase, counts] = run.stdout.toString().trimEnd().split('\n');
    assert.match(phase!, /^NoSubscribers: no Ready Subscriber in this namespace subscribes to E_NOBODY$/);
    assert.equal(counts, 'matched 0, delivered 0, failed 0');
  });

  it('no operator: the timeout line after --timeout, exit 1', async () => {
    const namespace = await newNamespace('cli-wait-timeout');
    const run = await adminCli(['raise', 'E_CLI', '-n', namespace, '--wait', '--timeout=1s']);
    assert.match(run.stdout.toString(), new RegExp(`^${namespace}/e-cli-[a-z0-9]{5}\n$`));
    assertOneLineError(run, 1, new RegExp(`^event-xmlrpc: timed out after 1s waiting for ${namespace}/e-cli-[a-z0-9]{5} to finish \\(phase: none yet\\)$`, 'm'));
  });
});

describe('event-xmlrpc arguments', SIDE_BY_SIDE, () => {
  for (const [title, args, message] of [
    ['unknown command', ['frobnicate'], /unknown command "frobnicate"/],
    ['no command', [], /no command given/],
    ['missing EVENT', ['raise', '-n', 'x'], /raise needs an EVENT/],
    ['an int that is not a number', ['raise', 'E_X', 'n:=abc'], /param "n:=abc": "abc" is not an integer/],
    ['an int beyond 32 bits', ['raise', 'E_X', 'n:=2147483648'], /"2147483648" is not an integer in -2147483648\.\.2147483647/],
    ['a param without =', ['raise', 'E_X', 'loose'], /param "loose" must be name=text/],
    ['--sync with --async', ['raise', 'E_X', '--sync', '--async'], /--sync and --async exclude each other/],
    ['a bad duration', ['raise', 'E_X', '--wait', '--timeout', 'soon'], /--timeout must be a duration/],
    ['an unknown option', ['raise', 'E_X', '--frob'], /^event-xmlrpc: Unknown option '--frob'$/],
    ['render without --socket', ['render', 'E_X'], /render needs --socket/],
  ] as const) {
    it(`${title}: exit 2 with the usage`, async () => {
      // No kubeconfig at all: these fail before any cluster is needed.
      assertUsageError(await cli([...args], { KUBECONFIG: '/nonexistent' }), message);
    });
  }

  it('--help, -h, COMMAND --help and --version print on stdout, exit 0', async () => {
    const [version, ...helps] = await Promise.all([['--version'], ['--help'], ['-h'], ['raise', '--help'], ['render', '-h']].map((args) => cli(args)));
    for (const run of helps) {
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout.toString(), /^Usage: event-xmlrpc|\nUsage:\n/);
      assert.equal(run.stderr, '');
    }
    assert.equal(version!.stdout.toString(), `event-xmlrpc ${VERSION}\n`);
  });
});
