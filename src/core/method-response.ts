import { create } from 'xmlbuilder2';

export type MethodResponse =
  | { kind: 'success' }
  | { kind: 'fault'; faultCode?: number; faultString: string }
  /** Empty, not XML, or XML that is not a methodResponse: the HTTP status alone decides. */
  | { kind: 'unparsable'; reason: string };

interface DomNode {
  nodeType: number;
  nodeName: string;
  textContent: string | null;
  childNodes: ArrayLike<DomNode>;
}

const ELEMENT_NODE = 1;

/** Reads an XML-RPC methodResponse far enough to tell a `<fault>` from a result. */
export function parseMethodResponse(body: string): MethodResponse {
  if (body.trim() === '') return { kind: 'unparsable', reason: 'empty body' };
  if (!body.trimStart().startsWith('<')) return { kind: 'unparsable', reason: 'not XML' };
  let root: DomNode | undefined;
  try {
    const doc = create(body).node as unknown as DomNode;
    root = elements(doc)[0];
  } catch (err) {
    return { kind: 'unparsable', reason: `not XML: ${(err as Error).message.split('\n')[0]}` };
  }
  if (root?.nodeName !== 'methodResponse') {
    return { kind: 'unparsable', reason: `root element is <${root?.nodeName ?? ''}>, not <methodResponse>` };
  }
  // The parser is lenient about unclosed elements; a cut-off response is not a result.
  if (!/<\/methodResponse\s*>\s*$/.test(body)) return { kind: 'unparsable', reason: 'truncated methodResponse' };
  const fault = child(root, 'fault');
  if (!fault) return { kind: 'success' };

  const members = new Map<string, DomNode>();
  const struct = child(child(fault, 'value'), 'struct');
  for (const member of elements(struct).filter((n) => n.nodeName === 'member')) {
    const name = child(member, 'name')?.textContent?.trim();
    const value = child(member, 'value');
    if (name && value) members.set(name, value);
  }
  const code = scalar(members.get('faultCode'));
  const text = scalar(members.get('faultString')) ?? '';
  if (code !== undefined && /^-?\d+$/.test(code.trim())) {
    return { kind: 'fault', faultCode: Number(code.trim()), faultString: text };
  }
  return { kind: 'fault', faultString: code === undefined ? text : `${code}: ${text}` };
}

function elements(node: DomNode | undefined): DomNode[] {
  return node ? Array.from(node.childNodes).filter((n) => n.nodeType === ELEMENT_NODE) : [];
}

function child(node: DomNode | undefined, name: string): DomNode | undefined {
  return elements(node).find((n) => n.nodeName === name);
}

/** The text of an XML-RPC `<value>`: typed (`<int>`, `<string>`, ...) or bare text, which means string. */
function scalar(value: DomNode | undefined): string | undefined {
  if (!value) return undefined;
  const typed = elements(value)[0];
  return (typed ?? value).textContent ?? '';
}
