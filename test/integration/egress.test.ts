// The egress policy as a namespace user meets it: Subscribers that point at
// every address class the operator denies, on the real apiserver, with sync
// raises whose status says why nothing was sent. Addresses off this machine
// (link-local, NAT64) are only ever named, never reached: the tripwire of
// loopback-only.ts refuses and records any connect to them.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { EventsV1Api } from '@kubernetes/client-node';
import type { EventRaise, Subscriber } from '../../src/api/types.js';
import type { LookupAll } from '../../src/delivery/egress-guard.js';
import type { Operator } from '../../src/operator.js';
import { newNamespace, testCluster } from '../support/cluster.js';
import { offMachineAttempts } from '../support/loopback-only.js';
import { createSubscriber, getObject, raiseEvent, waitFor, waitForRaise, waitForReady } from '../support/objects.js';
import { startOperator } from '../support/operator.js';
import { XMLRPC_OK, startRawPeer, type RawPeer } from '../support/tcp-peers.js';

const condition = (s: Subscriber, type: string) => s.status?.conditions?.find((c) => c.type === type);

async function deniedRaise(namespace: string, event: string): Promise<EventRaise> {
  const raise = await raiseEvent(namespace, { event, syncMode: true });
  return waitForRaise(namespace, raise.metadata.name!);
}

async function egressDeniedTotal(operator: Operator, namespace: string): Promise<number> {
  const metric = (await operator.metrics.registry.getMetricsAsJSON()).find((m) => m.name === 'event_xmlrpc_egress_denied_total');
  return (metric?.values ?? []).filter((v) => v.labels.namespace === namespace).reduce((sum, v) => sum + v.value, 0);
}

/** Asserts the Subscriber's status, the raise's record and a Warning Event all say EgressDenied, with `message` in the text. */
async function assertDenied(namespace: string, name: string, event: string, message: RegExp): Promise<void> {
  const subscriber = await waitForReady(namespace, name, 'False');
  const ready = condition(subscriber, 'Ready')!;
  assert.equal(ready.reason, 'EgressDenied', JSON.stringify(subscriber.status));
  assert.match(ready.message, message);
  assert.match(ready.message, /deliveries to it fail with EgressDenied$/);
  assert.equal(condition(subscriber, 'Stalled')?.status, 'True', 'someone has to act: kstatus Failed');

  const raise = await deniedRaise(namespace, event);
  assert.equal(raise.status?.phase, 'Failed');
  const [record] = raise.status?.deliveries ?? [];
  assert.equal(record?.reason, 'EgressDenied', JSON.stringify(raise.status));
  assert.equal(record?.attempts, 1, 'not retried');
  assert.equal(record?.httpStatus, undefined);
  assert.match(record!.error!, /^egress denied: /);
  assert.match(record!.error!, message);

  const events = testCluster().admin.makeApiClient(EventsV1Api);
  await waitFor(
    () => events.listNamespacedEvent({ namespace }),
    (list) => list.items.find((e) => e.regarding?.name === name && e.reason === 'EgressDenied' && e.type === 'Warning'),
  );
}

describe('egress policy, the defaults', () => {
  let namespace: string;
  let operator: Operator;
  let peer: RawPeer;
  let apiPeer: RawPeer;
  const apiServer = new URL(testCluster().info.server);
  const names: Record<string, string> = {
    'metadata.test': '169.254.169.254',
    'mapped.test': '::ffff:169.254.169.254',
    'apiserver.test': apiServer.hostname,
  };
  const lookup: LookupAll = async (host) => {
    const address = names[host];
    if (!address) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    return [{ address, family: address.includes(':') ? 6 : 4 }];
  };

  before(async () => {
    namespace = await newNamespace('egress-defaults');
    peer = await startRawPeer(() => XMLRPC_OK, { host: '0.0.0.0' });
    // Another port of the API server's address, answering: denied because of the address, not the port.
    apiPeer = await startRawPeer(() => XMLRPC_OK, { host: apiServer.hostname });
    operator = await startOperator(namespace, ['--sync-mode', '--retry-limit=2', '--retry-initial-delay=10ms'], { lookup });
  });
  after(async () => {
    await operator?.stop();
    await peer?.close();
    await apiPeer?.close();
  });

  const cases: Array<[what: string, socket: () => string, message: RegExp]> = [
    ['link-local IPv4 (cloud metadata)', () => 'xmlrpc:169.254.169.254:80:m', /169\.254\.169\.254 is in 169\.254\.0\.0\/16 \(link-local, denied by default\)/],
    ['link-local IPv6', () => 'xmlrpc:[fe80::1]:80:m', /fe80::1 is in fe80::\/10 \(link-local, denied by default\)/],
    ['unspecified IPv4, which would reach a local listener', () => `xmlrpc:0.0.0.0:${peer.port}:m`, /0\.0\.0\.0 is in 0\.0\.0\.0\/8 \(unspecified, denied by default\)/],
    ['unspecified IPv6', () => `xmlrpc:[::]:${peer.port}:m`, /:: is in ::\/128 \(unspecified, denied by default\)/],
    ['IPv4-compatible IPv6 spelling of a link-local address', () => 'xmlrpc:[::a9fe:a9fe]:80:m', /::a9fe:a9fe \(that is 169\.254\.169\.254\) is in 169\.254\.0\.0\/16/],
    ['NAT64 spelling of a link-local address', () => 'xmlrpc:[64:ff9b::a9fe:a9fe]:80:m', /64:ff9b::a9fe:a9fe \(that is 169\.254\.169\.254\) is in 169\.254\.0\.0\/16/],
    ["the API server's port", () => `xmlrpc:${apiServer.hostname}:${apiServer.port}:m`, /is an address of the Kubernetes API server, denied by default/],
    ["another port of the API server's address", () => `xmlrpc:${apiServer.hostname}:${apiPeer.port}:m`, /is an address of the Kubernetes API server, denied by default/],
    ['a name that resolves to a link-local address', () => 'xmlrpc:metadata.test:80:m', /^egress denied: metadata\.test resolves only to denied addresses: 169\.254\.169\.254 is in 169\.254\.0\.0\/16/],
    ['a name that resolves to an IPv4-mapped IPv6 link-local address', () => 'xmlrpc:mapped.test:80:m', /mapped\.test resolves only to denied addresses: ::ffff:169\.254\.169\.254 \(that is 169\.254\.169\.254\) is in 169\.254\.0\.0\/16/],
    ["a name that resolves to the API server's address", () => `xmlrpc:apiserver.test:${apiPeer.port}:m`, /apiserver\.test resolves only to denied addresses: .* is an address of the Kubernetes API server/],
  ];
  cases.forEach(([what, socket, message], i) => {
    it(`denies ${what}: Subscriber EgressDenied, raise Failed without a retry, a Warning Event`, async () => {
      const event = `E_EGRESS_${i}`;
      await createSubscriber(namespace, `denied-${i}`, { event, socket: socket() });
      await assertDenied(namespace, `denied-${i}`, event, message);
    });
  });

  it('made no connection to any of them, and counted every refusal', async () => {
    assert.deepEqual(peer.acceptedOn, [], 'the local listener behind 0.0.0.0 and :: was never reached');
    assert.deepEqual(apiPeer.acceptedOn, [], "the listener on the API server's address was never reached");
    assert.deepEqual(offMachineAttempts(), []);
    assert.equal(await egressDeniedTotal(operator, namespace), cases.length);
  });

  it('still delivers to an allowed address (loopback is not denied by default)', async () => {
    await createSubscriber(namespace, 'allowed', { event: 'E_ALLOWED', socket: `xmlrpc:127.0.0.1:${peer.port}:m` });
    await waitForReady(namespace, 'allowed');
    assert.equal((await deniedRaise(namespace, 'E_ALLOWED')).status?.phase, 'Delivered');
    assert.deepEqual(peer.acceptedOn, ['127.0.0.1']);
  });
});

describe('egress policy, the flags', () => {
  let namespace: string;
  let operator: Operator;
  let peer: RawPeer;
  let rebound = false;
  const lookup: LookupAll = async (host) => {
    if (host === 'rebind.test') return [{ address: rebound ? '127.0.0.3' : '127.0.0.1', family: 4 }];
    // Real names go to the system resolver: localhost is 127.0.0.1 (and ::1 where /etc/hosts says so).
    const { systemLookup } = await import('../../src/delivery/egress-guard.js');
    return systemLookup(host);
  };

  before(async () => {
    namespace = await newNamespace('egress-flags');
    peer = await startRawPeer(() => XMLRPC_OK);
    // deploy/'s loopback denial, with the peer's one address reopened, as an admin would for a sidecar.
    operator = await startOperator(namespace, ['--sync-mode', '--egress-deny=127.0.0.0/8', '--egress-deny=::1', '--egress-allow=127.0.0.1/32'], { lookup });
  });
  after(async () => {
    await operator?.stop();
    await peer?.close();
  });

  it('denies IPv4 and IPv6 loopback by flag', async () => {
    await createSubscriber(namespace, 'loopback', { event: 'E_LOOPBACK', socket: `xmlrpc:127.0.0.3:${peer.port}:m` });
    await assertDenied(namespace, 'loopback', 'E_LOOPBACK', /127\.0\.0\.3 is in 127\.0\.0\.0\/8 \(--egress-deny\)/);
    await createSubscriber(namespace, 'ipv6-loopback', { event: 'E_LOOPBACK6', socket: `xmlrpc:[::1]:${peer.port}:m` });
    await assertDenied(namespace, 'ipv6-loopback', 'E_LOOPBACK6', /::1 is in ::1\/128 \(--egress-deny\)/);
  });

  it('reopens the narrower range that an allow rule names', async () => {
    await createSubscriber(namespace, 'reopened', { event: 'E_REOPENED', socket: `xmlrpc:127.0.0.1:${peer.port}:m` });
    await waitForReady(namespace, 'reopened');
    assert.equal((await deniedRaise(namespace, 'E_REOPENED')).status?.phase, 'Delivered');
    assert.deepEqual(peer.acceptedOn, ['127.0.0.1']);
  });

  it('checks at connect time: a name that resolved to an allowed address, then to a denied one, gets no connection', async () => {
    const decoy = await startRawPeer(() => XMLRPC_OK, { host: '127.0.0.3', port: peer.port }).catch(() => undefined);
    try {
      await createSubscriber(namespace, 'rebind', { event: 'E_REBIND', socket: `xmlrpc:rebind.test:${peer.port}:m` });
      await waitForReady(namespace, 'rebind');
      assert.equal((await deniedRaise(namespace, 'E_REBIND')).status?.phase, 'Delivered');
      rebound = true;
      const raise = await deniedRaise(namespace, 'E_REBIND');
      const [record] = raise.status?.deliveries ?? [];
      assert.equal(record?.reason, 'EgressDenied', JSON.stringify(raise.status));
      assert.match(record!.error!, /^egress denied: rebind\.test resolves only to denied addresses: 127\.0\.0\.3 is in 127\.0\.0\.0\/8/);
      assert.deepEqual(decoy?.acceptedOn ?? [], []);
      // Health reaches the Subscriber's status within its flush interval.
      await waitFor(
        () => getObject<Subscriber>(namespace, 'subscribers', 'rebind'),
        (s) => (/^egress denied: rebind\.test/.test(s.status?.lastError ?? '') ? s : undefined),
      );
    } finally {
      await decoy?.close();
    }
  });

  it('connects a real name (localhost) only to its allowed address', async () => {
    const before = peer.acceptedOn.length;
    await createSubscriber(namespace, 'localhost', { event: 'E_LOCALHOST', socket: `xmlrpc:localhost:${peer.port}:m` });
    await waitForReady(namespace, 'localhost');
    assert.equal((await deniedRaise(namespace, 'E_LOCALHOST')).status?.phase, 'Delivered');
    // ::1, where localhost has it, is denied: the one connection is to the reopened 127.0.0.1.
    assert.deepEqual(peer.acceptedOn.slice(before), ['127.0.0.1']);
  });
});
