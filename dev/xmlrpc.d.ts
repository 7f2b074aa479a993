// The npm xmlrpc package ships its decoder and encoder untyped.
declare module 'xmlrpc/lib/deserializer.js' {
  import type { Readable } from 'node:stream';
  export default class Deserializer {
    deserializeMethodCall(stream: Readable, callback: (error: Error | null, method: string, params: unknown[]) => void): void;
  }
}
declare module 'xmlrpc/lib/serializer.js' {
  const Serializer: { serializeMethodResponse(value: unknown): string };
  export default Serializer;
}
