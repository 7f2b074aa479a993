import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { EventRelay } from '../../src/api/relay-types.js';
import { faultResponse, okResponse } from '../../src/core/relay-answer.js';
import { isPathOf, relayOfPath, relaySocket } from '../../src/core/relay-path.js';
import { addCounts, noCounts, relayStatus } from '../../src/core/relay-status.js';
import { parseSocket } from '../../src/core/socket.js';

const now = new Date('2026-01-02T03:04:05Z');
const relay = (status?: EventRelay['status']): EventRelay => ({ metadata: { namespace: 'voip', name: 'opensips', generation: 2 }, spec: {}, status });
let draws = 0;
const random = (n: number) => Buffer.alloc(n, ++draws);

describe('relayStatus', () => {
  it('chooses a random path once, and a socket OpenSIPS and the Subscriber grammar both take', () => {
    const first = relayStatus({ relay: relay(), host: 'relay.ops.svc', port: 8091, random, now });
    assert.match(first.path!, /^\/relay\/voip\/opensips\/[A-Za-z0-9_-]{32}$/);
    assert.equal(first.socket, `xmlrpc:relay.ops.svc:8091${first.path}:relay`);
    const parsed = parseSocket(first.socket!);
    assert.ok(parsed.ok && parsed.target.path === first.path && parsed.target.method === 'relay');
    assert.deepEqual(first.conditions?.map((c) => [c.type, c.status, c.reason, c.observedGeneration]), [['Ready', 'True', 'Serving', 2]]);
    assert.equal(first.observedGeneration, 2);

    const again = relayStatus({ relay: relay(first), host: 'relay.ops.svc', port: 8091, random, now: new Date(now.getTime() + 60_000) });
    assert.deepEqual(again, first, 'the same relay gives the same status: no write');
    const moved = relayStatus({ relay: relay(first), host: 'other.svc', port: 9000, random, now });
    assert.equal(moved.path, first.path, 'a new host or port keeps the path');
    assert.equal(moved.socket, `xmlrpc:other.svc:9000${first.path}:relay`);
  });

  it("replaces a path that is not this relay's, and keeps the counts", () => {
    const foreign = relayStatus({ relay: relay({ path: `/relay/other/opensips/${'a'.repeat(32)}`, received: 5 }), host: 'h', port: 1, random, now });
    assert.match(foreign.path!, /^\/relay\/voip\/opensips\//);
    assert.equal(foreign.received, 5);
    const draw = (n: number) => Buffer.alloc(n, 7);
    assert.notEqual(relayStatus({ relay: relay(), host: 'h', port: 1, random: draw, now }).path, relayStatus({ relay: relay(), host: 'h', port: 1, random, now }).path);
  });

  it('adds counts to the totals, leaving untouched ones unset', () => {
    const counts = { ...noCounts(), received: 3, accepted: 2, dropped: 1 };
    const once = addCounts({ path: '/p' }, counts, now);
    assert.deepEqual(once, { path: '/p', received: 3, accepted: 2, dropped: 1, lastEventTime: '2026-01-02T03:04:05Z' });
    const twice = addCounts(once, { ...noCounts(), received: 1, delivered: 4 }, undefined);
    assert.deepEqual(twice, { path: '/p', received: 4, accepted: 2, dropped: 1, delivered: 4, lastEventTime: '2026-01-02T03:04:05Z' });
  });
});

describe('relay paths', () => {
  it('names the relay, or nothing', () => {
    const token = 'Ab_-'.repeat(8);
    assert.deepEqual(relayOfPath(`/relay/voip/opensips.a-1/${token}`), { namespace: 'voip', name: 'opensips.a-1' });
    for (const bad of ['/RPC2', '/relay/voip/opensips', `/relay/voip/opensips/${token}/x`, `/relay/Voip/opensips/${token}`, `/relay/voip/opensips/${token}a`, `relay/voip/opensips/${token}`, `/relay//opensips/${token}`]) {
      assert.equal(relayOfPath(bad), undefined, bad);
    }
    assert.ok(isPathOf(`/relay/voip/opensips/${token}`, 'voip', 'opensips'));
    assert.ok(!isPathOf(`/relay/voip/opensips/${token}`, 'voip', 'other'));
    assert.ok(!isPathOf(undefined, 'voip', 'opensips'));
    assert.equal(relaySocket('h', 1, '/p'), 'xmlrpc:h:1/p:relay');
  });
});

describe('relay answers', () => {
  it('a methodResponse with one string, or a fault; text escaped', () => {
    assert.equal(okResponse('OK'), '<?xml version="1.0"?>\n<methodResponse><params><param><value><string>OK</string></value></param></params></methodResponse>\n');
    const fault = faultResponse(-32602, 'event <E & F>\u0001');
    assert.ok(fault.includes('<member><name>faultCode</name><value><int>-32602</int></value></member>'));
    assert.ok(fault.includes('<member><name>faultString</name><value><string>event &lt;E &amp; F&gt;\uFFFD</string></value></member>'));
    assert.ok(faultResponse(1, 'x'.repeat(2000)).length < 1000, 'a long message is cut');
  });
});
