import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { EventParam } from '../../src/core/event-params.js';
import { encodeMethodCall } from '../../src/core/method-call.js';
import { MAX_BODY_BYTES, parseOpenSipsCall, type ParsedCall } from '../../src/core/opensips-call.js';
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

const raw = (body: string | Buffer) => parseOpenSipsCall(Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8'), { raw: true });
const xml = (body: string | Buffer) => parseOpenSipsCall(Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8'), { raw: false });

function ok(parsed: ParsedCall) {
  assert.ok(parsed.ok, `parsed: ${JSON.stringify(parsed)}`);
  return parsed.call;
}

function refused(parsed: ParsedCall, reason: string, message: RegExp): void {
  assert.ok(!parsed.ok, `refused: ${JSON.stringify(parsed)}`);
  assert.equal(parsed.reason, reason);
  assert.match(parsed.message, message);
}

/** A body as OpenSIPS 3.5.9 writes it (it escapes nothing): plain layout, `<name>` inside `<param>`. */
function opensipsPlain(event: string, params: Array<{ name?: string; value: string | Buffer; int?: boolean }>): Buffer {
  const parts: Buffer[] = [Buffer.from(`<?xml version="1.0"?>\n<methodCall>\n<methodName>ev_cb</methodName>\n<params>\n<param>\n<value><string>${event}</string></value>\n</param>\n`)];
  for (const p of params) {
    const type = p.int ? 'int' : 'string';
    parts.push(Buffer.from(`<param>\n${p.name === undefined ? '' : `<name>${p.name}</name>\n`}<value><${type}>`), Buffer.from(p.value), Buffer.from(`</${type}></value>\n</param>\n`));
  }
  parts.push(Buffer.from('</params>\n</methodCall>'));
  return Buffer.concat(parts);
}

describe('parseOpenSipsCall reads every OpenSIPS capture', () => {
  for (const mode of ['plain', 'struct'] as const) {
    for (const [name, input] of Object.entries(CASES)) {
      const vector = readVector(`${mode}__${name}.raw`);
      if (!vector) continue;
      it(`${mode}__${name}: the event and params it was raised with, which encode to the same bytes`, () => {
        const call = ok(raw(vector.body));
        assert.deepEqual({ event: call.event, params: call.params }, input);
        assert.equal(call.method, 'ev_cb');
        assert.equal(call.repaired, 0);
        assert.equal(encodeMethodCall({ ...call, method: 'ev_cb', useStructParam: mode === 'struct' }), vector.body.toString('utf8'));
      });
    }
  }
});

describe('parseOpenSipsCall takes the bodies OpenSIPS gets wrong', () => {
  it('unescaped & and < in a string (the raw SIP message of E_CORE_THRESHOLD), CR, LF and TAB kept', () => {
    const sip = 'INVITE sip:bob@example.com SIP/2.0\r\nFrom: "A & B" <sip:alice@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\nSubject: x</string> y\tz\r\n\r\n';
    const body = opensipsPlain('E_CORE_THRESHOLD', [
      { name: 'source', value: 'msg processing' },
      { name: 'time', value: '250412', int: true },
      { name: 'extra', value: sip },
    ]);
    const call = ok(raw(body));
    assert.equal(call.event, 'E_CORE_THRESHOLD');
    assert.deepEqual(call.params, [
      { name: 'source', string: 'msg processing' },
      { name: 'time', int: 250412 },
      { name: 'extra', string: sip },
    ]);
  });

  it('in raw mode an entity is text: OpenSIPS sent the characters &amp; themselves', () => {
    const call = ok(raw(opensipsPlain('E_X', [{ name: 'a', value: 'x &amp; &#13; y' }])));
    assert.equal(call.params[0]?.string, 'x &amp; &#13; y');
  });

  it('negative ints printed as unsigned 64-bit numbers are the signed ints they were', () => {
    const ints = ['18446744073709551615', '18446744073709551611', '18446744071562067968', '0', '2147483647'];
    const call = ok(raw(opensipsPlain('E_X', ints.map((value, i) => ({ name: `n${i}`, value, int: true })))));
    assert.deepEqual(call.params.map((p) => p.int), [-1, -5, -2147483648, 0, 2147483647]);
    for (const bad of ['2147483648', '18446744071562067967', '18446744073709551616', '99999999999999999999', '1e3', '']) {
      refused(raw(opensipsPlain('E_X', [{ name: 'n', value: bad, int: true }])), 'Malformed', /int/);
    }
  });

  it('UTF-8, an empty string and unnamed params', () => {
    const call = ok(raw(opensipsPlain('E_X', [{ name: 'u', value: 'héllo ☃ 日本 🎉' }, { name: 'e', value: '' }, { value: 'unnamed' }, { value: '-7', int: true }])));
    assert.deepEqual(call.params, [{ name: 'u', string: 'héllo ☃ 日本 🎉' }, { name: 'e', string: '' }, { string: 'unnamed' }, { int: -7 }]);
  });

  it('the garbage bytes of a non-scalar MI value: kept in place as text, each byte XML cannot carry a U+FFFD, counted', () => {
    // raise_event params '{"a":true,"b":"x"}': OpenSIPS frees "true" before sending it and sends 4 bytes of freed memory.
    const garbage = Buffer.from([0x00, 0xc3, 0x3c, 0x7f]);
    const alsoGarbage = Buffer.from([0x90, 0x8f, 0x01, 0x02, 0x40]);
    const call = ok(raw(opensipsPlain('E_X', [{ name: 'a', value: garbage }, { name: 'b', value: 'x' }, { name: 'c', value: alsoGarbage }])));
    assert.deepEqual(call.params, [
      { name: 'a', string: '\uFFFD\uFFFD<\u007F' },
      { name: 'b', string: 'x' },
      { name: 'c', string: '\uFFFD\uFFFD\uFFFD\uFFFD@' },
    ]);
    assert.equal(call.repaired, 2);
    // What the relay re-encodes is well-formed XML.
    assert.ok(encodeMethodCall({ ...call, method: 'm', useStructParam: false }).includes('<string>\uFFFD\uFFFD&lt;\u007F</string>'));
  });

  it('struct mode: one struct per named param; unnamed params stay plain', () => {
    const body =
      '<?xml version="1.0"?>\n<methodCall>\n<methodName>ev_cb</methodName>\n<params>\n<param>\n<value><string>E_X</string></value>\n</param>\n' +
      '<param>\n<value><struct><member>\n<name>ip</name>\n<value><string>10.0.0.1 & <x></string></value>\n</member></struct></value>\n</param>\n' +
      '<param>\n<value><string>unnamed</string></value>\n</param>\n</params>\n</methodCall>';
    assert.deepEqual(ok(raw(body)).params, [{ name: 'ip', string: '10.0.0.1 & <x>' }, { string: 'unnamed' }]);
  });
});

describe('parseOpenSipsCall takes what XML-RPC clients send', () => {
  it("Python's xmlrpc.client: entities decoded, CR LF read as LF (XML), a struct of several members is several named params", () => {
    const body =
      "<?xml version='1.0'?>\n<methodCall>\n<methodName>m</methodName>\n<params>\n<param>\n<value><string>E_X</string></value>\n</param>\n" +
      '<param>\n<value><struct>\n<member>\n<name>a</name>\n<value><string>x &amp; &lt;y&gt; &#13;&#x263A;</string></value>\n</member>\n' +
      '<member>\n<name>b</name>\n<value><int>2</int></value>\n</member>\n</struct></value>\n</param>\n' +
      '<param>\n<value><i4>-3</i4></value>\n</param>\n<param>\n<value><string>two\r\nlines\rend</string></value>\n</param>\n' +
      '<param>\n<value>untyped &amp; kept </value>\n</param>\n<param><value/></param>\n<param><value><string/></value></param>\n</params>\n</methodCall>\n';
    const call = ok(xml(body));
    assert.deepEqual(call.params, [
      { name: 'a', string: 'x & <y> \r☺' },
      { name: 'b', int: 2 },
      { int: -3 },
      { string: 'two\nlines\nend' },
      { string: 'untyped & kept ' },
      { string: '' },
      { string: '' },
    ]);
  });

  it('whitespace, comments and a lone & are tolerated', () => {
    const body = '<methodCall ><!-- c --><methodName>m</methodName><params><param> <value> <string>E_X</string> </value> </param><param><value><string>a & b</string></value></param></params></methodCall>';
    assert.deepEqual(ok(xml(body)).params, [{ string: 'a & b' }]);
  });

  it('refuses value types events cannot carry, nested structs and DOCTYPEs', () => {
    const wrap = (value: string) => `<methodCall><methodName>m</methodName><params><param><value><string>E_X</string></value></param><param><value>${value}</value></param></params></methodCall>`;
    for (const type of ['<boolean>1</boolean>', '<double>1.5</double>', '<array><data></data></array>', '<base64>eA==</base64>', '<dateTime.iso8601>20260101T00:00:00</dateTime.iso8601>', '<nil/>']) {
      refused(xml(wrap(type)), 'Unsupported', /events carry only <string> and <int>/);
    }
    refused(xml(wrap('<struct><member><name>a</name><value><struct></struct></value></member></struct>')), 'Unsupported', /struct inside a struct/);
    refused(xml(`<!DOCTYPE x [<!ENTITY a "b">]>${wrap('<string>x</string>')}`), 'Unsupported', /DOCTYPE/);
  });
});

describe('parseOpenSipsCall refuses what is not one event', () => {
  it('no event name, a bad event name, a named or non-string first param', () => {
    refused(xml('<methodCall><methodName>m</methodName><params></params></methodCall>'), 'Malformed', /first param must be the event name/);
    refused(xml('<methodCall><methodName>m</methodName></methodCall>'), 'Malformed', /first param must be the event name/);
    refused(raw(opensipsPlain('E X', [])), 'Malformed', /event name "E X"/);
    refused(xml('<methodCall><methodName>m</methodName><params><param><value><int>1</int></value></param></params></methodCall>'), 'Malformed', /first param/);
    refused(xml('<methodCall><methodName>m</methodName><params><param><name>e</name><value><string>E</string></value></param></params></methodCall>'), 'Malformed', /first param/);
  });

  it('not XML-RPC, cut short, text after the end, a bad param name', () => {
    refused(xml('hello'), 'Malformed', /expected <methodCall>/);
    refused(xml(''), 'Malformed', /expected <methodCall>/);
    const full = opensipsPlain('E_X', [{ name: 'a', value: 'x' }]).toString();
    for (let cut = 10; cut < full.length; cut += 7) {
      const parsed = raw(full.slice(0, cut));
      assert.ok(!parsed.ok && parsed.reason === 'Malformed', `cut at ${cut}: ${JSON.stringify(parsed)}`);
    }
    refused(raw(`${full}<x/>`), 'Malformed', /after <\/methodCall>/);
    refused(raw(opensipsPlain('E_X', [{ name: 'a b', value: 'x' }])), 'Malformed', /param name "a b"/);
  });

  it('sizes and counts as for an EventRaise', () => {
    const many = Array.from({ length: 65 }, (_, i) => ({ name: `p${i}`, value: 'x' }));
    refused(raw(opensipsPlain('E_X', many)), 'TooLarge', /more than 64 params/);
    ok(raw(opensipsPlain('E_X', many.slice(0, 64))));
    refused(raw(opensipsPlain('E_X', [{ name: 'a', value: 'x'.repeat(8193) }])), 'TooLarge', /over 8192 characters/);
    ok(raw(opensipsPlain('E_X', [{ name: 'a', value: '☃'.repeat(8192) }])));
    const big = Array.from({ length: 9 }, (_, i) => ({ name: `p${i}`, value: 'x'.repeat(8000) }));
    refused(raw(opensipsPlain('E_X', big)), 'TooLarge', /over 65536 bytes/);
    refused(raw(Buffer.alloc(MAX_BODY_BYTES + 1, 0x20)), 'TooLarge', /over the 131072-byte limit/);
  });
});

describe('parseOpenSipsCall is linear in the body', () => {
  /** The shortest of several runs: a loaded machine only ever makes a run longer. */
  function fastest(body: Buffer): number {
    let best = Infinity;
    for (let i = 0; i < 7; i++) {
      const start = performance.now();
      parseOpenSipsCall(body, { raw: true });
      best = Math.min(best, performance.now() - start);
    }
    return best;
  }
  const adversarial: Record<string, (n: number) => Buffer> = {
    'a string full of </string> not followed by </value>': (n) => opensipsPlain('E_X', [{ name: 'a', value: '</string>x'.repeat(n / 10) }]),
    'a string full of < and &': (n) => opensipsPlain('E_X', [{ name: 'a', value: '<&'.repeat(n / 2) }]),
    'an unclosed string': (n) => Buffer.from(`<methodCall><methodName>m</methodName><params><param><value><string>E_X</string></value></param><param><value><string>${'</strin'.repeat(n / 8)}`),
    'whitespace after a tag name': (n) => Buffer.from(`<methodCall><methodName>m</methodName><params><param><value><string${' '.repeat(n)}`),
  };
  for (const [name, build] of Object.entries(adversarial)) {
    it(name, () => {
      const small = build(7_000);
      const large = build(112_000);
      assert.ok(large.length <= MAX_BODY_BYTES && large.length > 14 * small.length, `${small.length} and ${large.length} bytes`);
      fastest(large); // warm-up
      const ratio = fastest(large) / Math.max(fastest(small), 0.01);
      // 16 times the input: linear work takes about 16 times as long, quadratic 256 times.
      assert.ok(ratio < 64, `16x the bytes took ${ratio.toFixed(1)}x the time`);
    });
  }
});
