import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_TEXT, truncate, truncateUtf8 } from '../../src/core/text.js';

describe('truncate', () => {
  it('keeps text up to the bound and cuts longer text to exactly the bound, with …', () => {
    assert.equal(truncate('x'.repeat(MAX_TEXT)), 'x'.repeat(MAX_TEXT));
    const cut = truncate('x'.repeat(20 * 1024 * 1024));
    assert.equal(cut.length, MAX_TEXT);
    assert.ok(cut.endsWith('x…'));
  });

  it('does not split a surrogate pair', () => {
    const cut = truncate(`${'x'.repeat(MAX_TEXT - 2)}😀😀`);
    assert.equal(cut, `${'x'.repeat(MAX_TEXT - 2)}…`);
    assert.equal(cut.isWellFormed(), true);
  });
});

describe('truncateUtf8', () => {
  const bytes = (text: string) => Buffer.byteLength(text);

  it('keeps text that fits in the bytes', () => {
    assert.equal(truncateUtf8('é'.repeat(512), 1024), 'é'.repeat(512));
    assert.equal(truncateUtf8('x'.repeat(1024), 1024), 'x'.repeat(1024));
  });

  it('cuts to at most the bytes, whole characters only, with …', () => {
    for (const text of ['x'.repeat(1025), 'é'.repeat(513), '日'.repeat(400), '😀'.repeat(300), 'x'.repeat(20 * 1024 * 1024)]) {
      const cut = truncateUtf8(text, 1024);
      assert.ok(bytes(cut) <= 1024 && bytes(cut) >= 1020, `${bytes(cut)} bytes`);
      assert.ok(cut.endsWith('…') && cut.isWellFormed());
      assert.ok(text.startsWith(cut.slice(0, -1)));
    }
  });
});
