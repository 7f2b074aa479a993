// A fast XML-RPC server for the benchmark, in a process of its own: it reads
// each request whole (by Content-Length) and answers a methodResponse with
// `Connection: close`, as a real subscriber would. It keeps nothing, so that
// it is never what bounds a figure. Prints its port, then `requests N` on
// every line it reads on stdin.
import net from 'node:net';
import { createInterface } from 'node:readline';

const BODY = '<?xml version="1.0"?>\n<methodResponse><params><param><value><string>OK</string></value></param></params></methodResponse>';
const RESPONSE = Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: ${Buffer.byteLength(BODY)}\r\nConnection: close\r\n\r\n${BODY}`);
let requests = 0;

const server = net.createServer((socket) => {
  socket.on('error', () => {});
  let head = '';
  let bodyLeft = -1;
  socket.on('data', (chunk: Buffer) => {
    if (bodyLeft < 0) {
      head += chunk.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head.slice(0, end))?.[1] ?? 0);
      bodyLeft = length - (head.length - end - 4);
    } else {
      bodyLeft -= chunk.length;
    }
    if (bodyLeft <= 0) {
      requests++;
      socket.end(RESPONSE);
    }
  });
});
server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => {
  process.stdout.write(`${(server.address() as net.AddressInfo).port}\n`);
});
createInterface({ input: process.stdin }).on('line', () => process.stdout.write(`requests ${requests}\n`));
process.stdin.on('end', () => process.exit(0));
