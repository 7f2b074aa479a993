import { createHash } from 'node:crypto';

/** Event names are DNS-1123 subdomains, as every object name. */
export const MAX_EVENT_NAME = 253;
const HASH_CHARS = 10;

/**
 * The name of an Event about `objectName`: `<objectName>.<unique>`, as
 * client-go names them. An object name too long for that (a Subscriber may
 * have 253 characters) is cut and followed by a hash of the whole name, so
 * the Events of two long names that share their beginning still tell them
 * apart; the result is a valid name for every valid object name.
 */
export function eventName(objectName: string, unique: string): string {
  const suffix = `.${unique}`;
  if (objectName.length + suffix.length <= MAX_EVENT_NAME) return objectName + suffix;
  const hash = createHash('sha256').update(objectName).digest('hex').slice(0, HASH_CHARS);
  const room = MAX_EVENT_NAME - suffix.length - HASH_CHARS - 1;
  // A label may not end in '-', and '.' must not be doubled.
  const prefix = objectName.slice(0, room).replace(/[-.]+$/, '');
  return `${prefix}.${hash}${suffix}`;
}
