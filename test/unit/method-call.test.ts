import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { EventParam } from '../../src/core/event-params.js';
import { InvalidEventError, encodeMethodCall } from '../../src/core/method-call.js';
import { readVector } from '../support/vectors.js';

// The inputs each capture in test/fixtures/opensips-vectors was raised with (its README).
const CASES: Record<string, { event: string; params: EventParam[] }> = {
  no_params: { event: 'E_XMLRPC_TEST', params: [] },
  one_string: { event: 'E_XMLRPC_TEST', params: [{ name: 's', string: 'hello' }] },
  one_int: { event: 'E_XMLRPC_TEST', params: [{ name: 'n', int: 42 }] },
  several: { event: 'E_XMLRPC_TEST', params: [{ name: 'a', string: 'x' }, { name: 'b', int: 7 }, { name: 'c', string: 'y' }] },
  utf8: { event: 'E_XMLRPC_TEST', params: [{ name: 'u', string: 'héllo ☃ 日本' }] },
  socket_path: { event: 'E_XMLRPC_BENCH', params: [{ name: 'k', string: 'v' }] },
};

describe('encodeMethodCall matches the OpenSIPS captures byte for byte', () => {
  for (const mode of ['plain', 'struct'] as const) {
    for (const [name, input] of Object.entries(CASES)) {
      const vector = readVector(`${mode}__${name}.raw`);
      if (!vector) continue; // not every case was captured in both modes
      it(`${mode}__${name}`, () => {
        const body = encodeMethodCall({ method: 'ev_cb', ...input, useStructParam: mode === 'struct' });
        assert.equal(body, vector.body.toString('utf8'));
        assert.equal(Buffer.byteLength(body), Number(vector.headers.get('content-length')));
      });
    }
  }

  it('has a vector for every case it knows', () => {
    const files = readVector.list();
    for (const file of files) {
      const name = file.replace(/^(plain|struct)__/, '').replace(/\.raw$/, '');
      assert.ok(name in CASES, `vector ${file} has no input case in this test`);
    }
    assert.ok(files.length >= 11);
  });
});

describe('encodeMethodCall beyond the captures', () => {
  const encode = (params: EventParam[], useStructParam = false, method = 'ev_cb') =>
    encodeMethodCall({ method, event: 'E_X', params, useStructParam });

  it('writes an unnamed param without <name> in both modes', () => {
    for (const struct of [false, true]) {
      assert.ok(encode([{ string: 'unnamed' }], struct).includes('<param>\n<value><string>unnamed</string></value>\n</param>'));
      assert.ok(!encode([{ string: 'unnamed' }], struct).includes('<struct>'));
    }
  });

  it('escapes & < > and keeps CR as a character reference', () => {
    const body = encode([{ name: 'extra', string: 'INVITE <sip:a@b> & "q" \'s\' ]]>\r\nx' }]);
    assert.ok(body.includes('<string>INVITE &lt;sip:a@b&gt; &amp; "q" \'s\' ]]&gt;&#13;\nx</string>'), body);
  });

  // Text that looks like markup, an entity or a character reference must reach the server as written.
  const ENTITY_LIKE: Array<[text: string, escaped: string]> = [
    ['Tom &amp; Jerry', 'Tom &amp;amp; Jerry'],
    ['price &lt;5', 'price &amp;lt;5'],
    ['x&#60;y', 'x&amp;#60;y'],
    ['x&#x3c;y', 'x&amp;#x3c;y'],
    ['ctl&#1;x', 'ctl&amp;#1;x'],
    ['AT&T;', 'AT&amp;T;'],
    ['&x;', '&amp;x;'],
    [']]>', ']]&gt;'],
    ['<![CDATA[x]]>', '&lt;![CDATA[x]]&gt;'],
  ];
  for (const [text, escaped] of ENTITY_LIKE) {
    it(`sends ${JSON.stringify(text)} so that it decodes to itself`, () => {
      for (const struct of [false, true]) {
        const body = encode([{ name: 'p', string: text }, { string: text }], struct);
        const strings = [...body.matchAll(/<string>(.*?)<\/string>/gs)].map((m) => m[1]!);
        assert.deepEqual(strings, ['E_X', escaped, escaped], body);
        assert.deepEqual(strings.slice(1).map(decodeXmlText), [text, text]);
      }
    });
  }

  it('escapes the method name too', () => {
    assert.ok(encode([], false, 'a&amp;b<c>').includes('<methodName>a&amp;amp;b&lt;c&gt;</methodName>'));
  });

  it('writes an empty string as an empty element', () => {
    assert.ok(encode([{ name: 'e', string: '' }]).includes('<name>e</name>\n<value><string></string></value>'));
  });

  it('writes negative ints as signed decimals', () => {
    assert.ok(encode([{ name: 'n', int: -1 }]).includes('<int>-1</int>'));
    assert.ok(encode([{ name: 'n', int: -2147483648 }]).includes('<int>-2147483648</int>'));
  });

  it('keeps the method verbatim, colons included', () => {
    assert.ok(encode([], false, 'ns:method').includes('<methodName>ns:method</methodName>'));
  });

  const invalid: Array<[string, EventParam[], RegExp]> = [
    ['a forbidden control character', [{ name: 's', string: 'a\u0001b' }], /U\+0001 at index 1, which XML 1.0 forbids/],
    ['U+FFFE', [{ name: 's', string: '\uFFFE' }], /U\+FFFE/],
    ['both string and int', [{ name: 'x', string: 'a', int: 1 }], /exactly one of "string" or "int"/],
    ['neither string nor int', [{ name: 'x' }], /exactly one of "string" or "int"/],
    ['an int past 32 bits', [{ name: 'x', int: 2147483648 }], /outside the signed 32-bit range/],
    ['a fractional int', [{ name: 'x', int: 1.5 }], /outside the signed 32-bit range/],
    ['a bad param name', [{ name: 'a b', string: '' }], /name must be/],
    ['too many bytes', [{ name: 'x', string: 'y'.repeat(70_000) }], /over the 65536-byte limit/],
  ];
  for (const [what, params, message] of invalid) {
    it(`refuses ${what} with a clear error`, () => {
      assert.throws(() => encode(params), (err: unknown) => err instanceof InvalidEventError && message.test(err.message));
    });
  }

  it('refuses a bad event name', () => {
    assert.throws(
      () => encodeMethodCall({ method: 'm', event: 'E PIKE', params: [], useStructParam: false }),
      /event name "E PIKE" must be/,
    );
  });
});

/** What an XML parser makes of character data: the five predefined entities and character references. */
function decodeXmlText(text: string): string {
  assert.ok(!/[<>]/.test(text), `raw markup in character data: ${text}`);
  return text.replace(/&(?:(amp|lt|gt|quot|apos)|#(\d+)|#x([0-9a-fA-F]+));|&/g, (whole, name?: string, dec?: string, hex?: string) => {
    if (name) return { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }[name as 'amp']!;
    if (dec) return String.fromCodePoint(Number(dec));
    if (hex) return String.fromCodePoint(parseInt(hex, 16));
    assert.fail(`a bare & is not well-formed: ${text}`);
  });
}
