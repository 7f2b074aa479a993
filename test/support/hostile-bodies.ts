// Response bodies a hostile or broken XML-RPC server sends; shared by tests and bench/hostile.ts.

/** A methodResponse whose result nests `levels` elements (`<a>` in `<a>`...), 7 bytes a level. */
export function deepMethodResponse(levels: number): string {
  return `<?xml version="1.0"?><methodResponse><params><param>${'<a>'.repeat(levels)}${'</a>'.repeat(levels)}</param></params></methodResponse>`;
}

/** A fault whose faultString is `length` characters long. */
export function hugeFault(length: number): string {
  return (
    '<?xml version="1.0"?>\n<methodResponse><fault><value><struct>' +
    '<member><name>faultCode</name><value><int>4</int></value></member>' +
    `<member><name>faultString</name><value><string>${'x'.repeat(length)}</string></value></member>` +
    '</struct></value></fault></methodResponse>\n'
  );
}
