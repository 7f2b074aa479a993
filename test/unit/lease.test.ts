import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  checkDurations,
  claim,
  isLeaseValid,
  jittered,
  mayAcquire,
  microTime,
  observe,
  recordOf,
  released,
  renewalExpired,
  type LeaseRecord,
} from '../../src/core/lease.js';

const T0 = new Date('2025-03-04T05:06:07.089Z');
const held = (holder: string, over: Partial<LeaseRecord> = {}): LeaseRecord => ({
  holderIdentity: holder,
  leaseDurationSeconds: 15,
  acquireTime: '2025-03-04T05:00:00.000000Z',
  renewTime: '2025-03-04T05:06:00.000000Z',
  leaseTransitions: 2,
  ...over,
});

describe('lease decisions (client-go leader election)', () => {
  it('writes metav1.MicroTime: UTC, six fractional digits', () => {
    assert.equal(microTime(T0), '2025-03-04T05:06:07.089000Z');
    assert.match(microTime(new Date()), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
  });

  it('reads a LeaseSpec as the API returns it, missing fields included', () => {
    assert.deepEqual(recordOf(undefined), { holderIdentity: '', leaseDurationSeconds: 0, acquireTime: '', renewTime: '', leaseTransitions: 0 });
    assert.deepEqual(recordOf({ holderIdentity: 'a', leaseDurationSeconds: 3, renewTime: '2025-03-04T05:06:07.089123Z', leaseTransitions: 4 }), {
      holderIdentity: 'a',
      leaseDurationSeconds: 3,
      acquireTime: '',
      renewTime: '2025-03-04T05:06:07.089123Z',
      leaseTransitions: 4,
    });
    assert.equal(recordOf({ renewTime: T0 }).renewTime, '2025-03-04T05:06:07.089000Z', 'a Date (deserialised MicroTime) too');
  });

  describe('expiry is measured on our clock, from when we saw the record change', () => {
    it('a record seen again unchanged keeps its first observation time, so a dead holder ages', () => {
      const first = observe(undefined, held('a'), 1_000);
      const again = observe(first, held('a'), 9_000);
      assert.equal(again.atMs, 1_000);
      assert.equal(isLeaseValid(again, 15_999), true);
      assert.equal(isLeaseValid(again, 16_000), false, 'leaseDurationSeconds after the observed change it has run out');
    });

    it('a renewal (any change of the record) restarts the clock', () => {
      const first = observe(undefined, held('a'), 1_000);
      const renewed = observe(first, held('a', { renewTime: '2025-03-04T05:06:02.000000Z' }), 9_000);
      assert.equal(renewed.atMs, 9_000);
      assert.equal(isLeaseValid(renewed, 16_000), true);
    });

    it('ignores the remote renewTime: a holder whose clock is hours behind is not expired, one hours ahead does not last longer', () => {
      const behind = observe(undefined, held('a', { renewTime: '2020-01-01T00:00:00.000000Z' }), 1_000);
      assert.equal(isLeaseValid(behind, 2_000), true);
      const ahead = observe(undefined, held('a', { renewTime: '2099-01-01T00:00:00.000000Z' }), 1_000);
      assert.equal(isLeaseValid(ahead, 16_000), false);
    });

    it("uses the record's leaseDurationSeconds, not ours", () => {
      const short = observe(undefined, held('a', { leaseDurationSeconds: 1 }), 0);
      assert.equal(isLeaseValid(short, 999), true);
      assert.equal(isLeaseValid(short, 1_000), false);
    });
  });

  describe('mayAcquire', () => {
    it('a lease with no holder (released) is free at once', () => {
      assert.equal(mayAcquire(observe(undefined, held(''), 0), 'b', 1), true);
    });

    it("someone else's valid lease is not; once it runs out it is", () => {
      const seen = observe(undefined, held('a'), 0);
      assert.equal(mayAcquire(seen, 'b', 14_999), false);
      assert.equal(mayAcquire(seen, 'b', 15_000), true);
    });

    it('our own lease is always ours to renew', () => {
      assert.equal(mayAcquire(observe(undefined, held('b'), 0), 'b', 1), true);
      assert.equal(mayAcquire(observe(undefined, held('b'), 0), 'b', 60_000), true);
    });
  });

  describe('claim: the record written to acquire or renew', () => {
    it('creates a Lease with 0 transitions', () => {
      assert.deepEqual(claim(undefined, 'b', 15_000, T0), {
        holderIdentity: 'b',
        leaseDurationSeconds: 15,
        acquireTime: '2025-03-04T05:06:07.089000Z',
        renewTime: '2025-03-04T05:06:07.089000Z',
        leaseTransitions: 0,
      });
    });

    it('renewing keeps acquireTime and leaseTransitions, moves renewTime', () => {
      assert.deepEqual(claim(held('b'), 'b', 15_000, T0), {
        ...held('b'),
        renewTime: '2025-03-04T05:06:07.089000Z',
      });
    });

    it('taking over from another holder, or from nobody, is one more transition with a new acquireTime', () => {
      for (const previous of ['a', '']) {
        assert.deepEqual(claim(held(previous), 'b', 3_000, T0), {
          holderIdentity: 'b',
          leaseDurationSeconds: 3,
          acquireTime: '2025-03-04T05:06:07.089000Z',
          renewTime: '2025-03-04T05:06:07.089000Z',
          leaseTransitions: 3,
        });
      }
    });
  });

  it('release (ReleaseOnCancel) empties the holder, shortens the lease to 1s and keeps the transitions', () => {
    assert.deepEqual(released(held('b'), T0), {
      holderIdentity: '',
      leaseDurationSeconds: 1,
      acquireTime: '2025-03-04T05:06:07.089000Z',
      renewTime: '2025-03-04T05:06:07.089000Z',
      leaseTransitions: 2,
    });
  });

  it('the leader gives up when no renewal started within the renew deadline succeeded', () => {
    assert.equal(renewalExpired(1_000, 10_999, 10_000), false);
    assert.equal(renewalExpired(1_000, 11_000, 10_000), true);
  });

  it('the leader stops before anyone may take over: renew deadline < lease duration, counted from an earlier instant', () => {
    // The leader's renewal starts at 1_000 and lands at 1_300; another candidate reads it at 1_400.
    const other = observe(undefined, held('a', { leaseDurationSeconds: 3 }), 1_400);
    const leaderGivesUpAt = 1_000 + 2_000; // renew deadline 2s, counted from the request's start
    assert.equal(renewalExpired(1_000, leaderGivesUpAt, 2_000), true);
    assert.equal(mayAcquire(other, 'b', leaderGivesUpAt), false, 'nobody else may take it while the leader may still deliver');
    assert.equal(mayAcquire(other, 'b', 4_400), true);
  });

  it('jitters the acquire loop between 1x and 2.2x the retry period', () => {
    assert.equal(jittered(2_000, 0), 2_000);
    assert.equal(jittered(2_000, 0.5), 3_200);
    assert.ok(jittered(2_000, 0.999_999) <= 4_400);
  });

  it("checks durations as client-go's NewLeaderElector does", () => {
    assert.deepEqual(checkDurations(15_000, 10_000, 2_000), []);
    assert.deepEqual(checkDurations(3_000, 2_000, 500), []);
    assert.equal(checkDurations(10_000, 10_000, 2_000).length, 1);
    assert.equal(checkDurations(15_000, 2_400, 2_000).length, 1, 'renew deadline must exceed 1.2 x retry period');
    assert.equal(checkDurations(1_500, 1_000, 100).length, 1, 'a Lease holds whole seconds');
  });
});
