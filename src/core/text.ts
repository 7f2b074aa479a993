/** Server-supplied and free text kept in objects is cut here: status must stay far below the object size limit. */
export const MAX_TEXT = 1024;

export function truncate(text: string, max = MAX_TEXT): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
