import { inRange, parseCidr, parseIp, type CidrRange } from './ip-address.js';

/**
 * The OpenSIPS event_xmlrpc socket grammar, `xmlrpc:HOST:PORT[PATH]:METHOD`,
 * with this project's strict decisions (no port wrap-around, no leading zeros,
 * IPv6 literals in brackets, a method limited to the XML-RPC charset).
 */
export interface DeliveryTarget {
  /** The host as written: a DNS name, a dotted IPv4 address or a bracketed IPv6 literal. */
  host: string;
  port: number;
  path: string;
  method: string;
  url: string;
}

export type SocketError =
  | 'UnsupportedScheme'
  | 'MalformedSocket'
  | 'InvalidHost'
  | 'InvalidPort'
  | 'InvalidPath'
  | 'InvalidMethod';

export type ParsedSocket =
  | { ok: true; target: DeliveryTarget }
  | { ok: false; reason: SocketError; message: string };

export const SOCKET_SCHEME = 'xmlrpc:';
export const DEFAULT_PATH = '/RPC2';

const IPV4_MAPPED = parseCidr('::ffff:0:0/96') as CidrRange;
const DNS_LABEL = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const ALL_DIGITS_AND_DOTS = /^[0-9.]+$/;
// A label the WHATWG URL parser (and inet_aton) would read as a number: 0x7f.0.0.1 is 127.0.0.1.
const NUMERIC_LABEL = /^([0-9]+|0[xX][0-9A-Fa-f]*)$/;
/** The rule, in the same words as the CRD's. */
export const NUMERIC_HOST_RULE =
  'an IPv4 address is written in dotted decimal (four numbers 0..255 without leading zeros), and no label of a DNS name is a number (all digits, or 0x and hex digits): 0x7f.0.0.1, 0177.0.0.1 and 2130706433 are refused';
// IPv4-mapped forms and zones are refused, as the apiserver's CEL isIP() does at admission.
const IPV6_CHARS = /^[0-9A-Fa-f:]+$/;
const PORT = /^[1-9][0-9]{0,4}$/;
const PATH = /^\/[\x21-\x39\x3B-\x7E]*$/;
const METHOD = /^[A-Za-z0-9_.:/]+$/;

const FORM = 'expected xmlrpc:HOST:PORT[PATH]:METHOD';
const URL_LIKE = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//;
const URL_SCHEME = 'xmlrpc://';
// The same words as the CRD's CEL rule, which cannot quote the socket.
const NOT_A_URL = 'is not a URL: write xmlrpc:HOST:PORT[PATH]:METHOD, e.g. xmlrpc:blocker.voip.svc:8080/RPC2:block_ip';

function fail(reason: SocketError, message: string): ParsedSocket {
  return { ok: false, reason, message };
}

/** `options.tls`: the target is reached over HTTPS (Subscriber spec.tls.enabled), so its URL is https://. */
export function parseSocket(socket: string, options: { tls?: boolean } = {}): ParsedSocket {
  // A socket is written like a URL so often that it gets its own answer, with the right form.
  if (socket.startsWith(URL_SCHEME)) {
    return fail('MalformedSocket', `socket "${socket}" is not a URL: write xmlrpc:${socket.slice(URL_SCHEME.length)}, without "//"`);
  }
  if (URL_LIKE.test(socket)) return fail('UnsupportedScheme', `socket "${socket}" ${NOT_A_URL}`);
  if (!socket.startsWith(SOCKET_SCHEME)) {
    return fail('UnsupportedScheme', `socket "${socket}" must start with "xmlrpc:" (the scheme is case-sensitive)`);
  }
  const rest = socket.slice(SOCKET_SCHEME.length);

  let host: string;
  let afterHost: string;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0) return fail('InvalidHost', `IPv6 host in socket "${socket}" has no closing "]"`);
    host = rest.slice(0, close + 1);
    afterHost = rest.slice(close + 1);
  } else {
    const colon = rest.indexOf(':');
    host = colon < 0 ? rest : rest.slice(0, colon);
    afterHost = colon < 0 ? '' : rest.slice(colon);
  }
  if (host === '') return fail('InvalidHost', `socket "${socket}" has an empty host; ${FORM}`);
  const hostProblem = checkHost(host);
  if (hostProblem) return fail('InvalidHost', `host "${host}" ${hostProblem}`);
  if (!afterHost.startsWith(':')) return fail('MalformedSocket', `socket "${socket}" has no port; ${FORM}`);

  const portEnd = afterHost.indexOf(':', 1);
  if (portEnd < 0) return fail('MalformedSocket', `socket "${socket}" has no method; ${FORM}`);
  const portField = afterHost.slice(1, portEnd);
  const method = afterHost.slice(portEnd + 1);

  const slash = portField.indexOf('/');
  const portText = slash < 0 ? portField : portField.slice(0, slash);
  const path = slash < 0 ? DEFAULT_PATH : portField.slice(slash);
  const port = Number(portText);
  if (!PORT.test(portText) || port > 65535) {
    return fail('InvalidPort', `port "${portText}" must be a decimal number 1..65535 without leading zeros`);
  }
  if (!PATH.test(path)) {
    return fail('InvalidPath', `path "${path}" must start with "/" and hold only visible ASCII other than ":"`);
  }
  if (method === '') return fail('InvalidMethod', `socket "${socket}" has an empty method; ${FORM}`);
  if (!METHOD.test(method)) {
    return fail('InvalidMethod', `method "${method}" must be 1+ characters of A-Z a-z 0-9 _ . : /`);
  }
  const scheme = options.tls ? 'https' : 'http';
  return { ok: true, target: { host, port, path, method, url: `${scheme}://${host}:${port}${path}` } };
}

/** Returns why a host is unusable, or undefined when it is fine. */
function checkHost(host: string): string | undefined {
  if (host.startsWith('[')) {
    const inner = host.slice(1, -1);
    if (!(IPV6_CHARS.test(inner) && inner.includes(':') && isIPv6(inner))) return 'is not a valid IPv6 literal';
    const address = parseIp(inner);
    return address && inRange(IPV4_MAPPED, address) ? 'is an IPv4-mapped IPv6 address: write the IPv4 address itself, in dotted decimal' : undefined;
  }
  if (IPV4.test(host)) return undefined;
  if (ALL_DIGITS_AND_DOTS.test(host)) return `is not a valid dotted IPv4 address: ${NUMERIC_HOST_RULE}`;
  if (host.length > 253) return 'is longer than 253 characters';
  const labels = host.split('.');
  if (!labels.every((label) => DNS_LABEL.test(label))) return 'must be a DNS name, a dotted IPv4 address or an IPv6 literal in [brackets]';
  const numeric = labels.find((label) => NUMERIC_LABEL.test(label));
  return numeric === undefined ? undefined : `has a label that is a number ("${numeric}"): ${NUMERIC_HOST_RULE}`;
}

function isIPv6(text: string): boolean {
  // URL's parser is the WHATWG host parser: it accepts exactly the IPv6 forms a URL can carry.
  try {
    return new URL(`http://[${text}]/`).hostname !== '';
  } catch {
    return false;
  }
}
