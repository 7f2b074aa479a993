/**
 * Characters that XML 1.0 does not allow anywhere in a document, even escaped:
 * C0 controls other than TAB, LF and CR, lone surrogates, U+FFFE and U+FFFF.
 */
const FORBIDDEN = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/u;

/** Returns the first character XML 1.0 forbids, as `U+XXXX` with its index, or undefined. */
export function findForbiddenXmlChar(text: string): { codePoint: string; index: number } | undefined {
  const match = FORBIDDEN.exec(text);
  if (!match) return undefined;
  const code = match[0].codePointAt(0) ?? 0;
  return { codePoint: `U+${code.toString(16).toUpperCase().padStart(4, '0')}`, index: match.index };
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '\r': '&#13;' };

/**
 * XML character data that a parser decodes back to exactly `text`: every
 * `&`, `<` and `>` is escaped, whatever follows it (text that looks like an
 * entity or a character reference stays text), and CR, which is legal raw but
 * which parsers turn into LF, becomes `&#13;`. The text must hold no character
 * XML 1.0 forbids (see findForbiddenXmlChar).
 */
export function escapeXmlText(text: string): string {
  return text.replace(/[&<>\r]/g, (c) => ESCAPES[c]!);
}
