// EventRelays as a user and as OpenSIPS see them: the object, its socket, and
// requests written the way OpenSIPS's event_xmlrpc writes them.
import http from 'node:http';
import net from 'node:net';
import { CustomObjectsApi } from '@kubernetes/client-node';
import type { EventRelay, EventRelaySpec } from '../../src/api/relay-types.js';
import { GROUP, VERSION } from '../../src/api/types.js';
import { testCluster } from './cluster.js';
import { getObject, waitFor } from './objects.js';

const api = () => testCluster().admin.makeApiClient(CustomObjectsApi);

export function createRelay(namespace: string, name: string, spec: EventRelaySpec): Promise<EventRelay> {
  return api().createNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace,
    plural: 'eventrelays',
    body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'EventRelay', metadata: { name }, spec },
  });
}

export function getRelay(namespace: string, name: string): Promise<EventRelay> {
  return getObject<EventRelay>(namespace, 'eventrelays', name);
}

/** Where a relay is served, from its status.socket: `xmlrpc:HOST:PORT/relay/...:relay`. */
export interface RelayAddress {
  relay: EventRelay;
  host: string;
  port: number;
  path: string;
}

export async function waitForRelay(namespace: string, name: string): Promise<RelayAddress> {
  const relay = await waitFor(
    () => getRelay(namespace, name),
    (r) => (r.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True' && r.status.socket ? r : undefined),
  );
  const [, host = '', port = '', path = ''] = /^xmlrpc:([^:]+):(\d+)(\/[^:]+):relay$/.exec(relay.status!.socket!) ?? [];
  return { relay, host, port: Number(port), path };
}

/** The bytes OpenSIPS 3.5.9 writes for one event to `xmlrpc:HOST:PORT<path>:relay` (spec 3.1: no space after Host: with a path). */
export function openSipsRequest(address: { host: string; port: number; path: string }, body: Buffer): Buffer {
  const head =
    `POST ${address.path} HTTP/1.1\r\nHost:${address.host}:${address.port}\r\nConnection: close\r\n` +
    `User-Agent: OpenSIPS XMLRPC Notifier\r\nContent-type: text/xml\r\nContent-length: ${body.length}\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), body]);
}

/** A captured request with its request line pointed at `path`, every other byte as captured. */
export function retarget(raw: Buffer, path: string): Buffer {
  const lineEnd = raw.indexOf('\r\n');
  return Buffer.concat([Buffer.from(`POST ${path} HTTP/1.1`, 'latin1'), raw.subarray(lineEnd)]);
}

/**
 * As OpenSIPS's sender: connect, write the whole request, close its side and
 * never read the answer. Resolves once the connection is closed.
 */
export function sendLikeOpenSips(port: number, request: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => socket.end(request));
    socket.on('data', () => {}); // discarded, as OpenSIPS does
    socket.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' || err.code === 'EPIPE' ? resolve() : reject(err)));
    socket.on('close', () => resolve());
  });
}

/** As a generic XML-RPC client: POST and read the answer. */
export function postToRelay(
  port: number,
  path: string,
  body: Buffer | string,
  options: { method?: string; headers?: http.OutgoingHttpHeaders; chunked?: boolean } = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const data = Buffer.isBuffer(body) ? body : Buffer.from(body);
    const headers: http.OutgoingHttpHeaders = { 'Content-Type': 'text/xml', ...options.headers };
    if (!options.chunked) headers['Content-Length'] = data.length;
    const req = http.request({ host: '127.0.0.1', port, path, method: options.method ?? 'POST', headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (options.chunked) {
      // Several chunks, so that the server sees the body grow past its cap while reading.
      for (let at = 0; at < data.length; at += 16_384) req.write(data.subarray(at, at + 16_384));
      req.end();
    } else req.end(data);
  });
}

/** faultCode and faultString of a methodResponse fault, or undefined for a success. */
export function faultOf(body: string): { faultCode: number; faultString: string } | undefined {
  if (!body.includes('<fault>')) return undefined;
  const code = /<name>faultCode<\/name><value><int>(-?\d+)<\/int>/.exec(body)?.[1];
  const text = /<name>faultString<\/name><value><string>([^<]*)<\/string>/.exec(body)?.[1];
  const unescaped = (text ?? '').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
  return { faultCode: Number(code), faultString: unescaped };
}

/** The value of one sample in a Prometheus text exposition (0 when absent). */
export async function metric(httpPort: number, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  const wanted = Object.entries(labels);
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const have = new Map([...(match[2] ?? '').matchAll(/([a-zA-Z_]+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (wanted.every(([k, v]) => have.get(k) === v) && have.size === wanted.length) return Number(match[3]);
  }
  return 0;
}

/** Builds a body as OpenSIPS writes it (no escaping at all), in the plain layout. */
export function openSipsBody(event: string, params: Array<{ name?: string; value: string | Buffer; int?: boolean }>, method = 'relay'): Buffer {
  const parts: Buffer[] = [Buffer.from(`<?xml version="1.0"?>\n<methodCall>\n<methodName>${method}</methodName>\n<params>\n<param>\n<value><string>${event}</string></value>\n</param>\n`)];
  for (const p of params) {
    const type = p.int ? 'int' : 'string';
    parts.push(Buffer.from(`<param>\n${p.name === undefined ? '' : `<name>${p.name}</name>\n`}<value><${type}>`), Buffer.from(p.value), Buffer.from(`</${type}></value>\n</param>\n`));
  }
  parts.push(Buffer.from('</params>\n</methodCall>'));
  return Buffer.concat(parts);
}
