/** The methodName OpenSIPS is told to call; the relay reads the event from the first param, not from it. */
export const RELAY_METHOD = 'relay';
/** Random bytes in a relay's path: 192 bits, as 32 base64url characters. */
export const TOKEN_BYTES = 24;

const SEGMENT = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const TOKEN = /^[A-Za-z0-9_-]{32}$/;

/** `/relay/NAMESPACE/NAME/TOKEN`: the names tell a person which relay it is, the token is the secret. */
export function relayPath(namespace: string, name: string, token: string): string {
  return `/relay/${namespace}/${name}/${token}`;
}

export function newRelayToken(random: (bytes: number) => Buffer): string {
  return random(TOKEN_BYTES).toString('base64url');
}

/** The relay a request path names, or undefined when it cannot be a relay's path at all. */
export function relayOfPath(path: string): { namespace: string; name: string } | undefined {
  if (path.length > 400) return undefined;
  const [empty, relay, namespace = '', name = '', token = '', ...rest] = path.split('/');
  if (empty !== '' || relay !== 'relay' || rest.length > 0) return undefined;
  if (!SEGMENT.test(namespace) || !SEGMENT.test(name) || !TOKEN.test(token)) return undefined;
  return { namespace, name };
}

/** Whether `path` is a well-formed path of this relay (status.path as the operator writes it). */
export function isPathOf(path: string | undefined, namespace: string, name: string): path is string {
  const of = path === undefined ? undefined : relayOfPath(path);
  return of?.namespace === namespace && of.name === name;
}

/** The OpenSIPS socket of a relay: `xmlrpc:HOST:PORT/relay/...:relay`. */
export function relaySocket(host: string, port: number, path: string): string {
  return `xmlrpc:${host}:${port}${path}:${RELAY_METHOD}`;
}
