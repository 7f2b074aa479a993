import { findForbiddenXmlChar } from './xml-text.js';

/** One named or unnamed event parameter: exactly one of `string` or `int`. */
export interface EventParam {
  name?: string;
  string?: string;
  int?: number;
}

export const INT32_MIN = -2_147_483_648;
export const INT32_MAX = 2_147_483_647;
export const EVENT_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
export const PARAM_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
/** Sum of every param's name and value length; OpenSIPS caps at 8192 bytes, we allow more. */
export const MAX_PARAMS_BYTES = 65_536;

/**
 * Checks what admission should already have refused, so that an object that
 * slipped past an older schema fails with a message instead of a bad request.
 * Returns one message per problem; empty when the event can be encoded.
 */
export function validateEvent(event: string, params: readonly EventParam[]): string[] {
  const problems: string[] = [];
  if (!EVENT_NAME.test(event)) problems.push(`event name "${event}" must be 1..64 characters of A-Z a-z 0-9 _ . -`);
  let bytes = 0;
  params.forEach((param, i) => {
    const where = `params[${i}]${param.name ? ` (${param.name})` : ''}`;
    if (param.name !== undefined) {
      bytes += Buffer.byteLength(param.name);
      if (!PARAM_NAME.test(param.name)) problems.push(`${where}: name must be 1..64 characters of A-Z a-z 0-9 _ . -`);
    }
    const hasString = typeof param.string === 'string';
    const hasInt = param.int !== undefined && param.int !== null;
    if (hasString === hasInt) {
      problems.push(`${where}: must set exactly one of "string" or "int"`);
      return;
    }
    if (hasString) {
      bytes += Buffer.byteLength(param.string!);
      const bad = findForbiddenXmlChar(param.string!);
      if (bad) problems.push(`${where}: string holds ${bad.codePoint} at index ${bad.index}, which XML 1.0 forbids`);
    } else if (!Number.isInteger(param.int) || param.int! < INT32_MIN || param.int! > INT32_MAX) {
      problems.push(`${where}: int ${param.int} is outside the signed 32-bit range`);
    }
  });
  if (bytes > MAX_PARAMS_BYTES) problems.push(`params hold ${bytes} bytes, over the ${MAX_PARAMS_BYTES}-byte limit`);
  return problems;
}
