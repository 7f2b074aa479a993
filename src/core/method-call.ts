import { create } from 'xmlbuilder2';
import type { XMLBuilder } from 'xmlbuilder2/lib/interfaces.js';
import { validateEvent, type EventParam } from './event-params.js';

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
 * OpenSIPS, text is escaped, and CR survives the round trip as `&#13;`.
 */
export function encodeMethodCall(call: MethodCall): string {
  const problems = validateEvent(call.event, call.params);
  if (problems.length > 0) throw new InvalidEventError(problems);

  const root = create().ele('methodCall');
  root.txt('\n').ele('methodName').txt(call.method).up().txt('\n');
  const params = root.ele('params').txt('\n');
  appendParam(params, (param) => typedValue(param, { string: call.event }));
  for (const p of call.params) {
    if (p.name !== undefined && call.useStructParam) {
      appendParam(params, (param) => {
        const member = param.ele('value').ele('struct').ele('member').txt('\n');
        member.ele('name').txt(p.name!).up().txt('\n');
        typedValue(member, p);
        member.txt('\n');
      });
    } else {
      appendParam(params, (param) => {
        if (p.name !== undefined) param.ele('name').txt(p.name).up().txt('\n');
        typedValue(param, p);
      });
    }
  }
  root.txt('\n');
  // xmlbuilder2 escapes & < >; CR is legal raw but parsers turn it into LF.
  return DECLARATION + root.end({ headless: true }).replaceAll('\r', '&#13;');
}

function appendParam(params: XMLBuilder, fill: (param: XMLBuilder) => void): void {
  const param = params.ele('param').txt('\n');
  fill(param);
  param.txt('\n');
  params.txt('\n');
}

function typedValue(parent: XMLBuilder, param: EventParam): void {
  const value = parent.ele('value');
  if (typeof param.string === 'string') value.ele('string').txt(param.string);
  else value.ele('int').txt(String(param.int));
}
