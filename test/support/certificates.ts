// A CA made by the test, with the openssl CLI: server certificates (valid, for
// another name, expired), a client certificate, and a CA that signed none of them.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface KeyPair {
  /** PEM files on disk, for the server process. */
  certFile: string;
  keyFile: string;
  cert: string;
  key: string;
}

export interface TestPki {
  dir: string;
  caFile: string;
  ca: string;
  /** Another CA: it signed nothing the servers present. */
  otherCa: string;
  /** For localhost and 127.0.0.1. */
  server: KeyPair;
  /** For xmlrpc.voip.example only: reached by address, it needs spec.tls.serverName. */
  named: KeyPair;
  /** For localhost and 127.0.0.1, valid from 2020-01-01 to 2020-01-02. */
  expired: KeyPair;
  /** CN event-xmlrpc-operator, clientAuth. */
  client: KeyPair;
  close(): Promise<void>;
}

const CA_CONFIG = `[ca]
default_ca = test
[test]
dir = .
database = index.txt
serial = serial
new_certs_dir = issued
default_md = sha256
policy = any
copy_extensions = none
unique_subject = no
[any]
commonName = supplied
`;

/** P-256 keys: made in milliseconds, where an RSA key takes a quarter of a second of CPU. */
const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'];

export async function makePki(): Promise<TestPki> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'event-xmlrpc-pki-'));
  const openssl = (...args: string[]) =>
    run('openssl', args, { cwd: dir }).catch((err: Error) => {
      throw new Error(`openssl ${args[0]} failed (the TLS tests need the openssl CLI): ${err.message}`);
    });
  await writeFile(path.join(dir, 'ca.cnf'), CA_CONFIG);
  await writeFile(path.join(dir, 'index.txt'), '');
  await writeFile(path.join(dir, 'serial'), '1000\n');
  await run('mkdir', ['issued'], { cwd: dir });
  for (const name of ['ca', 'other-ca']) {
    await openssl('req', '-x509', ...EC_KEY, '-nodes', '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=event-xmlrpc test ${name}`);
  }
  const issue = async (name: string, cn: string, extensions: string, dates: string[]): Promise<KeyPair> => {
    await openssl('req', ...EC_KEY, '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
    await writeFile(path.join(dir, `${name}.ext`), `${extensions}\n`);
    await openssl('ca', '-batch', '-config', 'ca.cnf', '-cert', 'ca.crt', '-keyfile', 'ca.key', '-in', `${name}.csr`, '-out', `${name}.crt`, '-extfile', `${name}.ext`, '-notext', ...dates);
    const certFile = path.join(dir, `${name}.crt`);
    const keyFile = path.join(dir, `${name}.key`);
    return { certFile, keyFile, cert: await readFile(certFile, 'utf8'), key: await readFile(keyFile, 'utf8') };
  };
  const serverExt = (names: string) => `subjectAltName=${names}\nextendedKeyUsage=serverAuth`;
  const server = await issue('server', 'localhost', serverExt('DNS:localhost,IP:127.0.0.1'), ['-days', '2']);
  const named = await issue('named', 'xmlrpc.voip.example', serverExt('DNS:xmlrpc.voip.example'), ['-days', '2']);
  const expired = await issue('expired', 'localhost', serverExt('DNS:localhost,IP:127.0.0.1'), ['-startdate', '20200101000000Z', '-enddate', '20200102000000Z']);
  const client = await issue('client', 'event-xmlrpc-operator', 'extendedKeyUsage=clientAuth', ['-days', '2']);
  return {
    dir,
    caFile: path.join(dir, 'ca.crt'),
    ca: await readFile(path.join(dir, 'ca.crt'), 'utf8'),
    otherCa: await readFile(path.join(dir, 'other-ca.crt'), 'utf8'),
    server,
    named,
    expired,
    client,
    close: () => rm(dir, { recursive: true, force: true }),
  };
}
