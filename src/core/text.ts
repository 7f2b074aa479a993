/** Server-supplied and free text kept in objects is cut here: status must stay far below the object size limit. */
export const MAX_TEXT = 1024;

const ELLIPSIS = '…';

/** At most `max` UTF-16 units, ending in … when cut; never splits a surrogate pair. */
export function truncate(text: string, max = MAX_TEXT): string {
  if (text.length <= max) return text;
  let end = max - 1;
  if (isHighSurrogate(text.charCodeAt(end - 1))) end--;
  return text.slice(0, end) + ELLIPSIS;
}

/**
 * At most `maxBytes` bytes of UTF-8, ending in … when cut, for fields the API
 * server measures in bytes (an Event's note). The work is bounded by
 * `maxBytes`, not by the length of `text`.
 */
export function truncateUtf8(text: string, maxBytes: number): string {
  if (text.length * 3 <= maxBytes) return text;
  const encoder = new TextEncoder();
  const whole = encoder.encodeInto(text, new Uint8Array(maxBytes + 1));
  if (whole.read === text.length && whole.written <= maxBytes) return text;
  // encodeInto stops before a character that does not fit, so no code point is split.
  const { read } = encoder.encodeInto(text, new Uint8Array(maxBytes - encoder.encode(ELLIPSIS).length));
  return text.slice(0, read) + ELLIPSIS;
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}
