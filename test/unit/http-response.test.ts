import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { bodyTooLarge, judgeBody, judgeHead, type ResponseHead } from '../../src/core/http-response.js';
import { MAX_TEXT } from '../../src/core/text.js';
import { deepMethodResponse, hugeFault } from '../support/hostile-bodies.js';

const NOW = Date.parse('2026-01-02T03:04:05Z');
const MAX = 65_536;
const head = (fields: Partial<ResponseHead>) => judgeHead({ status: 200, ...fields }, NOW, MAX);
const bytes = (text: string) => Buffer.from(text);

describe('judgeHead: what the status line and headers decide', () => {
  it('a status outside 2xx fails, with the reason phrase, and the body is not read', () => {
    assert.deepEqual(head({ status: 500, reason: 'Internal Server Error' }), {
      kind: 'judged',
      verdict: { outcome: 'Failed', httpStatus: 500, error: 'HTTP 500 Internal Server Error' },
    });
    assert.deepEqual(head({ status: 302 }), { kind: 'judged', verdict: { outcome: 'Failed', httpStatus: 302, error: 'HTTP 302' } });
  });

  it('cuts a reason phrase of any length to the text bound', () => {
    const judged = head({ status: 500, reason: 'x'.repeat(20_000) });
    assert.equal(judged.kind, 'judged');
    const error = judged.kind === 'judged' ? judged.verdict.error! : '';
    assert.equal(error.length, MAX_TEXT);
    assert.ok(error.startsWith('HTTP 500 xxx') && error.endsWith('…'));
  });

  it('reads Retry-After on 429 and 503 only, and ignores one too long to be a number or a date', () => {
    const verdict = (status: number, retryAfter: string) => {
      const judged = head({ status, retryAfter });
      return judged.kind === 'judged' ? judged.verdict.retryAfterMs : 'read-body';
    };
    assert.equal(verdict(503, '7'), 7000);
    assert.equal(verdict(429, 'Fri, 02 Jan 2026 03:04:15 GMT'), 10_000);
    assert.equal(verdict(500, '7'), undefined);
    assert.equal(verdict(503, '9'.repeat(65)), undefined);
    assert.equal(verdict(503, ` ${'9'.repeat(20)}`), 1e23, 'a long but readable number is capped later, at maxDelay');
  });

  it('a compressed 2xx body is not read: the status decides, and says so', () => {
    assert.deepEqual(head({ contentEncoding: 'gzip' }), {
      kind: 'judged',
      verdict: { outcome: 'Delivered', httpStatus: 200, error: 'body not read: Content-Encoding gzip; HTTP 200 decides' },
    });
    assert.deepEqual(head({ contentEncoding: 'identity' }), { kind: 'read-body' });
  });

  it('a Content-Length over the bound fails at once; up to it the body is read', () => {
    assert.deepEqual(head({ contentLength: String(MAX + 1) }), { kind: 'judged', verdict: bodyTooLarge(200, MAX) });
    assert.equal(bodyTooLarge(200, MAX).outcome, 'Failed');
    assert.match(bodyTooLarge(200, MAX).error!, /^response body over 65536 bytes \(--max-response-bytes\)/);
    assert.deepEqual(head({ contentLength: String(MAX) }), { kind: 'read-body' });
    assert.deepEqual(head({ contentLength: 'junk' }), { kind: 'read-body' });
  });
});

describe('judgeBody: what a 2xx body decides', () => {
  it('a result delivers; a fault fails with its code and string', () => {
    assert.deepEqual(judgeBody(200, bytes('<methodResponse><params/></methodResponse>')), { outcome: 'Delivered', httpStatus: 200 });
    assert.deepEqual(judgeBody(200, bytes(hugeFault(3))), { outcome: 'Failed', httpStatus: 200, faultCode: 4, faultString: 'xxx' });
  });

  it('cuts a long faultString to the text bound', () => {
    const verdict = judgeBody(200, bytes(hugeFault(60_000)));
    assert.equal(verdict.faultString?.length, MAX_TEXT);
  });

  const STATUS_DECIDES: Array<[what: string, body: Uint8Array, reason: string]> = [
    ['gzip bytes sent without Content-Encoding', gzipSync(hugeFault(3)), 'binary body: not UTF-8 text'],
    ['NUL bytes', Buffer.from([0x3c, 0x61, 0x3e, 0, 0]), 'binary body: U+0000 at offset 3, which XML forbids'],
    ['an empty body', bytes(''), 'empty body'],
    ['plain text', bytes('OK'), 'not XML'],
    ['deep nesting', bytes(deepMethodResponse(9000)), 'elements nested deeper than 32 levels'],
    ['HTML', bytes('<html><body>hi</body></html>'), 'root element is <html>, not <methodResponse>'],
  ];
  for (const [what, body, reason] of STATUS_DECIDES) {
    it(`${what}: the status decides, and the reason is recorded`, () => {
      assert.deepEqual(judgeBody(204, body), { outcome: 'Delivered', httpStatus: 204, error: `body not judged: ${reason}; HTTP 204 decides` });
    });
  }
});
