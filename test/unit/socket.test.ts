import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseSocket } from '../../src/core/socket.js';

describe('parseSocket', () => {
  const accepted: Array<[string, { host: string; port: number; path: string; method: string; url: string }]> = [
    ['xmlrpc:127.0.0.1:8090:ev_cb', { host: '127.0.0.1', port: 8090, path: '/RPC2', method: 'ev_cb', url: 'http://127.0.0.1:8090/RPC2' }],
    ['xmlrpc:blocker.voip.svc:8080:block_ip', { host: 'blocker.voip.svc', port: 8080, path: '/RPC2', method: 'block_ip', url: 'http://blocker.voip.svc:8080/RPC2' }],
    ['xmlrpc:localhost:80:m', { host: 'localhost', port: 80, path: '/RPC2', method: 'm', url: 'http://localhost:80/RPC2' }],
    ['xmlrpc:127.0.0.1:8090/my/rpc/path:ev_cb', { host: '127.0.0.1', port: 8090, path: '/my/rpc/path', method: 'ev_cb', url: 'http://127.0.0.1:8090/my/rpc/path' }],
    ['xmlrpc:h:8090:ns:method', { host: 'h', port: 8090, path: '/RPC2', method: 'ns:method', url: 'http://h:8090/RPC2' }],
    ['xmlrpc:[::1]:8080:m', { host: '[::1]', port: 8080, path: '/RPC2', method: 'm', url: 'http://[::1]:8080/RPC2' }],
    ['xmlrpc:[2001:db8::1]:80/RPC2:ns:method', { host: '[2001:db8::1]', port: 80, path: '/RPC2', method: 'ns:method', url: 'http://[2001:db8::1]:80/RPC2' }],
    ['xmlrpc:localhost:65535:a.b/c', { host: 'localhost', port: 65535, path: '/RPC2', method: 'a.b/c', url: 'http://localhost:65535/RPC2' }],
    ['xmlrpc:h:1/p:a:m', { host: 'h', port: 1, path: '/p', method: 'a:m', url: 'http://h:1/p' }],
    ['xmlrpc:h:8090/:m', { host: 'h', port: 8090, path: '/', method: 'm', url: 'http://h:8090/' }],
    // Labels that start with digits or 0x but are not numbers are names.
    ['xmlrpc:1e100.net:80:m', { host: '1e100.net', port: 80, path: '/RPC2', method: 'm', url: 'http://1e100.net:80/RPC2' }],
    ['xmlrpc:0xcafe-api.example:80:m', { host: '0xcafe-api.example', port: 80, path: '/RPC2', method: 'm', url: 'http://0xcafe-api.example:80/RPC2' }],
    ['xmlrpc:s3.eu-1.example:80:m', { host: 's3.eu-1.example', port: 80, path: '/RPC2', method: 'm', url: 'http://s3.eu-1.example:80/RPC2' }],
  ];
  for (const [socket, target] of accepted) {
    it(`accepts ${socket}`, () => {
      assert.deepEqual(parseSocket(socket), { ok: true, target });
    });
  }

  // OpenSIPS accepts several of these (port wrap, leading zeros, raw method text); we refuse them.
  const rejected: Array<[string, string, RegExp]> = [
    ['XMLRPC:127.0.0.1:8090:m', 'UnsupportedScheme', /must start with "xmlrpc:"/],
    ['http://h:80/', 'UnsupportedScheme', /^socket "http:\/\/h:80\/" is not a URL: write xmlrpc:HOST:PORT\[PATH\]:METHOD, e\.g\. xmlrpc:blocker\.voip\.svc:8080\/RPC2:block_ip$/],
    ['https://h/RPC2', 'UnsupportedScheme', /is not a URL: write xmlrpc:HOST:PORT\[PATH\]:METHOD/],
    ['xmlrpc://host:8080/RPC2:m', 'MalformedSocket', /^socket "xmlrpc:\/\/host:8080\/RPC2:m" is not a URL: write xmlrpc:host:8080\/RPC2:m, without "\/\/"$/],
    ['xmlrpc://[::1]:80:m', 'MalformedSocket', /write xmlrpc:\[::1\]:80:m, without/],
    ['xmlrpc:h:73626:m', 'InvalidPort', /1\.\.65535/],
    ['xmlrpc:h:65536:m', 'InvalidPort', /1\.\.65535/],
    ['xmlrpc:h:08090:m', 'InvalidPort', /without leading zeros/],
    ['xmlrpc:h:008090:m', 'InvalidPort', /"008090"/],
    ['xmlrpc:h:0:m', 'InvalidPort', /"0"/],
    ['xmlrpc:h:abc:m', 'InvalidPort', /"abc"/],
    ['xmlrpc:h::m', 'InvalidPort', /""/],
    ['xmlrpc:h:80path:m', 'InvalidPort', /"80path"/],
    ['xmlrpc:h:-1:m', 'InvalidPort', /"-1"/],
    ['xmlrpc::8090:m', 'InvalidHost', /empty host/],
    ['xmlrpc:::1:8090:m', 'InvalidHost', /empty host/],
    ['xmlrpc:[::1:8090:m', 'InvalidHost', /no closing "\]"/],
    ['xmlrpc:[zz::1]:8090:m', 'InvalidHost', /not a valid IPv6/],
    ['xmlrpc:[1.2.3.4]:8090:m', 'InvalidHost', /not a valid IPv6/],
    ['xmlrpc:256.1.1.1:8090:m', 'InvalidHost', /not a valid dotted IPv4/],
    ['xmlrpc:-bad-.com:80:m', 'InvalidHost', /DNS name/],
    ['xmlrpc:under_score.com:80:m', 'InvalidHost', /DNS name/],
    ['xmlrpc:h', 'MalformedSocket', /no port/],
    ['xmlrpc:h:8090', 'MalformedSocket', /no method/],
    ['xmlrpc:h:8090:', 'InvalidMethod', /empty method/],
    ['xmlrpc:h:8090:a b', 'InvalidMethod', /A-Z a-z 0-9 _ \. : \//],
    ['xmlrpc:h:8090:m ', 'InvalidMethod', /"m "/],
    ['xmlrpc:h:8090:a<b>&c', 'InvalidMethod', /"a<b>&c"/],
    ['xmlrpc:h:8090/a b:m', 'InvalidPath', /visible ASCII other than ":"/],
    ['xmlrpc:h:8090/é:m', 'InvalidPath', /"\/é"/],
    ['xmlrpc:[::ffff:1.2.3.4]:8090:m', 'InvalidHost', /not a valid IPv6/],
    ['xmlrpc:[fe80::1%eth0]:8090:m', 'InvalidHost', /not a valid IPv6/],
    ['xmlrpc:010.0.0.1:8090:m', 'InvalidHost', /not a valid dotted IPv4/],
    ['xmlrpc:h.:8090:m', 'InvalidHost', /DNS name/],
    // Numbers in other bases or forms, which URL parsers and inet_aton read as 127.0.0.1.
    ['xmlrpc:0x7f.0.0.1:8090:m', 'InvalidHost', /^host "0x7f\.0\.0\.1" has a label that is a number \("0x7f"\): an IPv4 address is written in dotted decimal .*0x7f\.0\.0\.1, 0177\.0\.0\.1 and 2130706433 are refused$/],
    ['xmlrpc:0177.0.0.1:8090:m', 'InvalidHost', /^host "0177\.0\.0\.1" is not a valid dotted IPv4 address: an IPv4 address is written in dotted decimal/],
    ['xmlrpc:2130706433:8090:m', 'InvalidHost', /"2130706433" is not a valid dotted IPv4 address: .*are refused$/],
    ['xmlrpc:0x7f000001:8090:m', 'InvalidHost', /label that is a number \("0x7f000001"\)/],
    ['xmlrpc:0X7F.1:8090:m', 'InvalidHost', /label that is a number \("0X7F"\)/],
    ['xmlrpc:127.1:8090:m', 'InvalidHost', /not a valid dotted IPv4/],
    ['xmlrpc:host.123:8090:m', 'InvalidHost', /label that is a number \("123"\)/],
    ['xmlrpc:10.example.com:8090:m', 'InvalidHost', /label that is a number \("10"\)/],
    ['xmlrpc:[::ffff:7f00:1]:8090:m', 'InvalidHost', /^host "\[::ffff:7f00:1\]" is an IPv4-mapped IPv6 address: write the IPv4 address itself/],
    ['xmlrpc:svc.0x:8090:m', 'InvalidHost', /label that is a number \("0x"\)/],
  ];
  for (const [socket, reason, message] of rejected) {
    it(`rejects ${JSON.stringify(socket)} with ${reason}`, () => {
      const parsed = parseSocket(socket);
      assert.equal(parsed.ok, false);
      if (parsed.ok) return;
      assert.equal(parsed.reason, reason);
      assert.match(parsed.message, message);
    });
  }
});
