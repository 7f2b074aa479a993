import { INT32_MAX, INT32_MIN } from './event-params.js';
import { findForbiddenXmlChar } from './xml-text.js';

export type MethodResponse =
  | { kind: 'success' }
  | { kind: 'fault'; faultCode?: number; faultString: string }
  /** Empty, binary, not XML, nested too deep, or XML that is not a methodResponse: the HTTP status alone decides. */
  | { kind: 'unparsable'; reason: string };

/**
 * Elements nested deeper than this make a response unparsable. A fault is 7
 * levels deep (methodResponse, fault, value, struct, member, value, string);
 * results nest as deep as the server's data, which for a notification is a
 * boolean or a string.
 */
export const MAX_RESPONSE_DEPTH = 32;

// The path of a fault member's parts; deeper or other elements are skipped.
const FAULT_PATH = ['methodResponse', 'fault', 'value', 'struct', 'member'] as const;
const MEMBER = FAULT_PATH.length;

interface Member {
  name: string[];
  /** Text directly inside <value>: an untyped value, which means string. */
  bare: string[];
  /** Text inside the first element of <value>: <int>, <string>, ... */
  typed: string[];
  isTyped: boolean;
}

const NAME = /[A-Za-z_:][-A-Za-z0-9_:.]*/y;
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/**
 * Reads an XML-RPC methodResponse far enough to tell a `<fault>` from a
 * result. A single pass over the text, without building a tree: its time is
 * linear in the length of the body, its memory is the body's plus a stack of
 * at most MAX_RESPONSE_DEPTH names, and no input makes it backtrack. It is a
 * scanner for this one document type, not a validating XML parser: markup it
 * does not need (attributes, processing instructions, comments) is skipped,
 * and a DOCTYPE, which a methodResponse never has, makes the body unparsable
 * (no entity can be defined, so none can expand).
 */
export function parseMethodResponse(body: string | Uint8Array): MethodResponse {
  let text: string;
  if (typeof body === 'string') text = body;
  else {
    try {
      text = UTF8.decode(body);
    } catch {
      return { kind: 'unparsable', reason: 'binary body: not UTF-8 text' };
    }
  }
  return new Scanner(text).run();
}

class Scanner {
  private i = 0;
  private readonly stack: string[] = [];
  /** Per open element: it lies on the path of a fault's members. */
  private readonly onPath: boolean[] = [];
  private rootSeen = false;
  private faultSeen = false;
  private readonly members: Member[] = [];
  private member: Member | undefined;
  /** The open child of the current member: its <name> or its <value>. */
  private part: 'name' | 'value' | undefined;
  /** The first child element of the current member's <value> is open. */
  private typedOpen = false;

  constructor(private readonly s: string) {}

  run(): MethodResponse {
    const s = this.s;
    if (s.trim() === '') return unparsable('empty body');
    const forbidden = findForbiddenXmlChar(s);
    if (forbidden) return unparsable(`binary body: ${forbidden.codePoint} at offset ${forbidden.index}, which XML forbids`);
    if (s.charCodeAt(0) === 0xfeff) this.i = 1;
    const first = /\S/g;
    first.lastIndex = this.i;
    if (s[first.exec(s)?.index ?? 0] !== '<') return unparsable('not XML');

    while (this.i < s.length) {
      const problem = s[this.i] === '<' ? this.markup() : this.text();
      if (problem !== undefined) return problem;
    }
    if (!this.rootSeen) return unparsable('not XML: no root element');
    if (this.stack.length > 0) return unparsable('truncated methodResponse');
    return this.faultSeen ? this.fault() : { kind: 'success' };
  }

  private markup(): MethodResponse | undefined {
    const s = this.s;
    if (s.startsWith('<?', this.i)) return this.skipPast('?>');
    if (s.startsWith('<!--', this.i)) return this.skipPast('-->');
    if (s.startsWith('<![CDATA[', this.i)) {
      const end = s.indexOf(']]>', this.i + 9);
      if (end < 0) return unparsable('truncated methodResponse');
      if (this.stack.length === 0) return unparsable('not XML: CDATA outside the root element');
      this.capture(s.slice(this.i + 9, end));
      this.i = end + 3;
      return undefined;
    }
    if (s.startsWith('<!', this.i)) return unparsable('not XML-RPC: a DOCTYPE or declaration');
    if (s.startsWith('</', this.i)) return this.endTag();
    return this.startTag();
  }

  private startTag(): MethodResponse | undefined {
    const s = this.s;
    NAME.lastIndex = this.i + 1;
    const name = NAME.exec(s)?.[0];
    if (name === undefined) return unparsable(`not XML: "<" not followed by a name at offset ${this.i}`);
    // Attributes: skipped, quoted values jumped over whole.
    let j = this.i + 1 + name.length;
    for (;;) {
      if (j >= s.length) return unparsable('truncated methodResponse');
      const c = s[j];
      if (c === '"' || c === "'") {
        const close = s.indexOf(c, j + 1);
        if (close < 0) return unparsable('truncated methodResponse');
        j = close + 1;
      } else if (c === '>' || c === '<') break;
      else j++;
    }
    if (s[j] === '<') return unparsable(`not XML: unclosed tag <${name}> at offset ${this.i}`);
    const selfClosing = s[j - 1] === '/';
    this.i = j + 1;

    if (this.stack.length === 0) {
      if (this.rootSeen) return unparsable('not XML: a second root element');
      if (name !== 'methodResponse') return unparsable(`root element is <${name}>, not <methodResponse>`);
      this.rootSeen = true;
    }
    if (this.stack.length === MAX_RESPONSE_DEPTH) return unparsable(`elements nested deeper than ${MAX_RESPONSE_DEPTH} levels`);
    this.open(name);
    if (selfClosing) this.close();
    return undefined;
  }

  private endTag(): MethodResponse | undefined {
    const s = this.s;
    NAME.lastIndex = this.i + 2;
    const name = NAME.exec(s)?.[0];
    const close = s.indexOf('>', this.i + 2);
    if (close < 0) return unparsable('truncated methodResponse');
    if (name === undefined || s.slice(this.i + 2 + name.length, close).trim() !== '') {
      return unparsable(`not XML: malformed end tag at offset ${this.i}`);
    }
    const open = this.stack.at(-1);
    if (open !== name) return unparsable(`not XML: </${name}> closes <${open ?? 'nothing'}>`);
    this.i = close + 1;
    this.close();
    return undefined;
  }

  private text(): MethodResponse | undefined {
    const s = this.s;
    let end = s.indexOf('<', this.i);
    if (end < 0) end = s.length;
    const text = s.slice(this.i, end);
    if (this.stack.length === 0 && text.trim() !== '') return unparsable('not XML: text outside the root element');
    this.capture(text, true);
    this.i = end;
    return undefined;
  }

  private skipPast(terminator: string): MethodResponse | undefined {
    const end = this.s.indexOf(terminator, this.i + 2);
    if (end < 0) return unparsable('truncated methodResponse');
    this.i = end + terminator.length;
    return undefined;
  }

  /** Tracks the one path a fault's members are read from: methodResponse/fault/value/struct/member. */
  private open(name: string): void {
    const parentOnPath = this.onPath.at(-1) ?? true;
    const depth = this.stack.push(name);
    const onPath = parentOnPath && depth <= MEMBER && FAULT_PATH[depth - 1] === name;
    this.onPath.push(onPath);
    if (onPath && depth === 2) this.faultSeen = true;
    if (onPath && depth === MEMBER) {
      this.member = { name: [], bare: [], typed: [], isTyped: false };
      this.members.push(this.member);
    } else if (this.member && depth === MEMBER + 1) {
      this.part = name === 'name' || name === 'value' ? name : undefined;
    } else if (this.member && depth === MEMBER + 2 && this.part === 'value' && !this.member.isTyped) {
      this.member.isTyped = true;
      this.typedOpen = true;
    }
  }

  private close(): void {
    const depth = this.stack.length;
    if (depth === MEMBER + 2) this.typedOpen = false;
    else if (depth === MEMBER + 1) this.part = undefined;
    else if (depth === MEMBER) this.member = undefined;
    this.stack.pop();
    this.onPath.pop();
  }

  private capture(text: string, escaped = false): void {
    const member = this.member;
    if (!member || this.part === undefined) return;
    const depth = this.stack.length;
    const into =
      depth === MEMBER + 1 ? (this.part === 'name' ? member.name : member.bare) : depth === MEMBER + 2 && this.part === 'value' && this.typedOpen ? member.typed : undefined;
    into?.push(escaped ? decodeEntities(text) : text);
  }

  private fault(): MethodResponse {
    const values = new Map<string, string>();
    for (const m of this.members) {
      const name = m.name.join('').trim();
      if (name) values.set(name, (m.isTyped ? m.typed : m.bare).join(''));
    }
    const code = values.get('faultCode')?.trim();
    const text = values.get('faultString') ?? '';
    if (code !== undefined && /^-?\d{1,10}$/.test(code)) {
      const n = Number(code);
      if (n >= INT32_MIN && n <= INT32_MAX) return { kind: 'fault', faultCode: n, faultString: text };
    }
    return { kind: 'fault', faultString: code === undefined ? text : `${code}: ${text}` };
  }
}

function unparsable(reason: string): MethodResponse {
  return { kind: 'unparsable', reason };
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** The predefined entities and character references; anything else is left as written. */
function decodeEntities(text: string): string {
  if (!text.includes('&')) return text;
  return text.replace(/&(?:([a-z]{2,4})|#([0-9]{1,7})|#x([0-9A-Fa-f]{1,6}));/g, (whole, name?: string, dec?: string, hex?: string) => {
    if (name !== undefined) return ENTITIES[name] ?? whole;
    const code = dec !== undefined ? Number(dec) : parseInt(hex!, 16);
    return code <= 0x10ffff && findForbiddenXmlChar(String.fromCodePoint(code)) === undefined ? String.fromCodePoint(code) : whole;
  });
}
