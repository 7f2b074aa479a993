import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SubscriberHealth, SubscriberStatus } from '../../src/api/types.js';
import { findCondition, rfc3339, setCondition, withConditions, type Condition } from '../../src/core/conditions.js';
import { parseSocket, type SocketError } from '../../src/core/socket.js';
import { DELIVERY_FAILING_AFTER } from '../../src/core/subscriber-health.js';
import { subscriberStatus, type ConnectionCheck, type Expiry, type HostCheck } from '../../src/core/subscriber-status.js';

const now = new Date('2026-01-02T03:04:05.678Z');
const resolved: HostCheck = { kind: 'resolved' };
type More = { host?: HostCheck; connection?: ConnectionCheck; previous?: SubscriberStatus; now?: Date; generation?: number; expiry?: Expiry; health?: SubscriberHealth };
const status = (socket: string, more: More = {}) =>
  subscriberStatus({
    generation: more.generation ?? 1,
    event: 'E_PIKE_BLOCKED',
    name: 'blocker',
    parsed: parseSocket(socket),
    host: more.host ?? resolved,
    connection: more.connection,
    expiry: more.expiry,
    health: more.health ?? {},
    previous: more.previous,
    now: more.now ?? now,
  });
const ready = (s: SubscriberStatus) => findCondition(s.conditions, 'Ready');
/** [type, status, reason] of every condition, in order. */
const shape = (s: SubscriberStatus) => s.conditions?.map((c) => [c.type, c.status, c.reason]);

describe('subscriberStatus', () => {
  it('a host whose every address the egress policy denies is Ready=False EgressDenied and Stalled, ahead of a Secret problem', () => {
    const detail = 'egress denied: 169.254.169.254 is in 169.254.0.0/16 (link-local, denied by default); no connection was made';
    const s = status('xmlrpc:169.254.169.254:80:m', {
      host: { kind: 'denied', detail },
      connection: { ok: false, reason: 'SecretNotFound', message: 'Secret voip/x does not exist' },
    });
    assert.deepEqual(shape(s), [['Ready', 'False', 'EgressDenied'], ['Stalled', 'True', 'EgressDenied']]);
    assert.equal(ready(s)?.message, detail);
  });

  it('a Secret problem is Ready=False with its reason: Reconciling for a missing Secret, Stalled for the others', () => {
    for (const [reason, condition] of [['SecretNotFound', 'Reconciling'], ['SecretAccessDenied', 'Stalled'], ['SecretKeyMissing', 'Stalled'], ['InvalidSecret', 'Stalled']] as const) {
      const s = status('xmlrpc:blocker.voip.svc:8080:m', { connection: { ok: false, reason, message: `Secret voip/x: ${reason}` } });
      assert.deepEqual(shape(s), [['Ready', 'False', reason], [condition, 'True', reason]]);
      assert.equal(ready(s)?.message, `Secret voip/x: ${reason}; deliveries to it fail with ${reason} until then`);
    }
  });

  it('a valid socket with a resolving host is Ready=True reason Valid, with the target', () => {
    const s = status('xmlrpc:blocker.voip.svc:8080:block_ip');
    assert.deepEqual(s.target, {
      host: 'blocker.voip.svc',
      port: 8080,
      path: '/RPC2',
      method: 'block_ip',
      url: 'http://blocker.voip.svc:8080/RPC2',
    });
    assert.deepEqual(shape(s), [['Ready', 'True', 'Valid'], ['Delivering', 'True', 'NoDeliveries']]);
    const c = ready(s);
    assert.equal(c?.type, 'Ready');
    assert.equal(c?.status, 'True');
    assert.equal(c?.reason, 'Valid');
    assert.match(c?.message ?? '', /E_PIKE_BLOCKED/);
    assert.match(c?.message ?? '', /block_ip/);
    assert.match(c?.message ?? '', /http:\/\/blocker\.voip\.svc:8080\/RPC2/);
    assert.equal(c?.lastTransitionTime, '2026-01-02T03:04:05Z', 'second precision, as metav1.Time');
  });

  it('a valid socket whose host has not been looked up yet is Ready=True', () => {
    const s = status('xmlrpc:10.0.0.1:8080:m', { host: { kind: 'unknown' } });
    assert.equal(ready(s)?.status, 'True');
    assert.equal(ready(s)?.reason, 'Valid');
    assert.equal(s.target?.url, 'http://10.0.0.1:8080/RPC2');
  });

  const bad: Array<[string, SocketError]> = [
    ['XMLRPC:h:8090:m', 'UnsupportedScheme'],
    ['xmlrpc:h:8090', 'MalformedSocket'],
    ['xmlrpc:h', 'MalformedSocket'],
    ['xmlrpc::8090:m', 'InvalidHost'],
    ['xmlrpc:256.1.1.1:8090:m', 'InvalidHost'],
    ['xmlrpc:h:65536:m', 'InvalidPort'],
    ['xmlrpc:h:8090/a b:m', 'InvalidPath'],
    ['xmlrpc:h:8090:a b', 'InvalidMethod'],
  ];
  for (const [socket, reason] of bad) {
    it(`socket ${JSON.stringify(socket)} is Ready=False ${reason}, says to fix spec.socket, and has no target`, () => {
      const parsed = parseSocket(socket);
      assert.equal(parsed.ok, false);
      const s = status(socket, { host: { kind: 'notFound', detail: 'ENOTFOUND' } });
      const c = ready(s);
      assert.equal(c?.status, 'False');
      assert.equal(c?.reason, reason);
      assert.ok(c?.message.endsWith('fix spec.socket'), c?.message);
      if (!parsed.ok) assert.ok(c?.message.startsWith(parsed.message), 'the parse problem is in the message');
      assert.equal(s.target, undefined);
      assert.equal('target' in s, false);
      assert.deepEqual(shape(s), [['Ready', 'False', reason], ['Stalled', 'True', reason]], 'it needs someone to fix it: kstatus Failed');
    });
  }

  it('a valid socket whose host does not resolve is Ready=False HostNotFound, and keeps the target', () => {
    const s = status('xmlrpc:gone.voip.svc:8080:block_ip', { host: { kind: 'notFound', detail: 'getaddrinfo ENOTFOUND gone.voip.svc' } });
    const c = ready(s);
    assert.equal(c?.status, 'False');
    assert.equal(c?.reason, 'HostNotFound');
    assert.match(c?.message ?? '', /gone\.voip\.svc/);
    assert.match(c?.message ?? '', /getaddrinfo ENOTFOUND/);
    assert.equal(s.target?.host, 'gone.voip.svc');
    assert.equal(s.target?.url, 'http://gone.voip.svc:8080/RPC2');
    assert.deepEqual(shape(s), [['Ready', 'False', 'HostNotFound'], ['Reconciling', 'True', 'HostNotFound']], 'transient: kstatus InProgress');
  });

  it('sets observedGeneration on the status and on the Ready condition', () => {
    for (const [socket, host] of [
      ['xmlrpc:h:1:m', resolved],
      ['xmlrpc:h:0:m', resolved],
      ['xmlrpc:h:1:m', { kind: 'notFound', detail: 'x' }],
    ] as Array<[string, HostCheck]>) {
      const s = status(socket, { host, generation: 7 });
      assert.equal(s.observedGeneration, 7, socket);
      assert.equal(ready(s)?.observedGeneration, 7, socket);
    }
  });

  it('keeps lastTransitionTime while Ready keeps its status, and moves it when Ready flips', () => {
    const first = status('xmlrpc:h:1:m', { generation: 1 });
    assert.equal(ready(first)?.lastTransitionTime, '2026-01-02T03:04:05Z');

    const same = status('xmlrpc:h:2:m', { generation: 2, previous: first, now: new Date('2026-01-02T04:00:00Z') });
    assert.equal(ready(same)?.status, 'True');
    assert.equal(ready(same)?.lastTransitionTime, '2026-01-02T03:04:05Z');
    assert.equal(ready(same)?.observedGeneration, 2, 'the rest of the condition is updated');
    assert.equal(same.conditions?.filter((c) => c.type === 'Ready').length, 1, 'the condition is replaced, not added again');

    const flipped = status('xmlrpc:h:0:m', { generation: 3, previous: same, now: new Date('2026-01-02T05:00:00.999Z') });
    assert.equal(ready(flipped)?.status, 'False');
    assert.equal(ready(flipped)?.lastTransitionTime, '2026-01-02T05:00:00Z');

    // False with another reason is not a transition.
    const stillFalse = status('xmlrpc:h:1:m', {
      generation: 4,
      previous: flipped,
      host: { kind: 'notFound', detail: 'x' },
      now: new Date('2026-01-02T06:00:00Z'),
    });
    assert.equal(ready(stillFalse)?.reason, 'HostNotFound');
    assert.equal(ready(stillFalse)?.lastTransitionTime, '2026-01-02T05:00:00Z');

    const back = status('xmlrpc:h:1:m', { generation: 4, previous: stillFalse, now: new Date('2026-01-02T07:00:00Z') });
    assert.equal(ready(back)?.status, 'True');
    assert.equal(ready(back)?.lastTransitionTime, '2026-01-02T07:00:00Z');
    assert.deepEqual(shape(back), [['Ready', 'True', 'Valid'], ['Delivering', 'True', 'NoDeliveries']], 'Reconciling and Stalled are gone');
  });

  it('keeps conditions of other types that a previous status held', () => {
    const other: Condition = { type: 'Other', status: 'Unknown', reason: 'Kept', message: 'm', lastTransitionTime: '2025-01-01T00:00:00Z' };
    const s = status('xmlrpc:h:1:m', { previous: { conditions: [other] } });
    assert.deepEqual(findCondition(s.conditions, 'Other'), other);
    assert.equal(ready(s)?.status, 'True');
  });
});

describe('setCondition', () => {
  const t0 = new Date('2026-01-01T00:00:00Z');
  const t1 = new Date('2026-01-01T01:00:00Z');

  it('adds a condition stamped with now, to an empty or missing list', () => {
    for (const list of [undefined, []]) {
      const out = setCondition(list, { type: 'Ready', status: 'True', reason: 'Valid', message: 'ok' }, t0);
      assert.deepEqual(out, [{ type: 'Ready', status: 'True', reason: 'Valid', message: 'ok', lastTransitionTime: '2026-01-01T00:00:00Z' }]);
    }
  });

  it('replaces the condition of the same type, keeping the time only when the status is unchanged', () => {
    const start = setCondition(undefined, { type: 'Ready', status: 'False', reason: 'A', message: 'a' }, t0);
    const sameStatus = setCondition(start, { type: 'Ready', status: 'False', reason: 'B', message: 'b' }, t1);
    assert.deepEqual(sameStatus, [{ type: 'Ready', status: 'False', reason: 'B', message: 'b', lastTransitionTime: '2026-01-01T00:00:00Z' }]);
    const flipped = setCondition(sameStatus, { type: 'Ready', status: 'Unknown', reason: 'C', message: 'c' }, t1);
    assert.deepEqual(flipped, [{ type: 'Ready', status: 'Unknown', reason: 'C', message: 'c', lastTransitionTime: '2026-01-01T01:00:00Z' }]);
  });

  it('does not modify the list it is given', () => {
    const list: Condition[] = [{ type: 'Ready', status: 'True', reason: 'Valid', message: 'ok', lastTransitionTime: '2026-01-01T00:00:00Z' }];
    const copy = structuredClone(list);
    setCondition(list, { type: 'Ready', status: 'False', reason: 'X', message: 'x' }, t1);
    assert.deepEqual(list, copy);
  });

  it('withConditions: the desired ones in order, owned ones not desired dropped, foreign ones kept after', () => {
    const old = (type: string, status: 'True' | 'False'): Condition => ({ type, status, reason: 'Old', message: 'old', lastTransitionTime: '2025-01-01T00:00:00Z' });
    const out = withConditions(
      [old('Stalled', 'True'), old('Other', 'True'), old('Ready', 'False')],
      new Set(['Ready', 'Stalled', 'Reconciling']),
      [
        { type: 'Ready', status: 'False', reason: 'New', message: 'same status' },
        { type: 'Reconciling', status: 'True', reason: 'New', message: 'added' },
      ],
      t1,
    );
    assert.deepEqual(
      out.map((c) => [c.type, c.reason, c.lastTransitionTime]),
      [['Ready', 'New', '2025-01-01T00:00:00Z'], ['Reconciling', 'New', '2026-01-01T01:00:00Z'], ['Other', 'Old', '2025-01-01T00:00:00Z']],
    );
  });

  it('rfc3339 drops the milliseconds', () => {
    assert.equal(rfc3339(new Date('2026-03-04T05:06:07.890Z')), '2026-03-04T05:06:07Z');
    assert.equal(rfc3339(new Date('2026-03-04T05:06:07.001Z')), '2026-03-04T05:06:07Z');
    assert.equal(rfc3339(new Date('2026-03-04T05:06:08.000Z')), '2026-03-04T05:06:08Z');
    assert.equal(rfc3339(new Date('1969-12-31T23:59:59.500Z')), '1969-12-31T23:59:59Z');
    assert.equal(rfc3339(new Date('2026-03-04T05:06:07.999Z')), '2026-03-04T05:06:07Z');
    assert.equal(rfc3339(new Date('2026-03-04T05:06:07Z')), '2026-03-04T05:06:07Z');
  });});

describe('subscriberStatus: spec.expire and delivery health', () => {
  const socket = 'xmlrpc:blocker.voip.svc:8080:block_ip';
  const expiry = (renewal?: string): Expiry => ({ expireSeconds: 60, createdAt: '2026-01-02T03:00:00Z', renewal });

  it('counts the period from creation and stays Ready until it ends', () => {
    const s = status(socket, { expiry: expiry(), now: new Date('2026-01-02T03:00:59Z') });
    assert.deepEqual([s.subscribedAt, s.expiresAt, s.renewal], ['2026-01-02T03:00:00Z', '2026-01-02T03:01:00Z', undefined]);
    assert.equal(ready(s)?.status, 'True');
  });

  it('is Ready=False reason Expired once the period ended, and says how to renew', () => {
    const s = status(socket, { expiry: expiry(), now: new Date('2026-01-02T03:01:00Z') });
    assert.equal(ready(s)?.status, 'False');
    assert.equal(ready(s)?.reason, 'Expired');
    assert.match(ready(s)?.message ?? '', /kubectl annotate subscriber blocker eventxmlrpc\.io\/renew=/);
    assert.deepEqual(shape(s), [['Ready', 'False', 'Expired'], ['Stalled', 'True', 'Expired']], 'renewing needs someone: kstatus Failed');
  });

  it('an expired subscription whose host does not resolve says Expired, which needs acting on', () => {
    const s = status(socket, { expiry: expiry(), host: { kind: 'notFound', detail: 'ENOTFOUND' }, now: new Date('2026-01-02T03:01:00Z') });
    assert.deepEqual(shape(s), [['Ready', 'False', 'Expired'], ['Stalled', 'True', 'Expired']]);
  });

  it('a new renewal value starts a new period now; the same value keeps it', () => {
    const expired = status(socket, { expiry: expiry(), now: new Date('2026-01-02T03:05:00Z') });
    const renewed = status(socket, { expiry: expiry('r1'), previous: expired, now: new Date('2026-01-02T03:05:00Z') });
    assert.deepEqual([renewed.subscribedAt, renewed.expiresAt, renewed.renewal], ['2026-01-02T03:05:00Z', '2026-01-02T03:06:00Z', 'r1']);
    assert.equal(ready(renewed)?.status, 'True');
    const later = status(socket, { expiry: expiry('r1'), previous: renewed, now: new Date('2026-01-02T03:05:30Z') });
    assert.equal(later.subscribedAt, '2026-01-02T03:05:00Z');
  });

  it('a socket problem outranks expiry', () => {
    const s = status('XMLRPC:h:1:m', { expiry: expiry(), now: new Date('2026-01-02T04:00:00Z') });
    assert.equal(ready(s)?.reason, 'UnsupportedScheme');
  });

  it('carries the delivery health it is given', () => {
    const health = { lastDeliveryTime: '2026-01-02T03:04:00Z', lastError: 'HTTP 500', consecutiveFailures: 2 };
    const { conditions: _with, ...withHealth } = status('xmlrpc:h:1:m', { health });
    const { conditions: _without, ...without } = status('xmlrpc:h:1:m');
    assert.deepEqual(withHealth, { ...without, ...health });
  });
});

describe('subscriberStatus: the Delivering condition', () => {
  const socket = 'xmlrpc:blocker.voip.svc:8080:block_ip';
  const failing = (consecutiveFailures: number, lastSuccessTime?: string): SubscriberHealth => ({
    lastDeliveryTime: '2026-01-02T03:04:00Z',
    ...(lastSuccessTime ? { lastSuccessTime } : {}),
    lastError: 'connection refused by 10.0.0.1:8080',
    consecutiveFailures,
  });

  it('is True with NoDeliveries before any delivery, and DeliveriesSucceeding after a success', () => {
    assert.deepEqual(shape(status(socket)), [['Ready', 'True', 'Valid'], ['Delivering', 'True', 'NoDeliveries']]);
    const ok = status(socket, { health: { lastDeliveryTime: '2026-01-02T03:04:00Z', lastSuccessTime: '2026-01-02T03:04:00Z', consecutiveFailures: 0 } });
    assert.deepEqual(shape(ok), [['Ready', 'True', 'Valid'], ['Delivering', 'True', 'DeliveriesSucceeding']]);
  });

  it(`stays True below ${DELIVERY_FAILING_AFTER} failures in a row, saying how many and the last error`, () => {
    const s = status(socket, { health: failing(DELIVERY_FAILING_AFTER - 1, '2026-01-02T03:00:00Z') });
    assert.deepEqual(shape(s), [['Ready', 'True', 'Valid'], ['Delivering', 'True', 'DeliveriesSucceeding']]);
    assert.match(findCondition(s.conditions, 'Delivering')!.message, new RegExp(`^${DELIVERY_FAILING_AFTER - 1} deliveries in a row failed.*connection refused`));
  });

  it(`turns False with DeliveryFailing, and Stalled, at ${DELIVERY_FAILING_AFTER} failures in a row; Ready stays True`, () => {
    const s = status(socket, { health: failing(DELIVERY_FAILING_AFTER) });
    assert.deepEqual(shape(s), [['Ready', 'True', 'Valid'], ['Delivering', 'False', 'DeliveryFailing'], ['Stalled', 'True', 'DeliveryFailing']]);
    const message = findCondition(s.conditions, 'Delivering')!.message;
    assert.match(message, /none succeeded yet/);
    assert.match(message, /connection refused by 10\.0\.0\.1:8080/);
    assert.match(message, /clears at the next success/);
    assert.equal(s.consecutiveFailures, DELIVERY_FAILING_AFTER, 'the count is in the status for the FAILURES column');
  });

  it('clears at the next success, moving lastTransitionTime', () => {
    const bad = status(socket, { health: failing(10), now: new Date('2026-01-02T03:05:00Z') });
    const good = status(socket, {
      previous: bad,
      health: { lastDeliveryTime: '2026-01-02T03:06:00Z', lastSuccessTime: '2026-01-02T03:06:00Z', lastError: 'connection refused', consecutiveFailures: 0 },
      now: new Date('2026-01-02T03:06:01Z'),
    });
    assert.deepEqual(shape(good), [['Ready', 'True', 'Valid'], ['Delivering', 'True', 'DeliveriesSucceeding']]);
    assert.equal(findCondition(good.conditions, 'Delivering')?.lastTransitionTime, '2026-01-02T03:06:01Z');
    assert.equal(ready(good)?.lastTransitionTime, ready(bad)?.lastTransitionTime, 'Ready did not change');
  });

  it('is not shown while the subscriber is not Ready, whatever its health', () => {
    const s = status(socket, { host: { kind: 'notFound', detail: 'ENOTFOUND' }, health: failing(10) });
    assert.deepEqual(shape(s), [['Ready', 'False', 'HostNotFound'], ['Reconciling', 'True', 'HostNotFound']]);
  });

  it('the same health gives the same status: no write without news', () => {
    const first = status(socket, { health: failing(5) });
    assert.deepEqual(status(socket, { health: failing(5), previous: first, now: new Date('2026-01-02T09:00:00Z') }), first);
  });
});
