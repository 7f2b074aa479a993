/**
 * IP addresses and CIDR ranges as numbers, for the egress policy: strict
 * textual forms only (dotted-decimal IPv4 without leading zeros, RFC 4291
 * IPv6 with an optional dotted tail), and the IPv4 address an IPv6 address
 * carries when it is only another spelling of one.
 */
export interface IpAddress {
  family: 4 | 6;
  /** 32 bits for IPv4, 128 for IPv6. */
  value: bigint;
}

export interface CidrRange {
  family: 4 | 6;
  /** The first address of the range (no bits set past the prefix). */
  base: bigint;
  prefix: number;
  /** Canonical text, e.g. 10.0.0.0/8, fe80::/10. */
  text: string;
}

const OCTET = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
const HEXTET = /^[0-9A-Fa-f]{1,4}$/;

export function bitsOf(family: 4 | 6): number {
  return family === 4 ? 32 : 128;
}

function parseIPv4(text: string): bigint | undefined {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((p) => OCTET.test(p))) return undefined;
  return parts.reduce((acc, p) => (acc << 8n) | BigInt(Number(p)), 0n);
}

function parseIPv6(text: string): bigint | undefined {
  if (text.length > 45) return undefined;
  let head = text;
  let tail: bigint[] = [];
  // A dotted IPv4 tail takes the last two groups.
  const lastColon = text.lastIndexOf(':');
  if (lastColon >= 0 && text.includes('.', lastColon)) {
    const v4 = parseIPv4(text.slice(lastColon + 1));
    if (v4 === undefined) return undefined;
    tail = [v4 >> 16n, v4 & 0xffffn];
    head = text.slice(0, lastColon + 1);
    // "::1.2.3.4" leaves "::", "a::1.2.3.4" leaves "a::", "a:b:c:d:e:f:1.2.3.4" leaves "a:b:c:d:e:f:".
    if (head.endsWith(':') && !head.endsWith('::')) head = head.slice(0, -1);
  }
  const halves = head.split('::');
  if (halves.length > 2) return undefined;
  const groups = (part: string): bigint[] | undefined => {
    if (part === '') return [];
    const items = part.split(':');
    if (!items.every((g) => HEXTET.test(g))) return undefined;
    return items.map((g) => BigInt(parseInt(g, 16)));
  };
  const left = groups(halves[0]!);
  const right = halves.length === 2 ? groups(halves[1]!) : [];
  if (!left || !right) return undefined;
  const given = left.length + right.length + tail.length;
  let all: bigint[];
  if (halves.length === 2) {
    if (given > 7) return undefined;
    all = [...left, ...Array<bigint>(8 - given).fill(0n), ...right, ...tail];
  } else {
    if (given !== 8) return undefined;
    all = [...left, ...tail];
  }
  return all.reduce((acc, g) => (acc << 16n) | g, 0n);
}

/** An address in its strict textual form; an IPv6 zone (`%eth0`, as resolvers give for link-local) is ignored. */
export function parseIp(text: string): IpAddress | undefined {
  const bare = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  if (bare.includes(':')) {
    const zone = bare.indexOf('%');
    const value = parseIPv6(zone < 0 ? bare : bare.slice(0, zone));
    return value === undefined ? undefined : { family: 6, value };
  }
  const value = parseIPv4(bare);
  return value === undefined ? undefined : { family: 4, value };
}

export function formatIp(address: IpAddress): string {
  if (address.family === 4) {
    return [24n, 16n, 8n, 0n].map((shift) => String((address.value >> shift) & 0xffn)).join('.');
  }
  const groups = Array.from({ length: 8 }, (_, i) => Number((address.value >> BigInt(112 - 16 * i)) & 0xffffn));
  // RFC 5952: the longest run of two or more zero groups becomes "::".
  let best = { start: -1, length: 1 };
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > best.length) best = { start: i, length: j - i };
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best.start < 0) return hex.join(':');
  return `${hex.slice(0, best.start).join(':')}::${hex.slice(best.start + best.length).join(':')}`;
}

/** `10.0.0.0/8`, `fe80::/10`, or a single address (a /32 or /128); undefined with a reason when malformed. */
export function parseCidr(text: string): CidrRange | { error: string } {
  const slash = text.indexOf('/');
  const address = parseIp(slash < 0 ? text : text.slice(0, slash));
  if (!address || text.includes('%')) return { error: `"${text}" is not an IPv4 or IPv6 address or CIDR range` };
  const max = bitsOf(address.family);
  const prefixText = slash < 0 ? String(max) : text.slice(slash + 1);
  const prefix = /^(0|[1-9]\d{0,2})$/.test(prefixText) ? Number(prefixText) : NaN;
  if (!(prefix >= 0 && prefix <= max)) return { error: `"${text}" has a prefix length other than 0..${max}` };
  const base = address.value & mask(address.family, prefix);
  if (base !== address.value) {
    const canonical = `${formatIp({ family: address.family, value: base })}/${prefix}`;
    return { error: `"${text}" has bits set past its /${prefix} prefix: write ${canonical}` };
  }
  return { family: address.family, base, prefix, text: `${formatIp(address)}/${prefix}` };
}

function mask(family: 4 | 6, prefix: number): bigint {
  const bits = BigInt(bitsOf(family));
  const all = (1n << bits) - 1n;
  return prefix === 0 ? 0n : (all >> (bits - BigInt(prefix))) << (bits - BigInt(prefix));
}

export function inRange(range: CidrRange, address: IpAddress): boolean {
  return range.family === address.family && (address.value & mask(range.family, range.prefix)) === range.base;
}

const MAPPED = parseCidr('::ffff:0:0/96') as CidrRange;
const COMPATIBLE = parseCidr('::/96') as CidrRange;
const NAT64 = parseCidr('64:ff9b::/96') as CidrRange;

/**
 * The IPv4 address an IPv6 address spells: IPv4-mapped (::ffff:a.b.c.d, which a
 * dual-stack socket connects to over IPv4), IPv4-compatible (::a.b.c.d, but
 * not :: nor ::1) and NAT64 with the well-known prefix (64:ff9b::a.b.c.d),
 * which a NAT64 gateway forwards to that IPv4 address. A network-specific
 * NAT64 prefix places the IPv4 bits where its length says: deny it by flag.
 */
export function embeddedIPv4(address: IpAddress): IpAddress | undefined {
  if (address.family !== 6) return undefined;
  const low = address.value & 0xffffffffn;
  if (inRange(MAPPED, address) || inRange(NAT64, address)) return { family: 4, value: low };
  if (inRange(COMPATIBLE, address) && address.value > 1n) return { family: 4, value: low };
  return undefined;
}
