import { validateEvent, type EventParam } from './event-params.js';
import { escapeXmlText } from './xml-text.js';

export interface MethodCall {
  method: string;
  event: string;
  params: readonly EventParam[];
  /** OpenSIPS use_struct_param: each named param becomes its own one-member struct. */
  useStructParam: boolean;
}

export class InvalidEventError extends Error {
  override readonly name = 'InvalidEventError';
  constructor(readonly problems: string[]) {
    super(problems.join('; '));
  }
}

// OpenSIPS writes the declaration with no encoding and a bare LF after it.
const DECLARATION = '<?xml version="1.0"?>\n';

/**
 * Encodes an event as the XML-RPC methodCall OpenSIPS event_xmlrpc sends:
 * the same elements and the same line breaks (bare LF, no indentation, none
 * after the root), so servers written for OpenSIPS parse it unchanged. Unlike
 * OpenSIPS, every text is escaped (see escapeXmlText), so the server decodes
 * exactly the method, event name and params given here.
 *
 * The layout is fixed and small, so it is written directly: a generic XML
 * builder would add nothing but its own escaping rules.
 */
export function encodeMethodCall(call: MethodCall): string {
  const problems = validateEvent(call.event, call.params);
  if (problems.length > 0) throw new InvalidEventError(problems);
  // The method comes from a socket the schema limits to A-Z a-z 0-9 _ . : /; escaped anyway.
  const parts = [DECLARATION, '<methodCall>\n<methodName>', escapeXmlText(call.method), '</methodName>\n<params>\n'];
  parts.push(param(value({ string: call.event })));
  for (const p of call.params) {
    const name = p.name === undefined ? undefined : `<name>${escapeXmlText(p.name)}</name>\n`;
    if (name === undefined) parts.push(param(value(p)));
    else if (call.useStructParam) parts.push(param(`<value><struct><member>\n${name}${value(p)}\n</member></struct></value>`));
    else parts.push(param(name + value(p)));
  }
  parts.push('</params>\n</methodCall>');
  return parts.join('');
}

function param(content: string): string {
  return `<param>\n${content}\n</param>\n`;
}

function value(p: EventParam): string {
  return typeof p.string === 'string'
    ? `<value><string>${escapeXmlText(p.string)}</string></value>`
    : `<value><int>${String(p.int)}</int></value>`;
}
