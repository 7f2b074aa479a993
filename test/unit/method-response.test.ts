import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseMethodResponse } from '../../src/core/method-response.js';

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
});
