import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { renderRequest } from '../../src/core/http-request.js';
import { encodeMethodCall } from '../../src/core/method-call.js';
import { parseSocket } from '../../src/core/socket.js';
import { VECTORS_DIR } from '../support/vectors.js';

describe('renderRequest', () => {
  it('renders the request OpenSIPS sent, but for our User-Agent and canonical header case', () => {
    const parsed = parseSocket('xmlrpc:127.0.0.1:8090:ev_cb');
    assert.ok(parsed.ok);
    const body = encodeMethodCall({ method: 'ev_cb', event: 'E_XMLRPC_TEST', params: [{ name: 's', string: 'hello' }], useStructParam: true });
    const expected = readFileSync(`${VECTORS_DIR}struct__one_string.raw`, 'latin1')
      .replace('User-Agent: OpenSIPS XMLRPC Notifier', 'User-Agent: ua/1')
      .replace('Content-type:', 'Content-Type:')
      .replace('Content-length:', 'Content-Length:');
    assert.equal(Buffer.from(renderRequest(parsed.target, 'ua/1', body)).toString('latin1'), expected);
  });

  it('keeps the space after Host: when the socket has a path (an OpenSIPS quirk we do not copy)', () => {
    const parsed = parseSocket('xmlrpc:[::1]:80/my/rpc:m');
    assert.ok(parsed.ok);
    const text = renderRequest(parsed.target, 'ua', '<x/>');
    assert.ok(text.startsWith('POST /my/rpc HTTP/1.1\r\nHost: [::1]:80\r\nConnection: close\r\n'), text);
    assert.ok(text.endsWith('Content-Length: 4\r\n\r\n<x/>'));
  });
});
