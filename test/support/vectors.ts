import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Requests captured from OpenSIPS 3.5.9, byte for byte (see the README beside them). */
export const VECTORS_DIR = fileURLToPath(new URL('../fixtures/opensips-vectors/', import.meta.url));

export interface RawRequest {
  requestLine: string;
  /** Header lines exactly as sent, in order. */
  headerLines: string[];
  /** Lower-cased names to values. */
  headers: Map<string, string>;
  body: Buffer;
}

export function parseRawRequest(raw: Buffer): RawRequest {
  const end = raw.indexOf('\r\n\r\n');
  if (end < 0) throw new Error('no end of headers in request');
  const [requestLine = '', ...headerLines] = raw.subarray(0, end).toString('latin1').split('\r\n');
  const headers = new Map(
    headerLines.map((line) => {
      const colon = line.indexOf(':');
      return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()] as const;
    }),
  );
  return { requestLine, headerLines, headers, body: raw.subarray(end + 4) };
}

export function readVector(file: string): RawRequest | undefined {
  let raw: Buffer;
  try {
    raw = readFileSync(VECTORS_DIR + file);
  } catch {
    return undefined;
  }
  return parseRawRequest(raw);
}

readVector.list = (): string[] => readdirSync(VECTORS_DIR).filter((f) => f.endsWith('.raw')).sort();
