// spec.tls and spec.auth against a real HTTPS XML-RPC server (CPython's
// xmlrpc.server behind ssl, test/peers/secure_xmlrpc_server.py) with a CA the
// test makes, credentials in Secrets the operator may read only where a
// namespace admin granted it get by name (deploy/secret-access/), and every
// failure read back from the objects a user sees.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  CoreV1Api,
  CustomObjectsApi,
  EventsV1Api,
  KubernetesObjectApi,
  PatchStrategy,
  loadAllYaml,
  setHeaderOptions,
  type KubernetesObject,
  type V1Role,
  type V1RoleBinding,
} from '@kubernetes/client-node';
import winston from 'winston';
import { GROUP, VERSION, type EventRaise, type Subscriber, type SubscriberSpec } from '../../src/api/types.js';
import { statusCode } from '../../src/kube/errors.js';
import type { Operator } from '../../src/operator.js';
import { whenAllowed } from '../support/allowed.js';
import { makePki, type TestPki } from '../support/certificates.js';
import { newNamespace, testCluster } from '../support/cluster.js';
import { kubectl } from '../support/health-tools.js';
import { createSubscriber, getObject, raiseEvent, waitFor, waitForRaise, waitForReady } from '../support/objects.js';
import { startOperator } from '../support/operator.js';
import { startSecurePeer, type SecurePeer } from '../support/xmlrpc-peers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const admin = () => testCluster().admin;

const PASSWORD = 'pw-7f3c1e9a-basic';
const TOKENS = ['tok-4b2d8e61-first', 'tok-9a0c5f37-rotated'];
const API_KEY = 'key-2e8f6b40-header';

async function createSecret(namespace: string, name: string, data: Record<string, string>): Promise<void> {
  const body = { metadata: { name, namespace }, stringData: data };
  const core = admin().makeApiClient(CoreV1Api);
  try {
    await core.createNamespacedSecret({ namespace, body });
  } catch (err) {
    if (statusCode(err) !== 409) throw err;
    await core.replaceNamespacedSecret({ namespace, name, body });
  }
}

/**
 * deploy/secret-access/ as a namespace admin applies it: the Role lists the
 * Secrets by name; the binding names the operator's identity (in the tests, the
 * user event-xmlrpc-operator instead of the ServiceAccount).
 */
async function grantSecrets(namespace: string, names: string[]): Promise<void> {
  const load = (file: string) => loadAllYaml(readFileSync(path.join(ROOT, 'deploy/secret-access', file), 'utf8'))[0] as KubernetesObject;
  const role = load('role.yaml') as V1Role;
  const binding = load('role-binding.yaml') as V1RoleBinding;
  role.metadata = { ...role.metadata, namespace };
  role.rules![0]!.resourceNames = names;
  binding.metadata = { ...binding.metadata, namespace };
  binding.subjects = [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'event-xmlrpc-operator' }];
  const api = KubernetesObjectApi.makeApiClient(admin());
  for (const obj of [role, binding]) await api.create(obj as KubernetesObject);
  const asOperator = testCluster().operator.makeApiClient(CoreV1Api);
  await whenAllowed(() => asOperator.readNamespacedSecret({ namespace, name: names[0]! }));
}

/** The operator's log lines, at debug level, as JSON text. */
function capturingLogger(lines: string[]): winston.Logger {
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return winston.createLogger({ level: 'debug', format: winston.format.json(), transports: [new winston.transports.Stream({ stream })] });
}

const ready = (s: Subscriber) => s.status?.conditions?.find((c) => c.type === 'Ready');

describe('spec.tls and spec.auth', () => {
  let namespace: string;
  let pki: TestPki;
  let operator: Operator;
  const logs: string[] = [];
  const peers: SecurePeer[] = [];
  let plain: SecurePeer;
  let named: SecurePeer;
  let expired: SecurePeer;
  let mtls: SecurePeer;
  let basic: SecurePeer;
  let bearer: SecurePeer;
  let bearerFile: string;

  const peer = async (options: Parameters<typeof startSecurePeer>[0]) => {
    const p = await startSecurePeer(options);
    peers.push(p);
    return p;
  };

  before(async () => {
    namespace = await newNamespace('tls-auth');
    pki = await makePki();
    bearerFile = path.join(pki.dir, 'bearer');
    await writeFile(bearerFile, TOKENS[0]!);
    [plain, named, expired, mtls, basic, bearer] = await Promise.all([
      peer(pki.server),
      peer(pki.named),
      peer(pki.expired),
      peer({ ...pki.server, clientCaFile: pki.caFile }),
      peer({ ...pki.server, basic: `alice:${PASSWORD}` }),
      peer({ ...pki.server, bearerFile }),
    ]);
    await Promise.all([
      createSecret(namespace, 'ca', { 'ca.crt': pki.ca }),
      createSecret(namespace, 'other-ca', { 'ca.crt': pki.otherCa }),
      createSecret(namespace, 'client', { 'tls.crt': pki.client.cert, 'tls.key': pki.client.key }),
      createSecret(namespace, 'basic', { username: 'alice', password: PASSWORD }),
      createSecret(namespace, 'token', { token: `${TOKENS[0]}\n` }),
      createSecret(namespace, 'headers', { 'X-Api-Key': API_KEY, 'X-Tenant': 'voip' }),
      createSecret(namespace, 'wrong-keys', { tokn: 'typo' }),
      createSecret(namespace, 'ungranted', { token: 'never-read-3d9f' }),
    ]);
    await grantSecrets(namespace, ['ca', 'other-ca', 'client', 'basic', 'token', 'headers', 'wrong-keys', 'absent']);
    operator = await startOperator(namespace, ['--sync-mode', '--secret-ttl=1s', '--retry-limit=0'], { log: capturingLogger(logs) });
  });
  after(async () => {
    await operator?.stop();
    await Promise.all(peers.map((p) => p.close()));
    await pki?.close();
  });

  let n = 0;
  /** A Subscriber of its own event; resolves once the operator observed it. */
  async function subscribe(name: string, spec: Omit<SubscriberSpec, 'event'>, readyStatus: 'True' | 'False' = 'True'): Promise<{ event: string; subscriber: Subscriber }> {
    const event = `E_TLS_${n++}`;
    await createSubscriber(namespace, name, { event, ...spec } as SubscriberSpec);
    return { event, subscriber: await waitForReady(namespace, name, readyStatus) };
  }

  async function deliver(event: string): Promise<NonNullable<EventRaise['status']>> {
    const raise = await raiseEvent(namespace, { event, syncMode: true });
    return (await waitForRaise(namespace, raise.metadata.name!)).status!;
  }

  describe('TLS', () => {
    it('delivers over HTTPS to a server whose certificate chains to the CA of caSecretRef', async () => {
      const { event, subscriber } = await subscribe('tls-ok', { socket: `xmlrpc:localhost:${plain.port}:m`, tls: { enabled: true, caSecretRef: { name: 'ca' } } });
      assert.equal(subscriber.status?.target?.url, `https://localhost:${plain.port}/RPC2`);
      const status = await deliver(event);
      assert.equal(status.phase, 'Delivered', JSON.stringify(status));
      assert.equal(status.deliveries?.[0]?.url, `https://localhost:${plain.port}/RPC2`);
      assert.deepEqual((await plain.log.waitFor(1))[0]?.params, [event]);
    });

    it('checks serverName, not the socket host, when it is set', async () => {
      const { event } = await subscribe('tls-named', {
        socket: `xmlrpc:127.0.0.1:${named.port}:m`,
        tls: { enabled: true, caSecretRef: { name: 'ca' }, serverName: 'xmlrpc.voip.example' },
      });
      assert.equal((await deliver(event)).phase, 'Delivered');
    });

    const failures: Array<[string, () => { socket: string; tls: SubscriberSpec['tls'] }, RegExp]> = [
      [
        'a certificate from another CA',
        () => ({ socket: `xmlrpc:localhost:${plain.port}:m`, tls: { enabled: true, caSecretRef: { name: 'other-ca' } } }),
        /^the certificate of localhost:\d+ is not signed by a CA the operator trusts \([A-Z_]+\): put the server's CA in the ca\.crt key of the Secret named by spec\.tls\.caSecretRef$/,
      ],
      [
        'the system CAs, which do not know the test CA',
        () => ({ socket: `xmlrpc:localhost:${plain.port}:m`, tls: { enabled: true } }),
        /^the certificate of localhost:\d+ is not signed by a CA the operator trusts/,
      ],
      [
        'a certificate for another name',
        () => ({ socket: `xmlrpc:127.0.0.1:${named.port}:m`, tls: { enabled: true, caSecretRef: { name: 'ca' } } }),
        /^the certificate of 127\.0\.0\.1:\d+ is not valid for the name the operator checks \(Hostname\/IP does not match certificate's altnames: IP: 127\.0\.0\.1 is not in the cert's list: \): set spec\.tls\.serverName to a name the certificate holds/,
      ],
      [
        'a serverName the certificate does not hold',
        () => ({ socket: `xmlrpc:localhost:${plain.port}:m`, tls: { enabled: true, caSecretRef: { name: 'ca' }, serverName: 'other.voip.example' } }),
        /is not valid for the name the operator checks \(.*other\.voip\.example.*\)/,
      ],
      [
        'an expired certificate',
        () => ({ socket: `xmlrpc:localhost:${expired.port}:m`, tls: { enabled: true, caSecretRef: { name: 'ca' } } }),
        /^the certificate of localhost:\d+ has expired \(CERT_HAS_EXPIRED\): the server must renew it$/,
      ],
      [
        'a server that requires a client certificate, without one',
        () => ({ socket: `xmlrpc:localhost:${mtls.port}:m`, tls: { enabled: true, caSecretRef: { name: 'ca' } } }),
        /^localhost:\d+ refused the TLS handshake \([A-Z0-9_]+\): it requires a client certificate it trusts; set spec\.tls\.clientCertSecretRef/,
      ],
    ];
    failures.forEach(([what, spec, error], i) => {
      it(`fails, without a retry and readable in status, against ${what}`, async () => {
        const name = `tls-fail-${i}`;
        const { event } = await subscribe(name, spec());
        const status = await deliver(event);
        assert.equal(status.phase, 'Failed');
        const [record] = status.deliveries ?? [];
        assert.equal(record?.reason, 'TLSFailed', JSON.stringify(record));
        assert.equal(record?.attempts, 1);
        assert.match(record!.error!, error);
        const subscriber = await waitFor(
          () => getObject<Subscriber>(namespace, 'subscribers', name),
          (s) => (s.status?.lastError ? s : undefined),
        );
        assert.match(subscriber.status!.lastError!, error);
      });
    });

    it('presents the client certificate of clientCertSecretRef to a server that requires one', async () => {
      const { event } = await subscribe('mtls', {
        socket: `xmlrpc:localhost:${mtls.port}:m`,
        tls: { enabled: true, caSecretRef: { name: 'ca' }, clientCertSecretRef: { name: 'client' } },
      });
      assert.equal((await deliver(event)).phase, 'Delivered');
      const [call] = await mtls.log.waitFor(1);
      assert.equal(call?.client, 'event-xmlrpc-operator');
    });

    it('insecureSkipVerify delivers to any certificate, says so in Ready, and raises a Warning Event', async () => {
      const { event, subscriber } = await subscribe('insecure', { socket: `xmlrpc:localhost:${expired.port}:m`, tls: { enabled: true, insecureSkipVerify: true } });
      assert.match(ready(subscriber)!.message, /TLS certificate not checked: spec\.tls\.insecureSkipVerify/);
      assert.equal((await deliver(event)).phase, 'Delivered');
      await waitFor(
        () => admin().makeApiClient(EventsV1Api).listNamespacedEvent({ namespace }),
        (list) => list.items.find((e) => e.regarding?.name === 'insecure' && e.reason === 'InsecureSkipVerify' && e.type === 'Warning'),
      );
    });
  });

  describe('credentials', () => {
    it('sends HTTP Basic credentials from a Secret; without them the server answers 401', async () => {
      const socket = `xmlrpc:localhost:${basic.port}:m`;
      const tls = { enabled: true, caSecretRef: { name: 'ca' } };
      const { event } = await subscribe('basic', { socket, tls, auth: { basic: { secretRef: { name: 'basic' } } } });
      assert.equal((await deliver(event)).phase, 'Delivered');
      const { event: bare } = await subscribe('basic-missing', { socket, tls });
      const status = await deliver(bare);
      assert.deepEqual([status.phase, status.deliveries?.[0]?.httpStatus], ['Failed', 401]);
      assert.deepEqual(basic.refused.calls, [{ refused: 'no Authorization' }]);
    });

    it('sends a bearer token and extra headers, and uses a rotated token without a restart', async () => {
      const { event } = await subscribe('bearer', {
        socket: `xmlrpc:localhost:${bearer.port}:m`,
        tls: { enabled: true, caSecretRef: { name: 'ca' } },
        auth: { bearer: { secretRef: { name: 'token' } }, headersSecretRef: { name: 'headers' } },
      });
      assert.equal((await deliver(event)).phase, 'Delivered');
      const [call] = await bearer.log.waitFor(1);
      assert.deepEqual(call?.headers, { 'X-Api-Key': API_KEY, 'X-Tenant': 'voip' });

      // The server moves to the new token first: the operator's token is refused...
      await writeFile(bearerFile, TOKENS[1]!);
      assert.equal((await deliver(event)).deliveries?.[0]?.httpStatus, 401);
      // ...until the Secret is rotated too: a delivery after the cache time (--secret-ttl=1s) sends the new one.
      await createSecret(namespace, 'token', { token: TOKENS[1]! });
      const status = await waitFor(
        () => deliver(event),
        (s) => (s.phase === 'Delivered' ? s : undefined),
      );
      assert.equal(status.phase, 'Delivered');
      assert.equal(bearer.log.calls.length, 2);
    });

    const problems: Array<[string, SubscriberSpec['auth'], string, RegExp, 'Stalled' | 'Reconciling']> = [
      ['a missing Secret', { bearer: { secretRef: { name: 'absent' } } }, 'SecretNotFound', /^Secret tls-auth-\w+\/absent \(spec\.auth\.bearer\.secretRef\) does not exist: create it with the keys token/, 'Reconciling'],
      ['a missing key', { bearer: { secretRef: { name: 'wrong-keys' } } }, 'SecretKeyMissing', /^Secret tls-auth-\w+\/wrong-keys \(spec\.auth\.bearer\.secretRef\) has no key token \(its keys: tokn\)/, 'Stalled'],
    ];
    problems.forEach(([what, auth, reason, message, condition], i) => {
      it(`shows ${what} as ${reason} in the Subscriber and in each raise, sending nothing`, async () => {
        const { event, subscriber } = await subscribe(`problem-${i}`, { socket: `xmlrpc:localhost:${bearer.port}:m`, tls: { enabled: true, caSecretRef: { name: 'ca' } }, auth }, 'False');
        assert.equal(ready(subscriber)?.reason, reason);
        assert.match(ready(subscriber)!.message, message);
        assert.equal(subscriber.status?.conditions?.find((c) => c.type === condition)?.status, 'True');
        const before = bearer.log.calls.length + bearer.refused.calls.length;
        const status = await deliver(event);
        const [record] = status.deliveries ?? [];
        assert.deepEqual([status.phase, record?.reason, record?.attempts], ['Failed', reason, 1]);
        assert.match(record!.error!, /^not sent: /);
        assert.equal(bearer.log.calls.length + bearer.refused.calls.length, before, 'the server saw nothing');
      });
    });

    it('a Secret the operator may not read: SecretAccessDenied with the kubectl commands that grant it, which work', async () => {
      const { event, subscriber } = await subscribe(
        'ungranted',
        { socket: `xmlrpc:localhost:${bearer.port}:m`, tls: { enabled: true, caSecretRef: { name: 'ca' } }, auth: { headersSecretRef: { name: 'ungranted' } } },
        'False',
      );
      const condition = ready(subscriber)!;
      assert.equal(condition.reason, 'SecretAccessDenied');
      const commands = / by name: (kubectl create role .*) && (kubectl create rolebinding .*); deliveries to it fail/.exec(condition.message);
      assert.ok(commands, condition.message);
      assert.equal(
        commands[1],
        `kubectl create role event-xmlrpc-secrets-ungranted -n ${namespace} --verb=get --resource=secrets --resource-name=ca --resource-name=ungranted`,
      );
      assert.equal(commands[2], `kubectl create rolebinding event-xmlrpc-secrets-ungranted -n ${namespace} --role=event-xmlrpc-secrets-ungranted --user=event-xmlrpc-operator`);
      assert.equal((await deliver(event)).deliveries?.[0]?.reason, 'SecretAccessDenied');

      // A namespace admin runs them as given.
      for (const command of [commands[1]!, commands[2]!]) {
        const result = await kubectl(command.split(' ').slice(1));
        assert.equal(result.code, 0, result.stderr);
      }
      await whenAllowed(() => testCluster().operator.makeApiClient(CoreV1Api).readNamespacedSecret({ namespace, name: 'ungranted' }));
      // Past the operator's cache of the refusal (--secret-ttl=1s), a change of spec makes it look
      // again at once (otherwise it does within 30 s).
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      await admin().makeApiClient(CustomObjectsApi).patchNamespacedCustomObject(
        { group: GROUP, version: VERSION, namespace, plural: 'subscribers', name: 'ungranted', body: { spec: { useStructParam: false } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
      await waitForReady(namespace, 'ungranted');
    });
  });

  it('never writes a credential into logs, status, Events or metrics', async () => {
    const secrets = [PASSWORD, ...TOKENS, API_KEY, 'never-read-3d9f', Buffer.from(`alice:${PASSWORD}`).toString('base64'), pki.client.key.split('\n')[1]!];
    const custom = admin().makeApiClient(CustomObjectsApi);
    const dumps = {
      logs: logs.join(''),
      subscribers: JSON.stringify(await custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: 'subscribers' })),
      raises: JSON.stringify(await custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: 'eventraises' })),
      events: JSON.stringify(await admin().makeApiClient(EventsV1Api).listNamespacedEvent({ namespace })),
      metrics: await operator.metrics.registry.metrics(),
    };
    assert.ok(dumps.logs.includes('delivery failed'), 'the debug log was captured');
    for (const [where, text] of Object.entries(dumps)) {
      for (const secret of secrets) assert.ok(!text.includes(secret), `${where} holds a credential`);
    }
  });
});
