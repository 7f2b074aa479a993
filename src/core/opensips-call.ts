import { isUtf8 } from 'node:buffer';
import { EVENT_NAME, INT32_MAX, INT32_MIN, MAX_PARAMS_BYTES, PARAM_NAME, type EventParam } from './event-params.js';

/** The largest request body a relay reads; OpenSIPS's own bodies stay under 8.5 KB. */
export const MAX_BODY_BYTES = 131_072;
/** As for an EventRaise: params after the event name, characters per string value. */
export const MAX_PARAMS = 64;
export const MAX_STRING_CHARS = 8192;
const MAX_METHOD_CHARS = 256;
const MAX_INT_CHARS = 32;

/** One event as a relay received it: the methodCall's first param is the event name, the others its params. */
export interface RelayedCall {
  method: string;
  event: string;
  params: EventParam[];
  /** Values holding bytes XML cannot carry (invalid UTF-8, characters XML 1.0 forbids), each replaced by U+FFFD. */
  repaired: number;
}

export type CallProblem = 'Malformed' | 'TooLarge' | 'Unsupported';
export type ParsedCall = { ok: true; call: RelayedCall } | { ok: false; reason: CallProblem; message: string };

export interface ParseOptions {
  /**
   * Text as OpenSIPS writes it: it escapes nothing, so `&` and `<` in a value are
   * themselves and CR is kept. Otherwise text follows XML: the five entities and
   * character references are decoded and line ends become LF.
   */
  raw: boolean;
}

/** OpenSIPS event_xmlrpc's User-Agent, hard-coded in its sender. */
export const OPENSIPS_USER_AGENT = 'OpenSIPS XMLRPC Notifier';

class Refusal extends Error {
  constructor(
    readonly reason: CallProblem,
    message: string,
  ) {
    super(message);
  }
}

const REPLACEMENT = '\uFFFD';
// XML 1.0 Char minus what a string may not hold even escaped (xml-text.ts, as a global replace).
const FORBIDDEN = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/gu;
const ENTITY = /&(?:(amp|lt|gt|quot|apos)|#([0-9]{1,7})|#x([0-9A-Fa-f]{1,6}));/g;
const NAMED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
const UNSUPPORTED_TYPES = new Set(['boolean', 'double', 'array', 'base64', 'dateTime.iso8601', 'nil', 'i8', 'ex:nil', 'ex:i8']);

/**
 * Reads one XML-RPC methodCall as OpenSIPS event_xmlrpc sends it, defects
 * included, and as a well-behaved XML-RPC client sends it: both OpenSIPS
 * layouts (`<name>` inside `<param>`, or one struct per named param; a
 * struct of several members gives several named params), unnamed params,
 * `<string>`, `<int>`, `<i4>` and untyped values, negative ints printed as
 * unsigned 64-bit numbers.
 *
 * OpenSIPS escapes nothing, so a string value is everything up to the
 * `</string>` that `</value>` follows; `<` and `&` inside it are text. One
 * pass over the body, each byte looked at a bounded number of times; no
 * nesting beyond a struct in a param; sizes and counts as for an EventRaise.
 */
export function parseOpenSipsCall(body: Buffer, options: ParseOptions): ParsedCall {
  if (body.length > MAX_BODY_BYTES) return { ok: false, reason: 'TooLarge', message: `body of ${body.length} bytes is over the ${MAX_BODY_BYTES}-byte limit` };
  try {
    return { ok: true, call: new Reader(body, options).methodCall() };
  } catch (err) {
    if (err instanceof Refusal) return { ok: false, reason: err.reason, message: err.message };
    throw err;
  }
}

/** A scalar value: text, or an int already range-checked. */
type Scalar = { string: string } | { int: number };

class Reader {
  /** The body as Latin-1: one character per byte, so indexes are byte offsets and tags are plain ASCII. */
  private readonly text: string;
  private pos = 0;
  private repaired = 0;
  private bytes = 0;

  constructor(
    private readonly body: Buffer,
    private readonly options: ParseOptions,
  ) {
    this.text = body.toString('latin1');
  }

  methodCall(): RelayedCall {
    this.misc();
    if (this.text.startsWith('<?xml', this.pos)) {
      const end = this.text.indexOf('?>', this.pos);
      if (end < 0) throw malformed('the XML declaration is not closed');
      this.pos = end + 2;
    }
    this.misc();
    this.open('methodCall');
    this.misc();
    this.open('methodName');
    const method = this.until('</methodName>', MAX_METHOD_CHARS, 'methodName').trim();
    this.misc();
    const values: Array<{ name?: string; value: Scalar }> = [];
    let first: Scalar | undefined;
    if (this.emptyElement('params')) {
      // no params at all
    } else if (this.tryOpen('params')) {
      for (this.misc(); !this.tryClose('params'); this.misc()) {
        this.open('param');
        this.misc();
        const name = this.tryOpen('name') ? this.name('</name>') : undefined;
        this.misc();
        const value = this.value(first === undefined ? 'event' : 'param');
        if (first === undefined) {
          if (name !== undefined || !('string' in value.scalar) || value.members) {
            throw malformed('the first param must be the event name, an unnamed string');
          }
          first = value.scalar;
        } else if (value.members) {
          for (const member of value.members) this.add(values, member);
        } else {
          this.add(values, name === undefined ? { value: value.scalar } : { name, value: value.scalar });
        }
        this.misc();
        this.close('param');
      }
    }
    this.misc();
    this.close('methodCall');
    this.misc();
    if (this.pos !== this.text.length) throw malformed(`unexpected text after </methodCall> at byte ${this.pos}`);
    if (first === undefined || !('string' in first)) throw malformed('no params: the first param must be the event name');
    const event = first.string;
    if (!EVENT_NAME.test(event)) throw malformed(`event name "${clip(event)}" must be 1..64 characters of A-Z a-z 0-9 _ . -`);
    const params = values.map(({ name, value }) => ({ ...(name === undefined ? {} : { name }), ...value }));
    return { method, event, params, repaired: this.repaired };
  }

  private add(values: Array<{ name?: string; value: Scalar }>, entry: { name?: string; value: Scalar }): void {
    if (values.length >= MAX_PARAMS) throw new Refusal('TooLarge', `more than ${MAX_PARAMS} params after the event name`);
    this.bytes += Buffer.byteLength(entry.name ?? '') + ('string' in entry.value ? Buffer.byteLength(entry.value.string) : 0);
    if (this.bytes > MAX_PARAMS_BYTES) throw new Refusal('TooLarge', `params hold over ${MAX_PARAMS_BYTES} bytes`);
    values.push(entry);
  }

  /**
   * After `<value>` (or a `<value/>`): a typed or untyped scalar, or, in a
   * param, a struct whose members become named params.
   */
  private value(where: 'event' | 'param' | 'member'): { scalar: Scalar; members?: Array<{ name: string; value: Scalar }> } {
    if (this.emptyElement('value')) return { scalar: { string: '' } };
    this.open('value');
    const start = this.pos;
    this.misc();
    if (this.text.startsWith('</value', this.pos)) {
      const scalar = { string: this.string(start, this.pos) };
      this.close('value');
      return { scalar };
    }
    if (this.text[this.pos] !== '<') {
      // Untyped: the text up to </value> is a string.
      const end = this.text.indexOf('</value>', start);
      if (end < 0) throw malformed('a <value> is not closed');
      this.pos = end;
      const scalar = { string: this.string(start, end) };
      this.close('value');
      return { scalar };
    }
    let scalar: Scalar;
    let members: Array<{ name: string; value: Scalar }> | undefined;
    if (this.emptyElement('string')) scalar = { string: '' };
    else if (this.tryOpen('string')) scalar = { string: this.stringContent() };
    else if (this.tryOpen('int')) scalar = this.int('</int>');
    else if (this.tryOpen('i4')) scalar = this.int('</i4>');
    else if (this.tryOpen('struct')) {
      if (where !== 'param') throw new Refusal('Unsupported', where === 'event' ? 'the first param must be the event name, not a struct' : 'a struct inside a struct');
      members = this.members();
      scalar = { string: '' };
    } else {
      const tag = /^<([A-Za-z][A-Za-z0-9_.:-]{0,31})/.exec(this.text.slice(this.pos, this.pos + 34))?.[1];
      if (tag && UNSUPPORTED_TYPES.has(tag)) throw new Refusal('Unsupported', `a <${tag}> value: events carry only <string> and <int> values`);
      throw malformed(`unexpected ${tag ? `<${tag}>` : 'markup'} in a <value> at byte ${this.pos}`);
    }
    this.misc();
    this.close('value');
    return members ? { scalar, members } : { scalar };
  }

  /** After `<struct>`: its members, up to `</struct>`. */
  private members(): Array<{ name: string; value: Scalar }> {
    const members: Array<{ name: string; value: Scalar }> = [];
    for (this.misc(); !this.tryClose('struct'); this.misc()) {
      if (members.length >= MAX_PARAMS) throw new Refusal('TooLarge', `a struct of more than ${MAX_PARAMS} members`);
      this.open('member');
      this.misc();
      this.open('name');
      const name = this.name('</name>');
      this.misc();
      const { scalar } = this.value('member');
      this.misc();
      this.close('member');
      members.push({ name, value: scalar });
    }
    return members;
  }

  /**
   * After `<string>`: the text up to the first `</string>` that `</value>`
   * follows (OpenSIPS leaves `<` unescaped, so an earlier `</string>` may be text).
   */
  private stringContent(): string {
    const start = this.pos;
    for (let from = start; ; ) {
      const end = this.text.indexOf('</string>', from);
      if (end < 0) throw malformed('a <string> is not closed by </string></value>');
      let after = end + 9;
      while (after < this.text.length && isSpace(this.text.charCodeAt(after))) after++;
      if (this.text.startsWith('</value', after)) {
        this.pos = end + 9;
        return this.string(start, end);
      }
      from = end + 1;
    }
  }

  /** The bytes [start, end) as a string value. */
  private string(start: number, end: number): string {
    if (end - start > MAX_STRING_CHARS * 4) throw new Refusal('TooLarge', `a string value over ${MAX_STRING_CHARS} characters`);
    let value = this.decode(start, end);
    if (!this.options.raw) value = decodeEntities(value.replace(/\r\n?/g, '\n'));
    const clean = value.replace(FORBIDDEN, REPLACEMENT);
    if (clean !== value) {
      value = clean;
      this.repaired++;
    }
    if (value.length > MAX_STRING_CHARS) throw new Refusal('TooLarge', `a string value over ${MAX_STRING_CHARS} characters`);
    return value;
  }

  /** UTF-8 text; invalid sequences become U+FFFD, and the value counts as repaired. */
  private decode(start: number, end: number): string {
    const bytes = this.body.subarray(start, end);
    if (isUtf8(bytes)) return bytes.toString('utf8');
    this.repaired++;
    return new TextDecoder('utf-8', { fatal: false }).decode(bytes).replace(FORBIDDEN, REPLACEMENT);
  }

  private name(close: string): string {
    const raw = this.until(close, 256, 'name');
    const name = this.options.raw ? raw : decodeEntities(raw.trim());
    if (!PARAM_NAME.test(name)) {
      throw malformed(`param name "${clip(name)}" must be 1..64 characters of A-Z a-z 0-9 _ . -`);
    }
    return name;
  }

  /** After `<int>` or `<i4>`: a signed 32-bit int, or one OpenSIPS printed as unsigned 64-bit. */
  private int(close: string): Scalar {
    const text = this.until(close, MAX_INT_CHARS, 'int').trim();
    if (!/^[+-]?[0-9]{1,20}$/.test(text)) throw malformed(`int "${clip(text)}" is not a decimal number`);
    let value = BigInt(text);
    // OpenSIPS prints an int sign-extended to 64 bits and unsigned: -1 is 18446744073709551615.
    if (value >= 2n ** 64n - 2n ** 31n && value < 2n ** 64n) value -= 2n ** 64n;
    if (value < BigInt(INT32_MIN) || value > BigInt(INT32_MAX)) throw malformed(`int ${text} is outside the signed 32-bit range`);
    return { int: Number(value) };
  }

  /** The text up to `close` (at most `max` bytes), and past it. */
  private until(close: string, max: number, what: string): string {
    const end = this.text.indexOf(close, this.pos);
    if (end < 0 || end - this.pos > max) throw malformed(end < 0 ? `a <${what}> is not closed` : `a <${what}> over ${max} bytes`);
    const raw = this.body.toString('utf8', this.pos, end);
    this.pos = end + close.length;
    return raw;
  }

  /** Skips whitespace, comments and processing instructions; refuses a DOCTYPE (no entity definitions). */
  private misc(): void {
    for (;;) {
      while (this.pos < this.text.length && isSpace(this.text.charCodeAt(this.pos))) this.pos++;
      if (this.text.startsWith('<!--', this.pos)) {
        const end = this.text.indexOf('-->', this.pos + 4);
        if (end < 0) throw malformed('a comment is not closed');
        this.pos = end + 3;
      } else if (this.text.startsWith('<?', this.pos) && !this.text.startsWith('<?xml ', this.pos)) {
        const end = this.text.indexOf('?>', this.pos + 2);
        if (end < 0) throw malformed('a processing instruction is not closed');
        this.pos = end + 2;
      } else if (this.text.startsWith('<!', this.pos)) {
        throw new Refusal('Unsupported', 'a DOCTYPE or CDATA section');
      } else return;
    }
  }

  private tryOpen(tag: string): boolean {
    return this.tag(`<${tag}`, '>');
  }

  private tryClose(tag: string): boolean {
    return this.tag(`</${tag}`, '>');
  }

  private emptyElement(tag: string): boolean {
    return this.tag(`<${tag}`, '/>');
  }

  /** `<tag` (or `</tag`) with optional whitespace before `end`. */
  private tag(start: string, end: string): boolean {
    if (!this.text.startsWith(start, this.pos)) return false;
    let at = this.pos + start.length;
    while (at < this.text.length && isSpace(this.text.charCodeAt(at))) at++;
    if (!this.text.startsWith(end, at)) return false;
    this.pos = at + end.length;
    return true;
  }

  private open(tag: string): void {
    if (!this.tryOpen(tag)) throw malformed(`expected <${tag}> at byte ${this.pos}`);
  }

  private close(tag: string): void {
    if (!this.tryClose(tag)) throw malformed(`expected </${tag}> at byte ${this.pos}`);
  }
}

function malformed(message: string): Refusal {
  return new Refusal('Malformed', message);
}

function isSpace(code: number): boolean {
  return code === 0x20 || code === 0x0a || code === 0x0d || code === 0x09;
}

/** The five XML entities and character references; any other `&` is kept as it is. */
function decodeEntities(text: string): string {
  if (!text.includes('&')) return text;
  return text.replace(ENTITY, (whole, named: string | undefined, dec: string | undefined, hex: string | undefined) => {
    if (named) return NAMED[named]!;
    const code = dec !== undefined ? Number(dec) : parseInt(hex!, 16);
    return code <= 0x10ffff ? String.fromCodePoint(code) : whole;
  });
}

function clip(text: string): string {
  const cut = text.length > 64 ? `${text.slice(0, 64)}…` : text;
  return cut.replace(/[\u0000-\u001F\u007F]/g, '?');
}
