/** Why a relay did not keep an event, with the HTTP status and XML-RPC faultCode of its answer. */
export const RELAY_FAULTS = {
  UnknownPath: { httpStatus: 404, faultCode: -32601 },
  MethodNotAllowed: { httpStatus: 405, faultCode: -32600 },
  TooLarge: { httpStatus: 413, faultCode: -32600 },
  Malformed: { httpStatus: 400, faultCode: -32700 },
  Unsupported: { httpStatus: 400, faultCode: -32602 },
  NotAccepted: { httpStatus: 403, faultCode: -32602 },
  QueueFull: { httpStatus: 503, faultCode: -32400 },
  StoreFailed: { httpStatus: 503, faultCode: -32500 },
  NotReady: { httpStatus: 503, faultCode: -32400 },
} as const;

export type RelayFault = keyof typeof RELAY_FAULTS;

const DECLARATION = '<?xml version="1.0"?>\n';
const MAX_MESSAGE = 512;

/** The methodResponse of an accepted event: one string param. */
export function okResponse(text: string): string {
  return `${DECLARATION}<methodResponse><params><param><value><string>${escape(text)}</string></value></param></params></methodResponse>\n`;
}

/** A methodResponse `<fault>`, so that an XML-RPC client learns why (OpenSIPS never reads it). */
export function faultResponse(faultCode: number, message: string): string {
  const text = message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE)}…` : message;
  return (
    `${DECLARATION}<methodResponse><fault><value><struct>` +
    `<member><name>faultCode</name><value><int>${faultCode}</int></value></member>` +
    `<member><name>faultString</name><value><string>${escape(text)}</string></value></member>` +
    `</struct></value></fault></methodResponse>\n`
  );
}

function escape(text: string): string {
  // Control characters could come from a client's own bytes quoted in a message.
  return text
    .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g, '\uFFFD')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;');
}
