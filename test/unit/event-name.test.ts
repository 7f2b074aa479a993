import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_EVENT_NAME, eventName } from '../../src/core/event-name.js';

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const UNIQUE = '0123456789abcdef';

describe('eventName', () => {
  it('is <name>.<unique> while that fits', () => {
    assert.equal(eventName('pike-blocker', UNIQUE), `pike-blocker.${UNIQUE}`);
    const longest = 'a'.repeat(MAX_EVENT_NAME - UNIQUE.length - 1);
    assert.equal(eventName(longest, UNIQUE), `${longest}.${UNIQUE}`);
  });

  it('is a valid name for every valid object name up to 253 characters', () => {
    const shapes = (n: number) => ['a'.repeat(n), `${'a-'.repeat(n)}`.slice(0, n - 1) + 'b', `${'ab.'.repeat(n)}`.slice(0, n - 1) + 'c'];
    for (let length = 1; length <= 253; length++) {
      for (const name of shapes(length)) {
        assert.match(name, DNS_SUBDOMAIN, `test input ${name}`);
        const event = eventName(name, UNIQUE);
        assert.ok(event.length <= MAX_EVENT_NAME, `${event.length} characters for a ${length}-character name`);
        assert.match(event, DNS_SUBDOMAIN, event);
        assert.ok(event.endsWith(`.${UNIQUE}`));
      }
    }
  });

  it('keeps two long names that differ only at the end apart', () => {
    const a = eventName(`${'x'.repeat(249)}-one`, UNIQUE);
    const b = eventName(`${'x'.repeat(249)}-two`, UNIQUE);
    assert.notEqual(a, b);
    assert.ok(a.startsWith('x'.repeat(200)));
  });
});
