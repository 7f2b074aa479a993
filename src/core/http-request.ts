import type { DeliveryTarget } from './socket.js';

export type HeaderLines = ReadonlyArray<readonly [name: string, value: string]>;

/**
 * The headers of one delivery, in the order and spelling OpenSIPS uses (some
 * servers written against it compare header text), and no others. Host is
 * the host as written plus the port, always, as OpenSIPS sends it. A
 * kept-alive connection says `Connection: keep-alive` where OpenSIPS says close.
 */
export function requestHeaders(target: DeliveryTarget, userAgent: string, body: string, keepAlive = false): HeaderLines {
  return [
    ['Host', `${target.host}:${target.port}`],
    ['Connection', keepAlive ? 'keep-alive' : 'close'],
    ['User-Agent', userAgent],
    ['Content-Type', 'text/xml'],
    ['Content-Length', String(Buffer.byteLength(body))],
  ];
}

/** The whole HTTP/1.1 request as it goes on the wire. */
export function renderRequest(target: DeliveryTarget, userAgent: string, body: string): string {
  const head = requestHeaders(target, userAgent, body).map(([name, value]) => `${name}: ${value}\r\n`);
  return `POST ${target.path} HTTP/1.1\r\n${head.join('')}\r\n${body}`;
}
