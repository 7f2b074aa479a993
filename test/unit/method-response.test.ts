import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { MAX_RESPONSE_DEPTH, parseMethodResponse } from '../../src/core/method-response.js';
import { deepMethodResponse } from '../support/hostile-bodies.js';

const fault = (code: string, text: string) =>
  `<?xml version="1.0"?>\n<methodResponse><fault><value><struct>` +
  `<member><name>faultCode</name><value>${code}</value></member>` +
  `<member><name>faultString</name><value>${text}</value></member>` +
  `</struct></value></fault></methodResponse>`;

describe('parseMethodResponse', () => {
  it('reads a result as success', () => {
    const body = '<?xml version="1.0"?><methodResponse><params><param><value><string>OK</string></value></param></params></methodResponse>';
    assert.deepEqual(parseMethodResponse(body), { kind: 'success' });
  });

  it('extracts an integer fault code and its string', () => {
    assert.deepEqual(parseMethodResponse(fault('<int>4</int>', '<string>Too many parameters</string>')), {
      kind: 'fault',
      faultCode: 4,
      faultString: 'Too many parameters',
    });
  });

  it('accepts <i4> and negative codes', () => {
    assert.deepEqual(parseMethodResponse(fault('<i4>-32601</i4>', '<string>no such method</string>')), {
      kind: 'fault',
      faultCode: -32601,
      faultString: 'no such method',
    });
  });

  it('keeps a non-numeric fault code in the fault string', () => {
    assert.deepEqual(parseMethodResponse(fault('<string>E_BUSY</string>', 'busy &amp; sad')), {
      kind: 'fault',
      faultString: 'E_BUSY: busy & sad',
    });
  });

  it('reads bare <value> text as a string', () => {
    assert.deepEqual(parseMethodResponse(fault('7', 'plain')), { kind: 'fault', faultCode: 7, faultString: 'plain' });
  });

  it('tolerates an empty, non-XML, truncated or foreign body', () => {
    for (const body of ['', '  \n', 'OK', '<methodResponse><params>', '<html><body>hi</body></html>']) {
      const parsed = parseMethodResponse(body);
      assert.equal(parsed.kind, 'unparsable', body);
    }
  });

  it("reads Python xmlrpc.client's pretty-printed fault, entities decoded", () => {
    const body =
      "<?xml version='1.0'?>\n<methodResponse>\n<fault>\n<value><struct>\n<member>\n<name>faultCode</name>\n<value><int>4</int></value>\n</member>\n" +
      '<member>\n<name>faultString</name>\n<value><string>too &lt;many&gt; &amp; more &#60;&#x3e;</string></value>\n</member>\n</struct></value>\n</fault>\n</methodResponse>\n';
    assert.deepEqual(parseMethodResponse(body), { kind: 'fault', faultCode: 4, faultString: 'too <many> & more <>' });
  });

  it('reads bytes as UTF-8, a CDATA section as text, and skips comments, instructions and attributes', () => {
    const body = Buffer.from(
      '\uFEFF<?xml version="1.0" encoding="UTF-8"?><!-- a > b --><methodResponse a="x>y" b=\'<\'><fault><?pi ?><value><struct>' +
        '<member><name>faultString</name><value><string><![CDATA[é <raw> &amp;]]></string></value></member>' +
        '</struct></value></fault></methodResponse>',
    );
    assert.deepEqual(parseMethodResponse(body), { kind: 'fault', faultString: 'é <raw> &amp;' });
  });

  it('keeps a fault code outside the signed 32-bit range in the fault string', () => {
    assert.deepEqual(parseMethodResponse(fault('<int>99999999999</int>', 'big')), { kind: 'fault', faultString: '99999999999: big' });
  });

  it(`reads a result nested ${MAX_RESPONSE_DEPTH} levels deep, and refuses one level more`, () => {
    const nested = (depth: number) => `<methodResponse>${'<a>'.repeat(depth - 1)}${'</a>'.repeat(depth - 1)}</methodResponse>`;
    assert.deepEqual(parseMethodResponse(nested(MAX_RESPONSE_DEPTH)), { kind: 'success' });
    assert.deepEqual(parseMethodResponse(nested(MAX_RESPONSE_DEPTH + 1)), {
      kind: 'unparsable',
      reason: `elements nested deeper than ${MAX_RESPONSE_DEPTH} levels`,
    });
  });

  it('gives up early on a 112 KB methodResponse nested 16,000 levels deep (the HTTP status decides)', () => {
    const body = deepMethodResponse(16_000);
    assert.ok(body.length >= 112_000, `${body.length} bytes`);
    assert.deepEqual(parseMethodResponse(body), { kind: 'unparsable', reason: `elements nested deeper than ${MAX_RESPONSE_DEPTH} levels` });
  });

  const UNPARSABLE: Array<[what: string, body: string | Uint8Array, reason: RegExp]> = [
    ['gzip bytes', gzipSync(fault('<int>1</int>', 'x')), /^binary body: not UTF-8 text$/],
    ['NUL bytes', Buffer.from('<methodResponse>\0\0</methodResponse>'), /^binary body: U\+0000 at offset 16/],
    ['a DOCTYPE (no entity can expand)', '<!DOCTYPE m [<!ENTITY a "aaaa">]><methodResponse>&a;</methodResponse>', /DOCTYPE/],
    ['a mismatched end tag', '<methodResponse><params></param></methodResponse>', /<\/param> closes <params>/],
    ['an unclosed tag', '<methodResponse><params', /truncated/],
    ['an unclosed comment', '<methodResponse><!-- ', /truncated/],
    ['text after the root', '<methodResponse/>trailing', /text outside the root/],
    ['a second root', '<methodResponse/><methodResponse/>', /second root/],
    ['a lone <', '<methodResponse>< </methodResponse>', /not followed by a name/],
  ];
  for (const [what, body, reason] of UNPARSABLE) {
    it(`calls ${what} unparsable, saying why`, () => {
      const parsed = parseMethodResponse(body);
      assert.equal(parsed.kind, 'unparsable');
      assert.match((parsed as { reason: string }).reason, reason);
    });
  }
});
