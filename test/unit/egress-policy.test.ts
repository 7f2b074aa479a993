import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { API_SERVER_ORIGIN, EgressPolicy, egressDeniedMessage, parseEgressRanges } from '../../src/core/egress-policy.js';
import { embeddedIPv4, formatIp, parseCidr, parseIp } from '../../src/core/ip-address.js';

const policy = (deny: string[] = [], allow: string[] = []) =>
  EgressPolicy.fromFlags(deny, allow);

function deniedBy(p: EgressPolicy, address: string): string | undefined {
  const verdict = p.check(address);
  return verdict.allowed ? undefined : (verdict.denial.rule?.range.text ?? 'not an address');
}

describe('IP addresses and CIDR ranges', () => {
  it('parses the strict forms and prints them canonically (RFC 5952)', () => {
    const cases: Array<[string, string]> = [
      ['127.0.0.1', '127.0.0.1'],
      ['0.0.0.0', '0.0.0.0'],
      ['::', '::'],
      ['::1', '::1'],
      ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
      ['2001:db8:0:1:0:0:0:1', '2001:db8:0:1::1'],
      ['::ffff:127.0.0.1', '::ffff:7f00:1'],
      ['::127.0.0.1', '::7f00:1'],
      ['1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:102:304'],
      ['fe80::1%eth0', 'fe80::1'],
      ['[::1]', '::1'],
    ];
    for (const [text, canonical] of cases) {
      const address = parseIp(text);
      assert.ok(address, text);
      assert.equal(formatIp(address), canonical, text);
    }
  });

  it('refuses every other spelling of a number as an address', () => {
    for (const text of ['0x7f.0.0.1', '0177.0.0.1', '2130706433', '127.1', '127.0.0.1.', '1.2.3.256', '01.2.3.4', ':::', '1::2::3', '1:2:3:4:5:6:7:8:9', '::ffff:1.2.3', 'g::1', '', 'localhost']) {
      assert.equal(parseIp(text), undefined, text);
    }
  });

  it('parses ranges, refuses host bits past the prefix with the range to write instead', () => {
    assert.equal((parseCidr('10.0.0.0/8') as { text: string }).text, '10.0.0.0/8');
    assert.equal((parseCidr('10.1.2.3') as { text: string }).text, '10.1.2.3/32');
    assert.equal((parseCidr('FE80::/10') as { text: string }).text, 'fe80::/10');
    assert.equal((parseCidr('::/0') as { text: string }).text, '::/0');
    assert.deepEqual(parseCidr('10.0.0.1/8'), { error: '"10.0.0.1/8" has bits set past its /8 prefix: write 10.0.0.0/8' });
    assert.match((parseCidr('10.0.0.0/33') as { error: string }).error, /prefix length other than 0\.\.32/);
    assert.match((parseCidr('10.0.0.0/08') as { error: string }).error, /prefix length/);
    assert.match((parseCidr('fe80::1%eth0/64') as { error: string }).error, /not an IPv4 or IPv6 address/);
    assert.throws(() => parseEgressRanges(['10.0.0.0/8', 'nope'], 'egress-deny'), /^Error: --egress-deny: "nope" is not an IPv4 or IPv6 address or CIDR range$/);
  });

  it('finds the IPv4 address of mapped, compatible and NAT64 spellings, and only of those', () => {
    const v4 = (text: string) => {
      const embedded = embeddedIPv4(parseIp(text)!);
      return embedded && formatIp(embedded);
    };
    assert.equal(v4('::ffff:169.254.169.254'), '169.254.169.254');
    assert.equal(v4('::ffff:a9fe:a9fe'), '169.254.169.254');
    assert.equal(v4('::a9fe:a9fe'), '169.254.169.254');
    assert.equal(v4('64:ff9b::a9fe:a9fe'), '169.254.169.254');
    assert.equal(v4('::1'), undefined, '::1 is IPv6 loopback, not 0.0.0.1');
    assert.equal(v4('::'), undefined);
    assert.equal(v4('2001:db8::a9fe:a9fe'), undefined);
    assert.equal(v4('169.254.169.254'), undefined);
  });
});

describe('EgressPolicy', () => {
  it('denies link-local and unspecified addresses by default, in every spelling', () => {
    const p = policy();
    for (const [address, range] of [
      ['169.254.169.254', '169.254.0.0/16'],
      ['fe80::1', 'fe80::/10'],
      ['fe80::1%eth0', 'fe80::/10'],
      ['febf:ffff::1', 'fe80::/10'],
      ['0.0.0.0', '0.0.0.0/8'],
      ['0.1.2.3', '0.0.0.0/8'],
      ['::', '::/128'],
      ['::ffff:169.254.169.254', '169.254.0.0/16'],
      ['::ffff:0.0.0.0', '0.0.0.0/8'],
      ['::a9fe:a9fe', '169.254.0.0/16'],
      ['64:ff9b::a9fe:a9fe', '169.254.0.0/16'],
    ]) {
      assert.equal(deniedBy(p, address!), range, address);
    }
    for (const address of ['127.0.0.1', '::1', '10.0.0.1', '192.168.1.1', '2001:db8::1', '169.255.0.1', 'fec0::1', '::ffff:127.0.0.1']) {
      assert.equal(deniedBy(p, address), undefined, address);
    }
    assert.equal(deniedBy(p, 'localhost'), 'not an address', 'what is not an address is denied');
  });

  it('lets the most specific range decide, and allow win a tie', () => {
    const p = policy(['127.0.0.0/8', '10.0.0.0/8', '10.1.2.3/32', '::1'], ['127.0.0.1/32', '10.1.0.0/16', '10.0.0.0/8']);
    assert.equal(deniedBy(p, '127.0.0.1'), undefined, 'a /32 allow reopens one address of a denied /8');
    assert.equal(deniedBy(p, '127.0.0.2'), '127.0.0.0/8');
    assert.equal(deniedBy(p, '::ffff:127.0.0.2'), '127.0.0.0/8', 'the mapped spelling is judged as IPv4');
    assert.equal(deniedBy(p, '::ffff:127.0.0.1'), undefined);
    assert.equal(deniedBy(p, '::1'), '::1/128');
    assert.equal(deniedBy(p, '10.9.9.9'), undefined, 'the same /8 denied and allowed: allow wins the tie');
    assert.equal(deniedBy(p, '10.1.9.9'), undefined);
    assert.equal(deniedBy(p, '10.1.2.3'), '10.1.2.3/32', 'a deny more specific than an allow wins');
    assert.equal(deniedBy(policy([], ['169.254.169.254/32']), '169.254.169.254'), undefined, 'a default can be reopened, narrowly');
    assert.equal(deniedBy(policy([], ['169.254.169.254/32']), '169.254.169.253'), '169.254.0.0/16');
    assert.equal(deniedBy(policy(['::/0', '0.0.0.0/0']), '8.8.8.8'), '0.0.0.0/0');
  });

  it("adds the API server's addresses as single-address denials", () => {
    const p = policy().denying(['10.96.0.1', '2001:db8::10', 'garbage'], API_SERVER_ORIGIN);
    assert.equal(deniedBy(p, '10.96.0.1'), '10.96.0.1/32');
    assert.equal(deniedBy(p, '::ffff:10.96.0.1'), '10.96.0.1/32');
    assert.equal(deniedBy(p, '10.96.0.2'), undefined);
    assert.equal(deniedBy(p, '2001:db8::10'), '2001:db8::10/128');
    assert.equal(p.rules.length, policy().rules.length + 2);
  });

  it('says which address, which range and which rule', () => {
    const p = policy(['127.0.0.0/8']).denying(['10.96.0.1'], API_SERVER_ORIGIN);
    const denial = (address: string) => {
      const verdict = p.check(address);
      assert.equal(verdict.allowed, false);
      return verdict.allowed ? undefined! : verdict.denial;
    };
    assert.equal(
      egressDeniedMessage('169.254.169.254', [denial('169.254.169.254')]),
      "egress denied: 169.254.169.254 is in 169.254.0.0/16 (link-local, denied by default); no connection was made (the operator's --egress-allow can reopen a range)",
    );
    assert.equal(
      egressDeniedMessage('[::ffff:a9fe:a9fe]', [denial('::ffff:a9fe:a9fe')]),
      "egress denied: ::ffff:a9fe:a9fe (that is 169.254.169.254) is in 169.254.0.0/16 (link-local, denied by default); no connection was made (the operator's --egress-allow can reopen a range)",
    );
    assert.equal(
      egressDeniedMessage('localhost', [denial('127.0.0.1'), denial('10.96.0.1')]),
      'egress denied: localhost resolves only to denied addresses: 127.0.0.1 is in 127.0.0.0/8 (--egress-deny); ' +
        "10.96.0.1 is an address of the Kubernetes API server, denied by default; no connection was made (the operator's --egress-allow can reopen a range)",
    );
    const many = Array.from({ length: 6 }, (_, i) => denial(`127.0.0.${i + 1}`));
    assert.match(egressDeniedMessage('many.example', many), /127\.0\.0\.4 is in 127\.0\.0\.0\/8 \(--egress-deny\); and 2 more; no connection/);
  });
});
