// The egress policy where connections are made: a real HttpSender against real
// local peers, with the name lookup injected where a test needs a resolver that
// changes its answer (DNS rebinding). Every denied address is a loopback one, so
// even a broken guard would only ever reach this machine.
import assert from 'node:assert/strict';
import dns from 'node:dns';
import net from 'node:net';
import tls from 'node:tls';
import { describe, it } from 'node:test';
import { EgressPolicy, parseEgressRanges } from '../../src/core/egress-policy.js';
import type { DeliveryTarget } from '../../src/core/socket.js';
import { EgressGuard, EGRESS_DENIED_CODE, type LookupAll, type ResolvedAddress } from '../../src/delivery/egress-guard.js';
import { HttpSender } from '../../src/delivery/http-sender.js';
import { XMLRPC_OK, startRawPeer, type RawPeer } from '../support/tcp-peers.js';

const policy = (deny: string[], allow: string[] = []) =>
  EgressPolicy.fromFlags(deny, allow);

function senderWith(guard: EgressGuard): HttpSender {
  return new HttpSender({ userAgent: 'test', connectTimeoutMs: 2000, responseTimeoutMs: 2000, maxResponseBytes: 4096, egress: guard });
}

function target(host: string, port: number): DeliveryTarget {
  return { host, port, path: '/RPC2', method: 'm', url: `http://${host}:${port}/RPC2` };
}

/** Two peers on one port: 127.0.0.1 and 127.0.0.2 (every 127/8 address is local on Linux). */
async function twoPeers(): Promise<[RawPeer, RawPeer]> {
  for (let tries = 0; ; tries++) {
    const first = await startRawPeer(() => XMLRPC_OK);
    try {
      return [first, await startRawPeer(() => XMLRPC_OK, { host: '127.0.0.2', port: first.port })];
    } catch (err) {
      await first.close();
      if (tries > 5) throw err;
    }
  }
}

describe('EgressGuard in the HttpSender', () => {
  it('refuses a denied IP literal before any socket exists, in every spelling, and does not retry it', async () => {
    const peer = await startRawPeer(() => XMLRPC_OK);
    const sender = senderWith(new EgressGuard(policy(['127.0.0.0/8'])));
    try {
      for (const host of ['127.0.0.1', '[::ffff:127.0.0.1]', '[::ffff:7f00:1]']) {
        const result = await sender.send(target(host, peer.port), '<x/>').result;
        assert.equal(result.outcome, 'Failed', host);
        assert.equal(result.reason, 'EgressDenied', host);
        assert.equal(result.written, false);
        assert.match(result.error!, /^egress denied: (127\.0\.0\.1|::ffff:(127\.0\.0\.1|7f00:1) \(that is 127\.0\.0\.1\)) is in 127\.0\.0\.0\/8 \(--egress-deny\); no connection was made/, host);
      }
      assert.deepEqual(peer.acceptedOn, [], 'the peer was never connected to');
    } finally {
      sender.close();
      await peer.close();
    }
  });

  for (const keepAlive of [false, true]) {
    it(`checks the addresses the connection uses, not an earlier answer: a name rebound to a denied address gets no connection${keepAlive ? ' (keepAlive)' : ''}`, async () => {
      const [allowedPeer, deniedPeer] = await twoPeers();
      const answers: ResolvedAddress[][] = [[{ address: '127.0.0.1', family: 4 }], [{ address: '127.0.0.2', family: 4 }]];
      const lookups: string[] = [];
      const lookup: LookupAll = async (host) => {
        lookups.push(host);
        return answers[Math.min(lookups.length - 1, answers.length - 1)]!;
      };
      const guard = new EgressGuard(policy(['127.0.0.2/32']), lookup);
      const sender = senderWith(guard);
      try {
        // The check a Subscriber's status comes from sees the allowed answer...
        const checked = await guard.resolve('rebind.test');
        assert.deepEqual([checked.allowed.map((a) => a.address), checked.denied], [['127.0.0.1'], []]);
        // ...and the connection, which looks the name up itself, sees the denied one.
        const result = await sender.send(target('rebind.test', deniedPeer.port), '<x/>', undefined, { keepAlive }).result;
        assert.equal(result.reason, 'EgressDenied', JSON.stringify(result));
        assert.match(result.error!, /^egress denied: rebind\.test resolves only to denied addresses: 127\.0\.0\.2 is in 127\.0\.0\.2\/32 \(--egress-deny\)/);
        assert.deepEqual(lookups, ['rebind.test', 'rebind.test']);
        assert.deepEqual([deniedPeer.acceptedOn, allowedPeer.acceptedOn], [[], []]);
      } finally {
        sender.close();
        await allowedPeer.close();
        await deniedPeer.close();
      }
    });
  }

  it('connects only to the allowed addresses of a name that also has denied ones', async () => {
    const [allowedPeer, deniedPeer] = await twoPeers();
    // The denied address first: a resolver's order must not decide where the request goes.
    const lookup: LookupAll = async () => [
      { address: '127.0.0.2', family: 4 },
      { address: '127.0.0.1', family: 4 },
    ];
    const sender = senderWith(new EgressGuard(policy(['127.0.0.2/32']), lookup));
    try {
      for (let i = 0; i < 3; i++) {
        const result = await sender.send(target('mixed.test', allowedPeer.port), '<x/>').result;
        assert.equal(result.outcome, 'Delivered', JSON.stringify(result));
      }
      assert.deepEqual(allowedPeer.acceptedOn, ['127.0.0.1', '127.0.0.1', '127.0.0.1']);
      assert.deepEqual(deniedPeer.acceptedOn, []);
    } finally {
      sender.close();
      await allowedPeer.close();
      await deniedPeer.close();
    }
  });

  it('denies the real name localhost when its loopback addresses are denied, and uses ::1 alone when only 127.0.0.0/8 is', async (t) => {
    // The system resolver, without AI_ADDRCONFIG, which hides ::1 on a machine with no other IPv6 address.
    const system: LookupAll = (host) => dns.promises.lookup(host, { all: true });
    const addresses = (await new EgressGuard(policy([]), system).resolve('localhost')).allowed.map((a) => a.address);
    assert.ok(addresses.includes('127.0.0.1'), `localhost resolves to ${addresses.join(', ')}`);
    const v4 = await startRawPeer(() => XMLRPC_OK);
    const neither = senderWith(new EgressGuard(policy(['127.0.0.0/8', '::1']), system));
    try {
      const denied = await neither.send(target('localhost', v4.port), '<x/>').result;
      assert.equal(denied.reason, 'EgressDenied');
      assert.match(denied.error!, /^egress denied: localhost resolves only to denied addresses: (.*; )?127\.0\.0\.1 is in 127\.0\.0\.0\/8 \(--egress-deny\)/);
      assert.deepEqual(v4.acceptedOn, []);
    } finally {
      neither.close();
      await v4.close();
    }

    if (!addresses.includes('::1')) return t.diagnostic('localhost has no ::1 here (/etc/hosts): the IPv6 half is not tried');
    const v6 = await startRawPeer(() => XMLRPC_OK, { host: '::1' });
    const v4Twin = await startRawPeer(() => XMLRPC_OK, { host: '127.0.0.1', port: v6.port }).catch(() => undefined);
    const onlyV6 = senderWith(new EgressGuard(policy(['127.0.0.0/8']), system));
    try {
      for (let i = 0; i < 2; i++) assert.equal((await onlyV6.send(target('localhost', v6.port), '<x/>').result).outcome, 'Delivered');
      assert.deepEqual([v6.acceptedOn, v4Twin?.acceptedOn ?? []], [['::1', '::1'], []]);
    } finally {
      onlyV6.close();
      await v6.close();
      await v4Twin?.close();
    }
  });

  it('reopens a narrower range with an allow rule', async () => {
    const peer = await startRawPeer(() => XMLRPC_OK);
    const sender = senderWith(new EgressGuard(policy(['127.0.0.0/8'], ['127.0.0.1/32'])));
    try {
      assert.equal((await sender.send(target('127.0.0.1', peer.port), '<x/>').result).outcome, 'Delivered');
      assert.equal((await sender.send(target('127.0.0.2', peer.port), '<x/>').result).reason, 'EgressDenied');
      assert.deepEqual(peer.acceptedOn, ['127.0.0.1']);
    } finally {
      sender.close();
      await peer.close();
    }
  });
});

describe('EgressGuard.watch', () => {
  /** A TCP server that counts the bytes each connection sends. */
  async function countingServer(): Promise<{ port: number; bytes: () => number; connections: () => number; close: () => Promise<void> }> {
    let bytes = 0;
    let connections = 0;
    const sockets = new Set<net.Socket>();
    const server = net.createServer((socket) => {
      connections++;
      sockets.add(socket);
      socket.on('data', (chunk) => (bytes += chunk.length));
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return {
      port: (server.address() as net.AddressInfo).port,
      bytes: () => bytes,
      connections: () => connections,
      close: () => new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
    };
  }

  it('destroys a socket connected to a denied address before the data written while it connected goes out, TLS included', async () => {
    const server = await countingServer();
    const guard = new EgressGuard(policy(['127.0.0.1/32']));
    try {
      const plain = net.connect({ host: '127.0.0.1', port: server.port });
      guard.watch(plain, '127.0.0.1');
      plain.write('POST /RPC2 HTTP/1.1\r\n\r\n');
      const secure = tls.connect({ host: '127.0.0.1', port: server.port, rejectUnauthorized: false });
      guard.watch(secure, '127.0.0.1');
      const errors = await Promise.all(
        [plain, secure].map((socket) => new Promise<NodeJS.ErrnoException>((resolve) => socket.once('error', resolve))),
      );
      for (const err of errors) {
        assert.equal(err.code, EGRESS_DENIED_CODE);
        assert.match(err.message, /^egress denied: 127\.0\.0\.1 is in 127\.0\.0\.1\/32 \(--egress-deny\)/);
      }
      // Both connections reached the listener (so the guard ran on a real connect), and not one byte came.
      for (let i = 0; i < 50 && server.connections() < 2; i++) await new Promise((r) => setTimeout(r, 20));
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(server.connections(), 2);
      assert.equal(server.bytes(), 0);
    } finally {
      await server.close();
    }
  });
});
