import { once } from 'node:events';
import xmlrpc from 'xmlrpc';
import { startPeerProcess } from './peer-process.js';

export interface RecordedCall {
  method: string;
  params: unknown[];
}

/** A fault a server answered, as it recorded it. */
export interface RecordedFault {
  faultCode: number;
  faultString: string;
}

/** A peer that records the calls it decoded (or another kind of record), and lets a test wait for them. */
export class CallLog<T = RecordedCall> {
  readonly calls: T[] = [];
  private waiters: Array<() => void> = [];

  push(call: T): void {
    this.calls.push(call);
    for (const wake of this.waiters.splice(0)) wake();
  }

  /** Resolves once `count` calls arrived (rejects after timeoutMs with what did arrive). */
  async waitFor(count: number, timeoutMs = 15_000): Promise<T[]> {
    const deadline = performance.now() + timeoutMs;
    while (this.calls.length < count) {
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`expected ${count} calls, got ${this.calls.length}: ${JSON.stringify(this.calls)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.calls;
  }
}

export interface XmlRpcPeer {
  port: number;
  log: CallLog;
  close(): Promise<void>;
}

/** A server that also records, with its own clock, the faults it answered. */
export interface FaultRecordingPeer extends XmlRpcPeer {
  log: CallLog<RecordedCall & { time: number }>;
  faults: CallLog<RecordedFault & { time: number }>;
}

/** "listening PORT", the first line every XML-RPC peer process prints. */
function listeningPort(script: string): (line: string) => number {
  return (line) => {
    const listening = /^listening (\d+)$/.exec(line);
    if (!listening) throw new Error(`${script} said: ${line}`);
    return Number(listening[1]);
  };
}

/** CPython's xmlrpc.server (test/peers/python_xmlrpc_server.py), in its own process. */
export async function startPythonPeer(): Promise<XmlRpcPeer> {
  const log = new CallLog();
  const peer = await startPeerProcess('python3', 'python_xmlrpc_server.py', [], listeningPort('python_xmlrpc_server.py'), (line) =>
    log.push(JSON.parse(line) as RecordedCall),
  );
  return { port: peer.ready, log, close: peer.close };
}

/**
 * Perl's RPC::XML::Server (Debian librpc-xml-perl), in its own process; `methods` answer true,
 * any other method is a fault. It records the calls it decoded and the faults it answered.
 */
export async function startPerlPeer(methods: string[]): Promise<FaultRecordingPeer> {
  const log = new CallLog<RecordedCall & { time: number }>();
  const faults = new CallLog<RecordedFault & { time: number }>();
  const peer = await startPeerProcess(
    'perl',
    'perl_rpc_xml_server.pl',
    methods,
    listeningPort('perl_rpc_xml_server.pl'),
    (line) => {
      const record = JSON.parse(line) as { time: number; method?: string; params?: unknown[]; fault?: RecordedFault };
      if (record.fault) faults.push({ ...record.fault, time: record.time });
      else log.push({ method: record.method!, params: record.params!, time: record.time });
    },
  ).catch((err: unknown) => {
    throw new Error(`${String(err)} (is librpc-xml-perl installed? .ci/run installs it)`);
  });
  return { port: peer.ready, log, faults, close: peer.close };
}

/** The npm `xmlrpc` package's server (on node:http, keep-alive included), in this process; answers true to `methods`. */
export async function startNpmPeer(methods: string[]): Promise<XmlRpcPeer & { connections(): number }> {
  const log = new CallLog();
  const server = xmlrpc.createServer({ host: '127.0.0.1', port: 0 });
  let connections = 0;
  server.httpServer.on('connection', () => connections++);
  await once(server.httpServer, 'listening');
  for (const method of methods) {
    server.on(method, (_err: unknown, params: unknown[], callback: (err: unknown, value: unknown) => void) => {
      log.push({ method, params });
      callback(null, true);
    });
  }
  const address = server.httpServer.address();
  if (!address || typeof address === 'string') throw new Error('npm xmlrpc server has no port');
  return {
    port: address.port,
    log,
    connections: () => connections,
    close: () =>
      new Promise((resolve) => {
        server.httpServer.close(() => resolve());
        server.httpServer.closeIdleConnections();
      }),
  };
}

export interface SecureCall extends RecordedCall {
  /** CN of the client certificate, null without one. */
  client: string | null;
  /** The X-* request headers. */
  headers: Record<string, string>;
}

export interface SecurePeer {
  port: number;
  log: CallLog<SecureCall>;
  /** Requests it answered 401, and why. */
  refused: CallLog<{ refused: string }>;
  close(): Promise<void>;
}

/** CPython's xmlrpc.server behind ssl: a server certificate, optionally mTLS, Basic or bearer credentials. */
export async function startSecurePeer(options: { certFile: string; keyFile: string; clientCaFile?: string; basic?: string; bearerFile?: string }): Promise<SecurePeer> {
  const args = ['--cert', options.certFile, '--key', options.keyFile];
  if (options.clientCaFile) args.push('--client-ca', options.clientCaFile);
  if (options.basic) args.push('--basic', options.basic);
  if (options.bearerFile) args.push('--bearer-file', options.bearerFile);
  const log = new CallLog<SecureCall>();
  const refused = new CallLog<{ refused: string }>();
  const peer = await startPeerProcess('python3', 'secure_xmlrpc_server.py', args, listeningPort('secure_xmlrpc_server.py'), (line) => {
    const record = JSON.parse(line) as SecureCall | { refused: string };
    if ('refused' in record) refused.push(record);
    else log.push(record);
  });
  return { port: peer.ready, log, refused, close: peer.close };
}
