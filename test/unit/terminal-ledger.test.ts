import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { objectKey } from '../../src/core/object-key.js';
import { TerminalLedger } from '../../src/core/terminal-ledger.js';

const key = objectKey('ns', 'r');

describe('TerminalLedger', () => {
  it('holds a raise back until the cache shows the terminal write', () => {
    const ledger = new TerminalLedger();
    ledger.remember(key, { uid: 'u1', redelivered: undefined });
    assert.equal(ledger.isAhead(key, { uid: 'u1', redelivered: undefined, terminal: false }), true);
    assert.equal(ledger.isAhead(key, { uid: 'u1', redelivered: undefined, terminal: true }), false);
    assert.equal(ledger.size, 0, 'caught up: the mark is gone');
  });

  it('waits for the redelivery the write answered', () => {
    const ledger = new TerminalLedger();
    ledger.remember(key, { uid: 'u1', redelivered: 'v2' });
    assert.equal(ledger.isAhead(key, { uid: 'u1', redelivered: 'v1', terminal: true }), true);
    assert.equal(ledger.isAhead(key, { uid: 'u1', redelivered: 'v2', terminal: true }), false);
  });

  it('another object of the same name is not held back', () => {
    const ledger = new TerminalLedger();
    ledger.remember(key, { uid: 'u1', redelivered: undefined });
    assert.equal(ledger.isAhead(key, { uid: 'u2', redelivered: undefined, terminal: false }), false);
    assert.equal(ledger.size, 0);
  });

  it('knows nothing of raises it was not told about', () => {
    assert.equal(new TerminalLedger().isAhead(key, { uid: 'u', redelivered: undefined, terminal: false }), false);
  });
});
