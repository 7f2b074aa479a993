import { embeddedIPv4, formatIp, inRange, parseCidr, parseIp, type CidrRange, type IpAddress } from './ip-address.js';

export type EgressAction = 'deny' | 'allow';

export interface EgressRule {
  range: CidrRange;
  action: EgressAction;
  /** Where the rule comes from, for messages: "link-local, denied by default", "--egress-deny", ... */
  origin: string;
}

/** Denied whatever the flags say, unless an allow rule at least as specific reopens them. */
export const DEFAULT_DENIED: ReadonlyArray<readonly [cidr: string, what: string]> = [
  ['169.254.0.0/16', 'link-local'],
  ['fe80::/10', 'link-local'],
  ['0.0.0.0/8', 'unspecified'],
  ['::/128', 'unspecified'],
];

export const API_SERVER_ORIGIN = 'an address of the Kubernetes API server, denied by default';

export interface EgressDenial {
  /** The address as given. */
  address: string;
  /** Set when the address was judged as the IPv4 address it spells (::ffff:a.b.c.d, 64:ff9b::a.b.c.d). */
  as?: string;
  rule?: EgressRule;
}

export type EgressVerdict = { allowed: true } | { allowed: false; denial: EgressDenial };

/**
 * Which addresses the operator may connect to. The most specific range that
 * contains an address decides (the longest prefix); on a tie between an allow
 * and a deny rule for the same range, allow wins, so an admin can reopen a
 * default. An address no rule contains is allowed. An IPv6 address that
 * spells an IPv4 one is allowed only if both forms are. Text that is not an
 * address is denied.
 */
export class EgressPolicy {
  readonly rules: readonly EgressRule[];

  constructor(rules: readonly EgressRule[]) {
    this.rules = rules;
  }

  /** The default denials, then the flags' ranges (throws on a malformed one, naming the flag). */
  static fromFlags(deny: readonly string[], allow: readonly string[]): EgressPolicy {
    return new EgressPolicy([
      ...DEFAULT_DENIED.map(([cidr, what]) => ({ range: parseCidr(cidr) as CidrRange, action: 'deny' as const, origin: `${what}, denied by default` })),
      ...parseEgressRanges(deny, 'egress-deny').map((range) => ({ range, action: 'deny' as const, origin: '--egress-deny' })),
      ...parseEgressRanges(allow, 'egress-allow').map((range) => ({ range, action: 'allow' as const, origin: '--egress-allow' })),
    ]);
  }

  /** This policy plus a deny rule for each address (a /32 or /128), e.g. the API server's. */
  denying(addresses: readonly string[], origin: string): EgressPolicy {
    const added: EgressRule[] = [];
    for (const text of addresses) {
      const address = parseIp(text);
      if (!address) continue;
      const range = parseCidr(formatIp(address)) as CidrRange;
      if (!added.some((r) => r.range.text === range.text)) added.push({ range, action: 'deny', origin });
    }
    return new EgressPolicy([...this.rules, ...added]);
  }

  check(text: string): EgressVerdict {
    const address = parseIp(text);
    if (!address) return { allowed: false, denial: { address: text } };
    const own = this.decide(address);
    if (own) return { allowed: false, denial: { address: text, rule: own } };
    const v4 = embeddedIPv4(address);
    const spelled = v4 && this.decide(v4);
    if (spelled) return { allowed: false, denial: { address: text, as: formatIp(v4), rule: spelled } };
    return { allowed: true };
  }

  /** The deny rule that decides for this address, if one does. */
  private decide(address: IpAddress): EgressRule | undefined {
    let best: EgressRule | undefined;
    for (const rule of this.rules) {
      if (!inRange(rule.range, address)) continue;
      const better = !best || rule.range.prefix > best.range.prefix || (rule.range.prefix === best.range.prefix && rule.action === 'allow');
      if (better) best = rule;
    }
    return best?.action === 'deny' ? best : undefined;
  }
}

/** Ranges of a repeatable flag; throws with the flag's name and the reason for the first bad one. */
export function parseEgressRanges(values: readonly string[], flag: string): CidrRange[] {
  return values.map((value) => {
    const range = parseCidr(value);
    if ('error' in range) throw new Error(`--${flag}: ${range.error}`);
    return range;
  });
}

/** One denied address, e.g. `169.254.169.254 is in 169.254.0.0/16 (link-local, denied by default)`. */
export function describeDenial(denial: EgressDenial): string {
  if (!denial.rule) return `${denial.address} is not an IP address`;
  const subject = denial.as ? `${denial.address} (that is ${denial.as})` : denial.address;
  const { range, origin } = denial.rule;
  if (origin === API_SERVER_ORIGIN) return `${subject} is ${origin}`;
  return `${subject} is in ${range.text} (${origin})`;
}

/** The sentence for a host none of whose addresses may be connected to. */
export function egressDeniedMessage(host: string, denials: readonly EgressDenial[]): string {
  const shown = denials.slice(0, 4).map(describeDenial);
  if (denials.length > shown.length) shown.push(`and ${denials.length - shown.length} more`);
  const literal = denials.length === 1 && (denials[0]!.address === host || `[${denials[0]!.address}]` === host);
  const what = literal ? shown[0] : `${host} resolves only to denied addresses: ${shown.join('; ')}`;
  return `egress denied: ${what}; no connection was made (the operator's --egress-allow can reopen a range)`;
}
