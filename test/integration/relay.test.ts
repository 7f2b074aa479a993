// EventRelay end to end: OpenSIPS's own requests in (the captures, byte for
// byte, written and half-closed as its sender does), XML-RPC calls out to the
// namespace's Subscribers, and what a user sees: answers, metrics, status.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { after, before, describe, it } from 'node:test';
import { Watch } from '@kubernetes/client-node';
import type { EventParam } from '../../src/core/event-params.js';
import { encodeMethodCall } from '../../src/core/method-call.js';
import type { Operator } from '../../src/operator.js';
import { newNamespace, testCluster } from '../support/cluster.js';
import { createSubscriber, waitFor, waitForReady } from '../support/objects.js';
import { grantLeaseRbac, startOperator } from '../support/operator.js';
import {
  createRelay,
  faultOf,
  getRelay,
  metric,
  openSipsBody,
  openSipsRequest,
  postToRelay,
  retarget,
  sendLikeOpenSips,
  waitForRelay,
  type RelayAddress,
} from '../support/relay.js';
import { XMLRPC_OK, startRawPeer, type RawPeer } from '../support/tcp-peers.js';
import { readVector } from '../support/vectors.js';
import { startPythonPeer, type XmlRpcPeer } from '../support/xmlrpc-peers.js';

// The inputs each capture was raised with (test/fixtures/opensips-vectors/README.md).
const CASES: Record<string, { event: string; params: EventParam[]; plain: unknown[]; struct: unknown[] }> = {
  no_params: { event: 'E_XMLRPC_TEST', params: [], plain: [], struct: [] },
  one_string: { event: 'E_XMLRPC_TEST', params: [{ name: 's', string: 'hello' }], plain: ['s', 'hello'], struct: [{ s: 'hello' }] },
  one_int: { event: 'E_XMLRPC_TEST', params: [{ name: 'n', int: 42 }], plain: ['n', 42], struct: [{ n: 42 }] },
  several: {
    event: 'E_XMLRPC_TEST',
    params: [{ name: 'a', string: 'x' }, { name: 'b', int: 7 }, { name: 'c', string: 'y' }],
    plain: ['a', 'x', 'b', 7, 'c', 'y'],
    struct: [{ a: 'x' }, { b: 7 }, { c: 'y' }],
  },
  utf8: { event: 'E_XMLRPC_TEST', params: [{ name: 'u', string: 'héllo ☃ 日本' }], plain: ['u', 'héllo ☃ 日本'], struct: [{ u: 'héllo ☃ 日本' }] },
  socket_path: { event: 'E_XMLRPC_BENCH', params: [{ name: 'k', string: 'v' }], plain: ['k', 'v'], struct: [{ k: 'v' }] },
};

describe('EventRelay', () => {
  let namespace: string;
  let operator: Operator;
  let raw: RawPeer;
  let python: XmlRpcPeer;
  let relay: RelayAddress;

  before(async () => {
    namespace = await newNamespace('relay');
    [raw, python] = await Promise.all([startRawPeer(() => XMLRPC_OK), startPythonPeer()]);
    operator = await startOperator(namespace);
    // Each event to four subscribers: two layouts, at a raw peer (bytes) and at Python's xmlrpc.server (decoded).
    for (const event of ['E_XMLRPC_TEST', 'E_XMLRPC_BENCH']) {
      const e = event.toLowerCase().replaceAll('_', '-');
      await createSubscriber(namespace, `${e}-raw-plain`, { event, socket: `xmlrpc:127.0.0.1:${raw.port}/plain:ev_cb` });
      await createSubscriber(namespace, `${e}-raw-struct`, { event, socket: `xmlrpc:127.0.0.1:${raw.port}/struct:ev_cb`, useStructParam: true });
      await createSubscriber(namespace, `${e}-py-plain`, { event, socket: `xmlrpc:127.0.0.1:${python.port}:plain_cb` });
      await createSubscriber(namespace, `${e}-py-struct`, { event, socket: `xmlrpc:127.0.0.1:${python.port}:struct_cb`, useStructParam: true });
    }
    await createSubscriber(namespace, 'threshold', { event: 'E_CORE_THRESHOLD', socket: `xmlrpc:127.0.0.1:${python.port}:threshold`, useStructParam: true });
    await createRelay(namespace, 'opensips', {});
    relay = await waitForRelay(namespace, 'opensips');
  });
  after(async () => {
    await operator?.stop();
    await raw?.close();
    await python?.close();
  });

  it('status gives the socket to paste into OpenSIPS, with a secret path', () => {
    const { relay: object, host, port, path } = relay;
    assert.equal(host, '127.0.0.1');
    assert.equal(port, operator.relayPort);
    assert.match(path, new RegExp(`^/relay/${namespace}/opensips/[A-Za-z0-9_-]{32}$`));
    assert.equal(object.status?.path, path);
    assert.equal(object.status?.observedGeneration, 1);
    assert.equal(object.status?.conditions?.[0]?.reason, 'Serving');
  });

  it('replays every OpenSIPS capture as OpenSIPS writes it: each subscriber gets the bytes OpenSIPS would have sent it', async () => {
    const files = readVector.list();
    assert.ok(files.length >= 11);
    for (const file of files) {
      const name = file.replace(/^(plain|struct)__/, '').replace(/\.raw$/, '');
      const input = CASES[name];
      assert.ok(input, `a case for ${file}`);
      const rawBefore = raw.requests.length;
      const pyBefore = python.log.calls.length;
      const captured = readVector(file)!;
      const bytes = Buffer.concat([Buffer.from(`${captured.requestLine}\r\n${captured.headerLines.join('\r\n')}\r\n\r\n`, 'latin1'), captured.body]);
      await sendLikeOpenSips(relay.port, retarget(bytes, relay.path));

      const requests = (await raw.waitFor(rawBefore + 2)).slice(rawBefore);
      for (const mode of ['plain', 'struct'] as const) {
        const got = requests.find((r) => r.requestLine === `POST /${mode} HTTP/1.1`);
        assert.ok(got, `${file}: the ${mode} subscriber got a request`);
        const golden: string = readVector(`${mode}__${name}.raw`)?.body.toString('utf8') ?? encodeMethodCall({ method: 'ev_cb', ...input, useStructParam: mode === 'struct' });
        assert.equal(got.body.toString('utf8'), golden, `${file} relayed to a ${mode} subscriber`);
      }
      const calls = (await python.log.waitFor(pyBefore + 2)).slice(pyBefore);
      assert.deepEqual(calls.find((c) => c.method === 'plain_cb')?.params, [input.event, ...input.plain], file);
      assert.deepEqual(calls.find((c) => c.method === 'struct_cb')?.params, [input.event, ...input.struct], file);
    }
  });

  it("takes OpenSIPS's ill-formed bodies: unescaped & and <, raw CR LF TAB, unsigned negative ints, UTF-8, empty strings, garbage", async () => {
    const sip = 'INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\nFrom: "A & B" <sip:alice@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\nSubject: a\tb ☃\r\n\r\n';
    const body = openSipsBody('E_CORE_THRESHOLD', [
      { name: 'source', value: 'msg processing' },
      { name: 'time', value: '18446744073709551611', int: true },
      { name: 'extra', value: sip },
      { name: 'empty', value: '' },
      // raise_event params '{"flag":true}': OpenSIPS sends 4 bytes of freed memory for true.
      { name: 'flag', value: Buffer.from([0x00, 0xc3, 0x3c, 0x01]) },
      { value: '-1', int: true },
    ]);
    const before = python.log.calls.length;
    const repairedBefore = await metric(operator.httpPort, 'event_xmlrpc_relay_repaired_values_total', { namespace, relay: 'opensips' });
    await sendLikeOpenSips(relay.port, openSipsRequest(relay, body));
    const [call] = (await python.log.waitFor(before + 1)).slice(before);
    assert.deepEqual(call, {
      method: 'threshold',
      params: ['E_CORE_THRESHOLD', { source: 'msg processing' }, { time: -5 }, { extra: sip }, { empty: '' }, { flag: '\uFFFD\uFFFD<\uFFFD' }, -1],
    });
    assert.equal(await metric(operator.httpPort, 'event_xmlrpc_relay_repaired_values_total', { namespace, relay: 'opensips' }), repairedBefore + 1);
  });

  it('a generic XML-RPC client gets a methodResponse; an event no Subscriber takes is accepted all the same', async () => {
    const answer = await postToRelay(relay.port, relay.path, openSipsBody('E_NOBODY', []));
    assert.equal(answer.status, 200);
    assert.equal(answer.headers['content-type'], 'text/xml');
    assert.match(answer.body, /<methodResponse><params><param><value><string>OK<\/string><\/value><\/param><\/params><\/methodResponse>/);
  });

  it('a wrong path gets 404 with a fault and counts; nothing is delivered', async () => {
    const unknownBefore = await metric(operator.httpPort, 'event_xmlrpc_relay_unknown_path_total');
    const received = await metric(operator.httpPort, 'event_xmlrpc_relay_received_total', { namespace, relay: 'opensips' });
    const wrongToken = relay.path.replace(/[A-Za-z0-9_-]{32}$/, 'A'.repeat(32));
    const paths = [wrongToken, `/relay/${namespace}/other/${'B'.repeat(32)}`, '/RPC2', '/', `${relay.path}x`, `${relay.path}?a=1`];
    const rawBefore = raw.requests.length;
    for (const path of paths) {
      const answer = await postToRelay(relay.port, path, openSipsBody('E_XMLRPC_TEST', []));
      assert.equal(answer.status, 404, path);
      assert.deepEqual(faultOf(answer.body), { faultCode: -32601, faultString: 'UnknownPath: no relay at this path' });
    }
    await sendLikeOpenSips(relay.port, openSipsRequest({ ...relay, path: wrongToken }, openSipsBody('E_XMLRPC_TEST', [])));
    await waitFor(
      () => metric(operator.httpPort, 'event_xmlrpc_relay_unknown_path_total'),
      (n) => (n === unknownBefore + paths.length + 1 ? n : undefined),
    );
    assert.equal(await metric(operator.httpPort, 'event_xmlrpc_relay_received_total', { namespace, relay: 'opensips' }), received);
    // A raise of the same event after them is the next thing the subscribers get.
    await sendLikeOpenSips(relay.port, openSipsRequest(relay, openSipsBody('E_XMLRPC_TEST', [{ name: 'after', value: 'x' }])));
    const next = (await raw.waitFor(rawBefore + 2)).slice(rawBefore);
    assert.ok(next.every((r) => r.body.toString().includes('<name>after</name>')));
  });

  it('refuses, with a fault and a count per reason: not POST, not XML-RPC, a body over the cap, a value type events lack', async () => {
    const refused = (reason: string) => metric(operator.httpPort, 'event_xmlrpc_relay_refused_total', { namespace, relay: 'opensips', reason });
    const before = { MethodNotAllowed: await refused('MethodNotAllowed'), Malformed: await refused('Malformed'), TooLarge: await refused('TooLarge'), Unsupported: await refused('Unsupported') };

    const get = await postToRelay(relay.port, relay.path, '', { method: 'GET' });
    assert.deepEqual([get.status, get.headers.allow, faultOf(get.body)?.faultCode], [405, 'POST', -32600]);
    const junk = await postToRelay(relay.port, relay.path, 'not xml at all');
    assert.equal(junk.status, 400);
    assert.match(faultOf(junk.body)?.faultString ?? '', /^Malformed: expected <methodCall>/);
    const huge = Buffer.alloc(200_000, 0x20);
    const declared = await postToRelay(relay.port, relay.path, huge);
    assert.deepEqual([declared.status, faultOf(declared.body)?.faultString], [413, 'TooLarge: a body of 200000 bytes is over the 131072-byte limit']);
    const chunked = await postToRelay(relay.port, relay.path, huge, { chunked: true });
    assert.deepEqual([chunked.status, faultOf(chunked.body)?.faultString], [413, 'TooLarge: the body is over the 131072-byte limit']);
    const typed = await postToRelay(
      relay.port,
      relay.path,
      '<methodCall><methodName>m</methodName><params><param><value><string>E_X</string></value></param><param><value><double>1.5</double></value></param></params></methodCall>',
    );
    assert.deepEqual([typed.status, faultOf(typed.body)?.faultString], [400, 'Unsupported: a <double> value: events carry only <string> and <int> values']);

    assert.equal(await refused('MethodNotAllowed'), before.MethodNotAllowed + 1);
    assert.equal(await refused('Malformed'), before.Malformed + 1);
    assert.equal(await refused('TooLarge'), before.TooLarge + 2);
    assert.equal(await refused('Unsupported'), before.Unsupported + 1);
  });

  it('refuses an event not in spec.events, counts it, and delivers the ones listed', async () => {
    await createRelay(namespace, 'pike-only', { events: ['E_XMLRPC_BENCH'] });
    const pike = await waitForRelay(namespace, 'pike-only');
    const before = raw.requests.length;
    const refused = await postToRelay(pike.port, pike.path, openSipsBody('E_XMLRPC_TEST', []));
    assert.equal(refused.status, 403);
    assert.deepEqual(faultOf(refused.body), { faultCode: -32602, faultString: 'NotAccepted: event E_XMLRPC_TEST is not in spec.events of EventRelay pike-only' });
    assert.equal(await metric(operator.httpPort, 'event_xmlrpc_relay_refused_total', { namespace, relay: 'pike-only', reason: 'NotAccepted' }), 1);
    const accepted = await postToRelay(pike.port, pike.path, openSipsBody('E_XMLRPC_BENCH', [{ name: 'k', value: 'listed' }]));
    assert.equal(accepted.status, 200);
    const requests = (await raw.waitFor(before + 2)).slice(before);
    assert.ok(requests.every((r) => r.body.toString().includes('<string>E_XMLRPC_BENCH</string>')), 'only the listed event went out');
  });

  it('a full queue answers 503 with a fault and counts a drop; status totals and kubectl columns show it', async () => {
    // A server that accepts and never answers holds each sync delivery: two events fill a queue of two.
    const stuck = await startRawPeer(() => null);
    try {
      await createSubscriber(namespace, 'stuck', {
        event: 'E_STUCK',
        socket: `xmlrpc:127.0.0.1:${stuck.port}:m`,
        delivery: { timeoutSeconds: 60, retry: { limit: 0 } },
      });
      await waitForReady(namespace, 'stuck');
      await createRelay(namespace, 'small', { queueSize: 2, syncMode: true });
      const small = await waitForRelay(namespace, 'small');
      const answers = [];
      for (let i = 0; i < 3; i++) answers.push(await postToRelay(small.port, small.path, openSipsBody('E_STUCK', [{ name: 'i', value: String(i), int: true }])));
      assert.deepEqual(answers.map((a) => a.status), [200, 200, 503]);
      assert.equal(answers[2]!.headers['retry-after'], '1');
      assert.equal(faultOf(answers[2]!.body)?.faultCode, -32400);
      assert.match(faultOf(answers[2]!.body)?.faultString ?? '', /^QueueFull: EventRelay small holds as many events as it may/);
      const labels = { namespace, relay: 'small' };
      assert.equal(await metric(operator.httpPort, 'event_xmlrpc_relay_dropped_total', { ...labels, reason: 'QueueFull' }), 1);
      assert.equal(await metric(operator.httpPort, 'event_xmlrpc_relay_queue_depth', labels), 2);
      await stuck.waitFor(2);

      const counted = await waitFor(
        () => getRelay(namespace, 'small'),
        (r) => (r.status?.received === 3 ? r.status : undefined),
      );
      assert.deepEqual([counted.received, counted.accepted, counted.refused, counted.dropped], [3, 2, undefined, 1]);
      assert.ok(counted.lastEventTime);

      // What `kubectl get xrelay` prints: the API server's table of the CRD's printer columns.
      const table = await fetchTable(namespace, 'small');
      const columns = table.columnDefinitions.filter((c) => c.priority === 0).map((c) => c.name);
      assert.deepEqual(columns, ['Name', 'Mode', 'Socket', 'Received', 'Refused', 'Dropped', 'Delivered', 'Age']);
      const cells = table.rows[0]!.cells;
      assert.deepEqual(cells.slice(0, 7), ['small', 'Memory', small.relay.status!.socket, 3, null, 1, null]);
    } finally {
      await stuck.close();
    }
  });

  it('counts reach the status in few writes, not one per event', async () => {
    await createRelay(namespace, 'burst', {});
    const burst = await waitForRelay(namespace, 'burst');
    const writes = await watchWrites(namespace, 'burst');
    const before = raw.requests.length;
    const deliveries = () => metric(operator.httpPort, 'event_xmlrpc_deliveries_total', { outcome: 'delivered', namespace });
    const deliveredBefore = await deliveries();
    for (let i = 0; i < 100; i++) await sendLikeOpenSips(burst.port, openSipsRequest(burst, openSipsBody('E_XMLRPC_BENCH', [{ name: 'i', value: String(i), int: true }])));
    await raw.waitFor(before + 200, 60_000);
    const status = await waitFor(
      () => getRelay(namespace, 'burst'),
      (r) => (r.status?.delivered === 400 ? r.status : undefined),
    );
    writes.stop();
    // Four subscribers take E_XMLRPC_BENCH.
    assert.deepEqual([status.received, status.accepted, status.delivered, status.failed], [100, 100, 400, undefined]);
    assert.ok(writes.count() < 20, `${writes.count()} status writes for 100 events`);
    assert.equal(await deliveries(), deliveredBefore + 400, 'relayed events count in the delivery metrics of raises');
  });
});

describe('EventRelay isolation', () => {
  it("a relay flooded towards a server that never answers fills its own queue only; another namespace's relay delivers all", async () => {
    const [noisy, quiet] = await Promise.all([newNamespace('relay-noisy'), newNamespace('relay-quiet')]);
    const stuck = await startRawPeer(() => null);
    const python = await startPythonPeer();
    const operator = await startOperator([noisy, quiet], ['--shutdown-grace=500ms']);
    try {
      await createSubscriber(noisy, 'stuck', { event: 'E_FLOOD', socket: `xmlrpc:127.0.0.1:${stuck.port}:m`, delivery: { timeoutSeconds: 60, retry: { limit: 0 } } });
      await createSubscriber(quiet, 'py', { event: 'E_FLOOD', socket: `xmlrpc:127.0.0.1:${python.port}:quiet` });
      await Promise.all([waitForReady(noisy, 'stuck'), waitForReady(quiet, 'py')]);
      await createRelay(noisy, 'opensips', { queueSize: 5, syncMode: true });
      await createRelay(quiet, 'opensips', { syncMode: true });
      const [a, b] = await Promise.all([waitForRelay(noisy, 'opensips'), waitForRelay(quiet, 'opensips')]);

      const statuses: number[] = [];
      for (let i = 0; i < 40; i++) {
        // The flood and the quiet namespace's events interleave, as two OpenSIPS would send them.
        statuses.push((await postToRelay(a.port, a.path, openSipsBody('E_FLOOD', [{ name: 'i', value: String(i), int: true }]))).status);
        if (i % 4 === 0) await sendLikeOpenSips(b.port, openSipsRequest(b, openSipsBody('E_FLOOD', [{ name: 'i', value: String(i / 4), int: true }])));
      }
      assert.deepEqual(statuses, [...Array(5).fill(200), ...Array(35).fill(503)], 'the noisy relay holds its queue of 5, then refuses');
      const calls = await python.log.waitFor(10);
      assert.deepEqual(calls.map((c) => c.params[2]).sort((x, y) => Number(x) - Number(y)), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      const dropped = (namespace: string) => metric(operator.httpPort, 'event_xmlrpc_relay_dropped_total', { namespace, relay: 'opensips', reason: 'QueueFull' });
      assert.deepEqual([await dropped(noisy), await dropped(quiet)], [35, 0]);
    } finally {
      await operator.stop();
      await stuck.close();
      await python.close();
    }
  });
});

describe('EventRelay on every replica', () => {
  it('the replica that is not the leader serves the relay and delivers what it receives', async () => {
    const namespace = await newNamespace('relay-ha');
    await grantLeaseRbac(namespace);
    const python = await startPythonPeer();
    const flags = ['--leader-elect', `--leader-election-namespace=${namespace}`, '--lease-duration=3s', '--renew-deadline=2s', '--retry-period=500ms'];
    const first = await startOperator(namespace, flags);
    await waitFor(async () => first.isLeader, (leading) => leading || undefined);
    const second = await startOperator(namespace, flags);
    try {
      assert.equal(second.isLeader, false);
      await createSubscriber(namespace, 'py', { event: 'E_HA', socket: `xmlrpc:127.0.0.1:${python.port}:on_ha` });
      await waitForReady(namespace, 'py');
      await createRelay(namespace, 'opensips', {});
      const { path } = await waitForRelay(namespace, 'opensips');
      await waitFor(async () => second.index.match(namespace, 'E_HA', Date.now()).length, (n) => n || undefined);
      for (const [operator, tag] of [[second, 'follower'], [first, 'leader']] as const) {
        const answer = await postToRelay(operator.relayPort, path, openSipsBody('E_HA', [{ name: 'via', value: tag }]));
        assert.equal(answer.status, 200, tag);
      }
      const calls = await python.log.waitFor(2);
      assert.deepEqual(calls.map((c) => c.params).sort(), [
        ['E_HA', 'via', 'follower'],
        ['E_HA', 'via', 'leader'],
      ]);
      assert.equal(second.isLeader, false, 'the follower delivered without leading');
    } finally {
      await second.stop();
      await first.stop();
      await python.close();
    }
  });
});

/** The API server's Table rendering of one relay: what `kubectl get xrelay NAME` prints. */
async function fetchTable(namespace: string, name: string): Promise<{ columnDefinitions: Array<{ name: string; priority: number }>; rows: Array<{ cells: unknown[] }> }> {
  const { admin, info } = testCluster();
  const user = admin.getCurrentUser();
  return new Promise((resolve, reject) => {
    const url = new URL(`${info.server}/apis/eventxmlrpc.io/v1alpha1/namespaces/${namespace}/eventrelays/${name}`);
    const req = https.request(
      url,
      { headers: { Accept: 'application/json;as=Table;v=v1;g=meta.k8s.io', Authorization: `Bearer ${user?.token}` }, ca: readFileSync(info.caFile) },
      (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve(JSON.parse(text)));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** Counts the writes of one relay a watch sees. */
async function watchWrites(namespace: string, name: string): Promise<{ count(): number; stop(): void }> {
  let writes = 0;
  const controller = await new Watch(testCluster().admin).watch(
    `/apis/eventxmlrpc.io/v1alpha1/namespaces/${namespace}/eventrelays`,
    { fieldSelector: `metadata.name=${name}` },
    (type: string) => {
      if (type === 'MODIFIED') writes++;
    },
    () => {},
  );
  return { count: () => writes, stop: () => controller.abort() };
}
