import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { EventParam } from '../../src/core/event-params.js';
import { encodeMethodCall } from '../../src/core/method-call.js';
import { parseSocket, type DeliveryTarget } from '../../src/core/socket.js';
import { HttpSender } from '../../src/delivery/http-sender.js';
import { gzipSync } from 'node:zlib';
import { MAX_TEXT } from '../../src/core/text.js';
import { XMLRPC_OK, binaryResponse, httpResponse, refusedPort, startEndlessPeer, startRawPeer, xmlRpcFault } from '../support/tcp-peers.js';
import { hugeFault } from '../support/hostile-bodies.js';
import { readVector } from '../support/vectors.js';

const sender = new HttpSender({ userAgent: 'event-xmlrpc-operator/test', connectTimeoutMs: 2000, responseTimeoutMs: 300, maxResponseBytes: 4096 });
after(() => sender.close());

function targetOf(socket: string): DeliveryTarget {
  const parsed = parseSocket(socket);
  assert.ok(parsed.ok);
  return parsed.target;
}

describe('HttpSender on the wire', () => {
  const cases: Array<[string, string, string, EventParam[]]> = [
    ['plain__several.raw', 'xmlrpc:127.0.0.1:PORT:ev_cb', 'E_XMLRPC_TEST', [{ name: 'a', string: 'x' }, { name: 'b', int: 7 }, { name: 'c', string: 'y' }]],
    ['plain__socket_path.raw', 'xmlrpc:127.0.0.1:PORT/my/rpc/path:ev_cb', 'E_XMLRPC_BENCH', [{ name: 'k', string: 'v' }]],
    ['struct__utf8.raw', 'xmlrpc:127.0.0.1:PORT:ev_cb', 'E_XMLRPC_TEST', [{ name: 'u', string: 'héllo ☃ 日本' }]],
  ];
  for (const [file, socket, event, params] of cases) {
    it(`sends what OpenSIPS sent in ${file}, with our User-Agent and a spaced Host header`, async () => {
      const vector = readVector(file)!;
      const peer = await startRawPeer(() => XMLRPC_OK);
      try {
        const target = targetOf(socket.replace('PORT', String(peer.port)));
        const body = encodeMethodCall({ method: target.method, event, params, useStructParam: file.startsWith('struct') });
        const result = await sender.send(target, body).result;
        assert.equal(result.outcome, 'Delivered');
        const [sent] = await peer.waitFor(1);
        assert.equal(sent!.requestLine, vector.requestLine);
        const expected = vector.headerLines.map((line) =>
          line
            .replace(/^Host:\s*127\.0\.0\.1:8090$/, `Host: 127.0.0.1:${peer.port}`)
            .replace(/^User-Agent: .*/, 'User-Agent: event-xmlrpc-operator/test')
            .replace(/^Content-type:/, 'Content-Type:')
            .replace(/^Content-length:/, 'Content-Length:'),
        );
        assert.deepEqual(sent!.headerLines, expected);
        assert.ok(sent!.body.equals(vector.body));
      } finally {
        await peer.close();
      }
    });
  }

  it('sends the Host header as written, with the port even when it is 80-like defaults', async () => {
    const peer = await startRawPeer(() => XMLRPC_OK);
    try {
      await sender.send(targetOf(`xmlrpc:localhost:${peer.port}:m`), '<x/>').result;
      const [sent] = await peer.waitFor(1);
      assert.equal(sent!.headers.get('host'), `localhost:${peer.port}`);
    } finally {
      await peer.close();
    }
  });
});

describe('HttpSender outcomes', () => {
  const outcomes: Array<[string, string | Buffer | null, Record<string, unknown>]> = [
    ['a methodResponse is Delivered', XMLRPC_OK, { outcome: 'Delivered', httpStatus: 200, written: true, error: undefined }],
    ['a non-XML 200 is Delivered, saying why the body did not count', httpResponse(200, 'ok'), { outcome: 'Delivered', httpStatus: 200, error: 'body not judged: not XML; HTTP 200 decides' }],
    [
      'a gzip body is not read: the status decides',
      binaryResponse(200, gzipSync(xmlRpcFault(4, 'x')), ['Content-Encoding: gzip']),
      { outcome: 'Delivered', httpStatus: 200, error: 'body not read: Content-Encoding gzip; HTTP 200 decides' },
    ],
    [
      'a binary body: the status decides',
      binaryResponse(200, Buffer.from([0xff, 0xfe, 0, 1, 2])),
      { outcome: 'Delivered', httpStatus: 200, error: 'body not judged: binary body: not UTF-8 text; HTTP 200 decides' },
    ],
    [
      'a body over the bound fails unread',
      httpResponse(200, hugeFault(5000)),
      { outcome: 'Failed', httpStatus: 200, error: 'response body over 4096 bytes (--max-response-bytes): not read, connection closed' },
    ],
    ['a fault string is cut to the text bound', httpResponse(200, hugeFault(3500)), { outcome: 'Failed', faultCode: 4, faultString: `${'x'.repeat(MAX_TEXT - 1)}…` }],
    [
      'a reason phrase is cut to the text bound',
      httpResponse(503, '', 'y'.repeat(5000)),
      { outcome: 'Failed', httpStatus: 503, error: `HTTP 503 ${'y'.repeat(MAX_TEXT - 10)}…` },
    ],
    [
      'headers over the bound fail the attempt',
      `HTTP/1.1 200 OK\r\nX-Junk: ${'z'.repeat(20_000)}\r\nContent-Length: 0\r\n\r\n`,
      { outcome: 'Failed', httpStatus: undefined, error: /^response headers over 16384 bytes from 127\.0\.0\.1:\d+$/ },
    ],
    ['an HTTP 500 fails with its status', httpResponse(500, 'boom', 'Internal Server Error'), { outcome: 'Failed', httpStatus: 500, error: 'HTTP 500 Internal Server Error' }],
    ['a <fault> fails with its code and string', xmlRpcFault(4, 'Too many'), { outcome: 'Failed', httpStatus: 200, faultCode: 4, faultString: 'Too many' }],
    ['silence fails with a timeout after the request was written', null, { outcome: 'Failed', written: true, error: 'no response within 300ms' }],
  ];
  for (const [what, reply, expected] of outcomes) {
    it(what, async () => {
      const peer = await startRawPeer(() => reply);
      try {
        const delivery = sender.send(targetOf(`xmlrpc:127.0.0.1:${peer.port}:m`), '<x/>');
        assert.equal(await delivery.written, true);
        const result = await delivery.result;
        for (const [field, value] of Object.entries(expected)) {
          const actual = result[field as keyof typeof result];
          if (value instanceof RegExp) assert.match(String(actual), value, field);
          else assert.deepEqual(actual, value, field);
        }
      } finally {
        await peer.close();
      }
    });
  }

  it('a refused connection fails, unwritten, with a readable error', async () => {
    const port = await refusedPort();
    const delivery = sender.send(targetOf(`xmlrpc:127.0.0.1:${port}:m`), '<x/>');
    assert.equal(await delivery.written, false);
    const result = await delivery.result;
    assert.equal(result.outcome, 'Failed');
    assert.equal(result.written, false);
    assert.equal(result.error, `connection refused by 127.0.0.1:${port}`);
  });

  it('a server that takes the connection but never finishes the TLS handshake fails within the connect timeout', async () => {
    const peer = await startRawPeer(() => null);
    const quick = new HttpSender({ userAgent: 'event-xmlrpc-operator/test', connectTimeoutMs: 200, responseTimeoutMs: 60_000, maxResponseBytes: 4096 });
    try {
      const delivery = quick.send(targetOf(`xmlrpc:127.0.0.1:${peer.port}:m`), '<x/>', 60_000, { tls: { rejectUnauthorized: true } });
      assert.equal(await delivery.written, false);
      const result = await delivery.result;
      assert.deepEqual([result.outcome, result.written, result.error], ['Failed', false, 'connect timed out after 200ms']);
    } finally {
      quick.close();
      await peer.close();
    }
  });

  it('close() ends the requests still waiting for an answer', async () => {
    const peer = await startRawPeer(() => null);
    const closing = new HttpSender({ userAgent: 'event-xmlrpc-operator/test', connectTimeoutMs: 2000, responseTimeoutMs: 60_000, maxResponseBytes: 4096 });
    try {
      const delivery = closing.send(targetOf(`xmlrpc:127.0.0.1:${peer.port}:m`), '<x/>');
      assert.equal(await delivery.written, true);
      await peer.waitFor(1);
      closing.close();
      const result = await delivery.result;
      assert.deepEqual([result.outcome, result.written, result.error], ['Failed', true, 'the operator is stopping']);
    } finally {
      await peer.close();
    }
  });

  it('a name that does not resolve fails with the host named', async () => {
    const result = await sender.send(targetOf('xmlrpc:no-such-host.invalid:80:m'), '<x/>').result;
    assert.equal(result.outcome, 'Failed');
    assert.match(result.error ?? '', /^host no-such-host\.invalid does not resolve \((ENOTFOUND|EAI_AGAIN)\)$/);
  });

  it('stops reading an endless body after the bound and closes the connection', async () => {
    const peer = await startEndlessPeer('HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nConnection: close\r\n\r\n');
    try {
      const result = await sender.send(targetOf(`xmlrpc:127.0.0.1:${peer.port}:m`), '<x/>').result;
      assert.deepEqual([result.outcome, result.httpStatus, result.error], ['Failed', 200, 'response body over 4096 bytes (--max-response-bytes): not read, connection closed']);
      const [connection] = await peer.waitForClosed(1);
      assert.equal(connection!.closedByClient, true);
      // The socket buffers of both kernels take a few MB (about 4 on Linux loopback); without the bound the peer writes all 400 MB.
      assert.ok(connection!.bodyBytesWritten < 32 * 1024 * 1024, `${connection!.bodyBytesWritten} bytes written`);
    } finally {
      await peer.close();
    }
  });
});
