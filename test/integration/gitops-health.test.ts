// What GitOps tools and kubectl make of the objects the operator wrote: the
// real kstatus library (Flux's health checks), the Argo CD health scripts of
// deploy/argocd/ under a real Lua interpreter, and a real kubectl (wait, get).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { API_VERSION, type EventRaise, type Subscriber } from '../../src/api/types.js';
import type { EventRelay } from '../../src/api/relay-types.js';
import type { Operator } from '../../src/operator.js';
import { newNamespace } from '../support/cluster.js';
import { storeUnchecked } from '../support/etcd.js';
import { argoHealth, kstatus, kubectl, luaInterpreters, tool } from '../support/health-tools.js';
import { createSubscriber, getObject, raiseEvent, waitFor, waitForRaise, waitForReady } from '../support/objects.js';
import { startOperator } from '../support/operator.js';
import { createRelay, waitForRelay } from '../support/relay.js';
import { XMLRPC_OK, refusedPort, startRawPeer, type RawPeer } from '../support/tcp-peers.js';

/** kstatus's verdict and Argo CD's word for it. */
const ARGO: Record<string, string> = { Current: 'Healthy', InProgress: 'Progressing', Failed: 'Degraded' };

type Kind = 'Subscriber' | 'EventRaise' | 'EventRelay';
type Health = Subscriber | EventRaise | EventRelay;
const RESOURCE: Record<Kind, 'subscribers' | 'eventraises' | 'eventrelays'> = { Subscriber: 'subscribers', EventRaise: 'eventraises', EventRelay: 'eventrelays' };
const ARGO_SCRIPT: Record<Kind, string> = { Subscriber: 'subscriber-health.lua', EventRaise: 'eventraise-health.lua', EventRelay: 'eventrelay-health.lua' };
interface Case {
  kind: Kind;
  namespace: string;
  name: string;
  kstatus: 'Current' | 'InProgress' | 'Failed';
}

const condition = (obj: Health, type: string) => obj.status?.conditions?.find((c) => c.type === type);

describe('health as kstatus, Argo CD and kubectl read it', () => {
  let namespace: string;
  let unwatched: string;
  let operator: Operator;
  const peers: RawPeer[] = [];
  const cases: Case[] = [];
  const raise: Record<string, string> = {};

  before(async () => {
    // Cold, kubectl takes minutes to build (.ci/run builds it before the tests).
    await Promise.all([tool('kstatus'), tool('kubectl'), luaInterpreters()]);
  }, { timeout: 20 * 60_000 });

  before(async () => {
    namespace = await newNamespace('gitops');
    unwatched = await newNamespace('gitops-unwatched');
    const ok = await startRawPeer(() => XMLRPC_OK);
    const silent = await startRawPeer(() => null);
    peers.push(ok, silent);
    const refused = await refusedPort();
    operator = await startOperator(namespace, ['--retry-limit=0']);

    const at = (port: number) => `xmlrpc:127.0.0.1:${port}:m`;
    const subscribers: Array<[string, Parameters<typeof createSubscriber>[2]]> = [
      ['ok', { event: 'E_OK', socket: at(ok.port) }],
      ['mix-ok', { event: 'E_MIX', socket: at(ok.port) }],
      ['mix-refused', { event: 'E_MIX', socket: at(refused) }],
      ['refused', { event: 'E_FAIL', socket: at(refused) }],
      ['async-refused', { event: 'E_ASYNC_FAIL', socket: at(refused) }],
      ['slow-ok', { event: 'E_SLOW', socket: at(ok.port) }],
      // The longest timeout admission allows keeps the raise in flight for the whole test.
      ['slow-silent', { event: 'E_SLOW', socket: at(silent.port), delivery: { timeoutSeconds: 300 } }],
      ['gone', { event: 'E_GONE', socket: 'xmlrpc:no-such-host.invalid:8080:m' }],
      ['expired', { event: 'E_EXPIRED', socket: at(ok.port), expire: 1 }],
    ];
    for (const [name, spec] of subscribers) await createSubscriber(namespace, name, spec);
    // A socket admission refuses today, stored as an older schema would have let it in.
    await storeUnchecked('subscribers', { apiVersion: API_VERSION, kind: 'Subscriber', metadata: { name: 'bad-socket', namespace }, spec: { event: 'E_BAD', socket: 'xmlrpc:127.0.0.1:99999:m' } });
    // Objects no operator watches: never observed.
    await createSubscriber(unwatched, 'unseen', { event: 'E_OK', socket: at(ok.port) });
    raise.unseen = (await raiseEvent(unwatched, { event: 'E_OK', syncMode: true })).metadata.name!;
    await createRelay(namespace, 'relay', { events: ['E_OK'] });
    await createRelay(unwatched, 'relay-unseen', {});

    await Promise.all(['ok', 'mix-ok', 'mix-refused', 'refused', 'async-refused', 'slow-ok', 'slow-silent'].map((n) => waitForReady(namespace, n)));
    await Promise.all(['gone', 'expired', 'bad-socket'].map((n) => waitForReady(namespace, n, 'False')));
    await waitForRelay(namespace, 'relay');

    const create = async (key: string, spec: Parameters<typeof raiseEvent>[1]) => (raise[key] = (await raiseEvent(namespace, spec)).metadata.name!);
    await create('delivered', { event: 'E_OK', syncMode: true });
    await create('dispatched', { event: 'E_OK', syncMode: false });
    await create('notDispatched', { event: 'E_ASYNC_FAIL', syncMode: false });
    await create('partial', { event: 'E_MIX', syncMode: true });
    await create('noSubscribers', { event: 'E_NONE', syncMode: true });
    for (const i of [1, 2, 3]) await create(`failed${i}`, { event: 'E_FAIL', syncMode: true });
    await create('inFlight', { event: 'E_SLOW', syncMode: true });
    raise.invalid = 'invalid-params';
    await storeUnchecked('eventraises', {
      apiVersion: API_VERSION,
      kind: 'EventRaise',
      metadata: { name: raise.invalid, namespace },
      spec: { event: 'E_OK', syncMode: true, params: [{ name: 'both', string: 'a', int: 1 }] },
    });

    for (const key of ['delivered', 'dispatched', 'notDispatched', 'partial', 'noSubscribers', 'failed1', 'failed2', 'failed3', 'invalid']) {
      await waitForRaise(namespace, raise[key]!);
    }
    // The in-flight raise: one subscriber answered, the other never will; its progress is written.
    await waitFor(
      () => getObject<EventRaise>(namespace, 'eventraises', raise.inFlight!),
      (r) => (r.status?.phase === 'Pending' && condition(r, 'Reconciling')?.status === 'True' ? r : undefined),
    );
    // Delivery health is written at most every 5 s.
    await waitFor(
      () => getObject<Subscriber>(namespace, 'subscribers', 'refused'),
      (s) => (condition(s, 'Delivering')?.status === 'False' ? s : undefined),
    );
    await waitFor(
      () => getObject<Subscriber>(namespace, 'subscribers', 'ok'),
      (s) => (condition(s, 'Delivering')?.reason === 'DeliveriesSucceeding' ? s : undefined),
    );

    const expect = (kind: Kind, ns: string, name: string, verdict: Case['kstatus']) => cases.push({ kind, namespace: ns, name, kstatus: verdict });
    expect('EventRaise', namespace, raise.delivered!, 'Current');
    expect('EventRaise', namespace, raise.dispatched!, 'Current');
    expect('EventRaise', namespace, raise.inFlight!, 'InProgress');
    expect('EventRaise', unwatched, raise.unseen, 'InProgress');
    for (const key of ['notDispatched', 'partial', 'noSubscribers', 'failed1', 'invalid']) expect('EventRaise', namespace, raise[key]!, 'Failed');
    for (const name of ['ok', 'mix-ok', 'slow-silent']) expect('Subscriber', namespace, name, 'Current');
    expect('Subscriber', namespace, 'mix-refused', 'Current'); // one failure: not yet DeliveryFailing
    expect('Subscriber', namespace, 'gone', 'InProgress');
    expect('Subscriber', unwatched, 'unseen', 'InProgress');
    for (const name of ['refused', 'expired', 'bad-socket']) expect('Subscriber', namespace, name, 'Failed');
    expect('EventRelay', namespace, 'relay', 'Current');
    expect('EventRelay', unwatched, 'relay-unseen', 'InProgress');
  }, { timeout: 110_000 });

  after(async () => {
    await operator?.stop();
    await Promise.all(peers.map((p) => p.close()));
  });

  const read = (c: Case) => getObject<Health>(c.namespace, RESOURCE[c.kind], c.name);
  const label = (c: Case, obj: Health) =>
    `${c.kind} ${c.name} (${(obj as EventRaise).status?.phase ?? ''} ${obj.status?.conditions?.map((x) => `${x.type}=${x.status}/${x.reason}`).join(' ') ?? 'no conditions'})`;

  it('the objects are what each case says', async () => {
    const get = (key: string) => getObject<EventRaise>(namespace, 'eventraises', raise[key]!);
    assert.deepEqual((await Promise.all(['delivered', 'dispatched', 'notDispatched', 'partial', 'noSubscribers', 'failed1', 'invalid'].map(get))).map((r) => r.status?.phase), [
      'Delivered', 'Dispatched', 'Dispatched', 'PartiallyDelivered', 'NoSubscribers', 'Failed', 'Failed',
    ]);
    assert.equal((await get('notDispatched')).status?.failed, 1, 'its request could not be written');
    assert.equal(condition(await get('invalid'), 'Complete')?.reason, 'InvalidEvent');
    const inFlight = await get('inFlight');
    assert.equal(inFlight.status?.startTime !== undefined, true, 'a raise in flight shows its startTime');
    assert.deepEqual([condition(inFlight, 'Complete')?.status, condition(inFlight, 'Complete')?.reason], ['False', 'Delivering']);
    assert.deepEqual((await getObject<EventRaise>(unwatched, 'eventraises', raise.unseen!)).status, { observedGeneration: 0 }, 'never observed: only the schema default');
    const reasons = async (name: string) => condition(await getObject<Subscriber>(namespace, 'subscribers', name), 'Ready')?.reason;
    assert.deepEqual(await Promise.all(['gone', 'expired', 'bad-socket'].map(reasons)), ['HostNotFound', 'Expired', 'InvalidPort']);
    const refused = await getObject<Subscriber>(namespace, 'subscribers', 'refused');
    assert.equal(condition(refused, 'Delivering')?.reason, 'DeliveryFailing');
    assert.equal(refused.status?.consecutiveFailures, 3);
  });

  it('kstatus (Flux health checks): in flight or unobserved InProgress, delivered Current, failed Failed', async () => {
    const objects = await Promise.all(cases.map(read));
    const verdicts = await kstatus(objects);
    assert.deepEqual(
      verdicts.map((v, i) => `${label(cases[i]!, objects[i]!)}: ${v.status}`),
      cases.map((c, i) => `${label(c, objects[i]!)}: ${c.kstatus}`),
    );
    const byName = (name: string) => verdicts[cases.findIndex((c) => c.name === name)]!;
    assert.match(byName('refused').message, /3 deliveries in a row failed.*connection refused/, 'the message says why');
    assert.match(byName('gone').message, /no-such-host\.invalid does not resolve/);
  });

  it('Argo CD health (deploy/argocd/*.lua): Progressing, Healthy or Degraded, as kstatus says', async () => {
    for (const c of cases) {
      const obj = await read(c);
      const health = await argoHealth(ARGO_SCRIPT[c.kind], obj);
      assert.equal(health.status, ARGO[c.kstatus], `${label(c, obj)}: ${health.message}`);
      assert.notEqual(health.message, 'nil', `${label(c, obj)} has a message`);
    }
    const partial = await argoHealth('eventraise-health.lua', await getObject(namespace, 'eventraises', raise.partial!));
    assert.match(partial.message, /^PartiallyDelivered: 1 of 2 subscribers answered with success, 1 failed; .*eventxmlrpc\.io\/redeliver/);
  });

  it('kubectl wait: condition=Ready waits for delivered, condition=Complete for finished whatever the result', async () => {
    const xraise = (...keys: string[]) => keys.map((k) => `eventraise/${raise[k]}`);
    const wait = (args: string[]) => kubectl(['wait', '-n', namespace, ...args]);

    const delivered = await wait(['--for=condition=Ready', '--timeout=60s', ...xraise('delivered', 'dispatched')]);
    assert.equal(delivered.code, 0, delivered.stderr);
    assert.match(delivered.stdout, new RegExp(`eventraise.eventxmlrpc.io/${raise.delivered} condition met`));

    const finished = await wait(['--for=condition=Complete', '--timeout=60s', ...xraise('delivered', 'dispatched', 'partial', 'noSubscribers', 'failed1', 'invalid')]);
    assert.equal(finished.code, 0, finished.stderr);
    assert.equal(finished.stdout.trim().split('\n').length, 6);

    for (const key of ['notDispatched', 'partial', 'noSubscribers', 'failed1', 'invalid']) {
      const notDelivered = await wait(['--for=condition=Ready', '--timeout=2s', ...xraise(key)]);
      assert.notEqual(notDelivered.code, 0, `${key}: a raise that was not delivered is never Ready`);
      assert.match(notDelivered.stderr, /timed out waiting for the condition/);
    }
    const running = await wait(['--for=condition=Complete', '--timeout=2s', ...xraise('inFlight')]);
    assert.notEqual(running.code, 0, 'a raise in flight is not Complete');
    assert.match(running.stderr, /timed out waiting for the condition/);

    // Failures have their own condition to wait on.
    const stalled = await wait(['--for=condition=Stalled', '--timeout=30s', ...xraise('partial', 'failed1')]);
    assert.equal(stalled.code, 0, stalled.stderr);

    // Subscribers: Ready is "deliveries go to it"; Delivering=false catches a failing one.
    const usable = await wait(['--for=condition=Ready', '--timeout=60s', 'subscriber/ok']);
    assert.equal(usable.code, 0, usable.stderr);
    const failing = await wait(['--for=condition=Delivering=false', '--timeout=60s', 'subscriber/refused']);
    assert.equal(failing.code, 0, failing.stderr);
  });

  it('kubectl wait started before the delivery returns once the raise is delivered', async () => {
    const late = await startRawPeer(() => XMLRPC_OK, { delayMs: 1500 });
    peers.push(late);
    await createSubscriber(namespace, 'late', { event: 'E_LATE', socket: `xmlrpc:127.0.0.1:${late.port}:m` });
    await waitForReady(namespace, 'late');
    const name = (await raiseEvent(namespace, { event: 'E_LATE', syncMode: true })).metadata.name!;
    const waiting = kubectl(['wait', '-n', namespace, '--for=condition=Ready', '--timeout=60s', `eventraise/${name}`]);
    await late.waitFor(1);
    const before = await getObject<EventRaise>(namespace, 'eventraises', name);
    assert.notEqual(condition(before, 'Ready')?.status, 'True', 'not delivered while the server has not answered');
    const result = await waiting;
    assert.equal(result.code, 0, result.stderr);
    const after = await getObject<EventRaise>(namespace, 'eventraises', name);
    assert.deepEqual([after.status?.phase, condition(after, 'Ready')?.status], ['Delivered', 'True']);
  });

  it('kubectl get xsub tells a failing subscriber from a healthy one', async () => {
    const table = async (wide: boolean) => {
      const { code, stdout, stderr } = await kubectl(['get', 'xsub', '-n', namespace, ...(wide ? ['-o', 'wide'] : [])]);
      assert.equal(code, 0, stderr);
      return parseTable(stdout);
    };
    const rows = await table(false);
    const pick = (name: string, columns: string[]) => columns.map((c) => rows.get(name)?.[c]);
    const columns = ['READY', 'DELIVERING', 'FAILURES'];
    assert.deepEqual(pick('ok', columns), ['True', 'True', '0']);
    assert.deepEqual(pick('refused', columns), ['True', 'False', '3']);
    assert.deepEqual(pick('mix-refused', columns), ['True', 'True', '1']);
    assert.deepEqual(pick('gone', columns.slice(0, 2)), ['False', '']);
    const wide = await table(true);
    assert.match(wide.get('refused')?.['LAST ERROR'] ?? '', /^connection refused by 127\.0\.0\.1:\d+$/);
    assert.equal(wide.get('gone')?.REASON, 'HostNotFound');
    assert.equal(wide.get('bad-socket')?.REASON, 'InvalidPort');
  });
});

/**
 * kubectl's table: columns start where their header starts (headers are
 * single words or words joined by one space, columns apart by 3+ spaces).
 */
function parseTable(text: string): Map<string, Record<string, string>> {
  const [header = '', ...lines] = text.trimEnd().split('\n');
  const starts = [...header.matchAll(/\S+(?: \S+)*/g)].map((m) => ({ name: m[0], at: m.index }));
  const rows = new Map<string, Record<string, string>>();
  for (const line of lines) {
    const row: Record<string, string> = {};
    starts.forEach((col, i) => {
      row[col.name] = line.slice(col.at, starts[i + 1]?.at ?? line.length).trim();
    });
    rows.set(row.NAME ?? '', row);
  }
  return rows;
}
