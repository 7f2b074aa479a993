// A fast XML-RPC sink for benchmarks, in its own process: it answers every
// request with a fixed methodResponse and notes, for the int param named
// `seq`, when the request's last byte was read (wall clock, in ms with a
// fraction: performance.timeOrigin + performance.now()).
// A connection stays open for the next request (HTTP/1.1) unless the request
// says Connection: close, which it answers in kind and closes.
// Prints "listening PORT", then batches of "seq at" lines; exits when stdin closes.
import net from 'node:net';

const BODY = '<?xml version="1.0"?>\n<methodResponse><params><param><value><boolean>1</boolean></value></param></params></methodResponse>\n';
const RESPONSE = Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: ${BODY.length}\r\nConnection: close\r\n\r\n${BODY}`);
const KEPT_RESPONSE = Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: ${BODY.length}\r\n\r\n${BODY}`);
const CLOSE = /\r\nconnection:\s*close/i;
const SEQ = /<name>seq<\/name>\s*<value><int>(-?\d+)</;
const LENGTH = /\r\ncontent-length:\s*(\d+)/i;

let pending: string[] = [];
const flush = () => {
  if (pending.length === 0) return;
  process.stdout.write(pending.join(''));
  pending = [];
};
setInterval(flush, 20).unref();

const server = net.createServer((socket) => {
  socket.setNoDelay(true);
  socket.on('error', () => {});
  let text = '';
  socket.setEncoding('latin1');
  socket.on('data', (chunk: string) => {
    text += chunk;
    for (;;) {
      const end = text.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = text.slice(0, end + 2);
      const length = Number(LENGTH.exec(head)?.[1] ?? 0);
      if (text.length - end - 4 < length) return;
      const at = performance.timeOrigin + performance.now();
      const seq = SEQ.exec(text.slice(end + 4, end + 4 + length))?.[1];
      if (seq !== undefined) pending.push(`${seq} ${at.toFixed(3)}\n`);
      text = text.slice(end + 4 + length);
      if (CLOSE.test(head)) return void socket.end(RESPONSE);
      socket.write(KEPT_RESPONSE);
    }
  });
});
server.listen(0, '127.0.0.1', () => process.stdout.write(`listening ${(server.address() as net.AddressInfo).port}\n`));
process.stdin.resume();
process.stdin.on('end', () => {
  flush();
  process.exit(0);
});
