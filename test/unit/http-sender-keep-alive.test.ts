// spec.delivery.keepAlive on the wire: a real HttpSender against Node's own
// HTTP/1.1 server (plain and TLS), which counts the connections it accepts and
// notes which side ended each.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { DeliveryTarget } from '../../src/core/socket.js';
import { HttpSender, type ConnectionSettings } from '../../src/delivery/http-sender.js';
import { makePki, type TestPki } from '../support/certificates.js';

const OK = '<?xml version="1.0"?>\n<methodResponse><params><param><value><boolean>1</boolean></value></param></params></methodResponse>\n';

interface Seen {
  connection: string | undefined;
  /** The client port: one per connection. */
  remotePort: number;
}

interface KeepAlivePeer {
  port: number;
  requests: Seen[];
  accepted: number;
  /** Resolves with whether the client sent its FIN first, once connection `index` (0-based) has closed. */
  closed(index: number): Promise<{ byClient: boolean }>;
  close(): Promise<void>;
}

/** Node's HTTP/1.1 server; `answer` may set the status and headers of each response (it is then sent with OK as its body). */
async function startPeer(options: { tls?: TestPki; answer?: (index: number, res: http.ServerResponse) => void } = {}): Promise<KeepAlivePeer> {
  const requests: Seen[] = [];
  const endings: Array<Promise<{ byClient: boolean }>> = [];
  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    requests.push({ connection: req.headers.connection, remotePort: req.socket.remotePort ?? 0 });
    req.resume();
    req.on('end', () => {
      res.setHeader('Content-Type', 'text/xml');
      options.answer?.(requests.length - 1, res);
      res.end(OK);
    });
  };
  const serverOptions = { keepAliveTimeout: 60_000 };
  const server = options.tls
    ? https.createServer({ ...serverOptions, cert: options.tls.server.cert, key: options.tls.server.key }, handler)
    : http.createServer(serverOptions, handler);
  server.on(options.tls ? 'secureConnection' : 'connection', (socket: net.Socket) => {
    let byClient: boolean | undefined;
    socket.once('end', () => (byClient ??= true));
    socket.once('finish', () => (byClient ??= false));
    endings.push(once(socket, 'close').then(() => ({ byClient: byClient === true })));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    requests,
    get accepted() {
      return endings.length;
    },
    async closed(index) {
      while (endings.length <= index) await new Promise((resolve) => setTimeout(resolve, 10));
      return endings[index]!;
    },
    async close() {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

function target(port: number, host = '127.0.0.1'): DeliveryTarget {
  return { host, port, path: '/RPC2', method: 'm', url: `http://${host}:${port}/RPC2` };
}

function newSender(keepAliveIdleMs = 60_000): HttpSender {
  return new HttpSender({ userAgent: 'event-xmlrpc-operator/test', connectTimeoutMs: 5_000, responseTimeoutMs: 5_000, maxResponseBytes: 4096, keepAliveIdleMs });
}

const KEEP: ConnectionSettings = { keepAlive: true };

/** Sends `count` requests one after the other; each must be Delivered. How each went: on a new connection or a reused one. */
async function sendInTurn(sender: HttpSender, to: DeliveryTarget, count: number, connection: ConnectionSettings): Promise<Array<string | undefined>> {
  const via: Array<string | undefined> = [];
  for (let i = 0; i < count; i++) {
    const result = await sender.send(to, '<x/>', undefined, connection).result;
    assert.equal(result.outcome, 'Delivered', result.error);
    via.push(result.connection);
  }
  return via;
}

describe('HttpSender with spec.delivery.keepAlive', () => {
  it('sends requests in a row on one connection with Connection: keep-alive; without it, one connection each with Connection: close', async () => {
    const peer = await startPeer();
    const sender = newSender();
    try {
      const kept = await sendInTurn(sender, target(peer.port), 3, KEEP);
      const closed = await sendInTurn(sender, target(peer.port), 3, {});
      assert.deepEqual([...kept, ...closed], ['new', 'reused', 'reused', 'new', 'new', 'new'], 'each result says how it went');
      assert.deepEqual(
        peer.requests.map((r) => r.connection),
        ['keep-alive', 'keep-alive', 'keep-alive', 'close', 'close', 'close'],
      );
      const ports = peer.requests.map((r) => r.remotePort);
      assert.equal(new Set(ports.slice(0, 3)).size, 1, 'the kept-alive requests share a connection');
      assert.equal(new Set(ports).size, 4, 'each Connection: close request has its own');
      assert.equal(peer.accepted, 4);
    } finally {
      sender.close();
      await peer.close();
    }
  });

  it('makes a new connection after a server that answered Connection: close, and after one it closed while idle', async () => {
    const peer = await startPeer({ answer: (index, res) => index === 0 && res.setHeader('Connection', 'close') });
    // It closes each connection soon after its answer, without saying so (no Keep-Alive: timeout=).
    const quick = await startPeer({
      answer: (_, res) => {
        const socket = res.socket!;
        res.once('finish', () => setTimeout(() => socket.end(), 50));
      },
    });
    const sender = newSender();
    try {
      await sendInTurn(sender, target(peer.port), 3, KEEP);
      assert.equal(peer.accepted, 2, 'the first connection was not reused; the second was');

      await sendInTurn(sender, target(quick.port), 1, KEEP);
      assert.deepEqual(await quick.closed(0), { byClient: false }, 'the server closed the idle connection');
      await sendInTurn(sender, target(quick.port), 1, KEEP);
      assert.equal(quick.accepted, 2);
    } finally {
      sender.close();
      await peer.close();
      await quick.close();
    }
  });

  it('never hands on a connection whose response was not read whole', async () => {
    // A 500 is judged on its head, and its body left unread: that socket is destroyed.
    const peer = await startPeer({ answer: (index, res) => index === 0 && (res.statusCode = 500) });
    const sender = newSender();
    try {
      const first = await sender.send(target(peer.port), '<x/>', undefined, KEEP).result;
      assert.deepEqual([first.outcome, first.httpStatus], ['Failed', 500]);
      assert.deepEqual(await peer.closed(0), { byClient: true });
      await sendInTurn(sender, target(peer.port), 2, KEEP);
      assert.equal(peer.accepted, 2);
    } finally {
      sender.close();
      await peer.close();
    }
  });

  it('closes a connection left idle for keepAliveIdleMs itself, and every idle one on close()', async () => {
    const peer = await startPeer();
    const idle = newSender(300);
    const closing = newSender(0); // no idle limit: only close() ends its connections
    try {
      await sendInTurn(idle, target(peer.port), 1, KEEP);
      const idleSince = performance.now();
      assert.deepEqual(await peer.closed(0), { byClient: true });
      assert.ok(performance.now() - idleSince >= 250, 'not before the idle time');

      await sendInTurn(closing, target(peer.port), 1, KEEP);
      closing.close();
      assert.deepEqual(await peer.closed(1), { byClient: true });
      await sendInTurn(closing, target(peer.port), 1, KEEP);
      assert.equal(peer.accepted, 3, 'a closed sender still sends, on a new connection');
    } finally {
      idle.close();
      closing.close();
      await peer.close();
    }
  });

  describe('over TLS', () => {
    let pki: TestPki;
    before(async () => (pki = await makePki()));
    after(() => pki.close());

    it('reuses a connection only for the same TLS settings: another CA or server name gets its own', async () => {
      const peer = await startPeer({ tls: pki });
      const sender = newSender();
      const tls = { ca: pki.ca, rejectUnauthorized: true };
      const to = { ...target(peer.port), url: `https://127.0.0.1:${peer.port}/RPC2` };
      try {
        await sendInTurn(sender, to, 2, { keepAlive: true, tls });
        assert.equal(peer.accepted, 1);
        await sendInTurn(sender, to, 1, { keepAlive: true, tls: { ...tls, servername: 'localhost' } });
        assert.equal(peer.accepted, 2, 'a server name (SNI) is another pool');
        const untrusted = await sender.send(to, '<x/>', undefined, { keepAlive: true, tls: { ...tls, ca: pki.otherCa } }).result;
        assert.equal(untrusted.reason, 'TLSFailed', 'a CA that did not sign the server is not satisfied by a connection another CA verified');
        assert.equal(new Set(peer.requests.map((r) => r.remotePort)).size, 2);
      } finally {
        sender.close();
        await peer.close();
      }
    });
  });
});
