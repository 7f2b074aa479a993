import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import xmlrpc from 'xmlrpc';

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
    const deadline = Date.now() + timeoutMs;
    while (this.calls.length < count) {
      const left = deadline - Date.now();
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

const PYTHON_SERVER = fileURLToPath(new URL('../peers/python_xmlrpc_server.py', import.meta.url));
const PERL_SERVER = fileURLToPath(new URL('../peers/perl_rpc_xml_server.pl', import.meta.url));

/** CPython's xmlrpc.server, in its own process. */
export async function startPythonPeer(): Promise<XmlRpcPeer> {
  const child: ChildProcess = spawn('python3', [PYTHON_SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
  const log = new CallLog();
  const lines = createInterface({ input: child.stdout! });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`python XML-RPC server exited with ${code}`)));
    lines.on('line', (line) => {
      const listening = /^listening (\d+)$/.exec(line);
      if (listening) resolve(Number(listening[1]));
      else log.push(JSON.parse(line) as RecordedCall);
    });
  });
  return {
    port,
    log,
    close: async () => {
      if (child.exitCode !== null) return;
      child.kill();
      await once(child, 'exit');
    },
  };
}

/**
 * Perl's RPC::XML::Server (Debian librpc-xml-perl), in its own process; `methods` answer true,
 * any other method is a fault. It records the calls it decoded and the faults it answered.
 */
export async function startPerlPeer(methods: string[]): Promise<FaultRecordingPeer> {
  const child: ChildProcess = spawn('perl', [PERL_SERVER, ...methods], { stdio: ['ignore', 'pipe', 'inherit'] });
  const log = new CallLog<RecordedCall & { time: number }>();
  const faults = new CallLog<RecordedFault & { time: number }>();
  const lines = createInterface({ input: child.stdout! });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`perl RPC::XML server exited with ${code} (is librpc-xml-perl installed? .ci/run installs it)`)));
    lines.on('line', (line) => {
      const listening = /^listening (\d+)$/.exec(line);
      if (listening) return resolve(Number(listening[1]));
      const record = JSON.parse(line) as { time: number; method?: string; params?: unknown[]; fault?: RecordedFault };
      if (record.fault) faults.push({ ...record.fault, time: record.time });
      else log.push({ method: record.method!, params: record.params!, time: record.time });
    });
  });
  return {
    port,
    log,
    faults,
    close: async () => {
      if (child.exitCode !== null) return;
      child.kill();
      await once(child, 'exit');
    },
  };
}

/** The npm `xmlrpc` package's server, in this process; answers true to `methods`. */
export async function startNpmPeer(methods: string[]): Promise<XmlRpcPeer> {
  const log = new CallLog();
  const server = xmlrpc.createServer({ host: '127.0.0.1', port: 0 });
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
    close: () => new Promise((resolve) => server.httpServer.close(() => resolve())),
  };
}

const SECURE_SERVER = fileURLToPath(new URL('../peers/secure_xmlrpc_server.py', import.meta.url));

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
  const args = [SECURE_SERVER, '--cert', options.certFile, '--key', options.keyFile];
  if (options.clientCaFile) args.push('--client-ca', options.clientCaFile);
  if (options.basic) args.push('--basic', options.basic);
  if (options.bearerFile) args.push('--bearer-file', options.bearerFile);
  const child: ChildProcess = spawn('python3', args, { stdio: ['ignore', 'pipe', 'ignore'] });
  const log = new CallLog<SecureCall>();
  const refused = new CallLog<{ refused: string }>();
  const lines = createInterface({ input: child.stdout! });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`python TLS XML-RPC server exited with ${code}`)));
    lines.on('line', (line) => {
      const listening = /^listening (\d+)$/.exec(line);
      if (listening) return resolve(Number(listening[1]));
      const record = JSON.parse(line) as SecureCall | { refused: string };
      if ('refused' in record) refused.push(record);
      else log.push(record);
    });
  });
  return {
    port,
    log,
    refused,
    close: async () => {
      if (child.exitCode !== null) return;
      child.kill();
      await once(child, 'exit');
    },
  };
}
