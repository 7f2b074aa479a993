// The peers written in Python (test/peers/*.py) that tests start through
// test/support: a SYN black hole and stamping HTTP peers. (The Python
// XML-RPC server is in xmlrpc-peers.ts, beside the other XML-RPC servers.)
import { startPeerProcess } from './peer-process.js';
import { raiseNameOf } from './raise-names.js';

/**
 * test/peers/syn_blackhole.py: a listening port whose full accept queue drops
 * every SYN, so that a connect neither completes nor is refused.
 */
export async function startSynBlackhole(): Promise<{ port: number; filled: number; close(): Promise<void> }> {
  const peer = await startPeerProcess('python3', 'syn_blackhole.py', [], (line) => {
    const match = /^blackhole (\d+) (\d+)$/.exec(line);
    if (!match) throw new Error(`syn_blackhole.py said: ${line}`);
    return { port: Number(match[1]), filled: Number(match[2]) };
  });
  return { ...peer.ready, close: peer.close };
}

export interface Arrival {
  /** The peer's name: one port each. */
  subscriber: string;
  /** The raise named in the request's "raise" param ('?' if none). */
  raise: string;
  /** When the peer's kernel received the request's last byte (ms since the epoch; TCP_INFO, whatever the peer's scheduling). */
  receivedAt: number;
  /** When the peer's accept() returned its connection: may lag behind under load. */
  acceptedAt: number;
}

export interface StampingPeers {
  ports: Map<string, number>;
  /** Every request so far, in the order the peers reported them. */
  arrivals: Arrival[];
  close(): Promise<void>;
}

/**
 * test/peers/stamping_peer.py: one raw HTTP peer per name, answering XML-RPC
 * OK after its delay and stamping each request when its last byte reached the
 * kernel. A stamp taken when a busy event loop gets round to the connection
 * can lag by 100 ms and more, behind a watch event of a status written after it.
 */
export async function startStampingPeers(peers: Array<{ name: string; delayMs: number }>): Promise<StampingPeers> {
  const arrivals: Arrival[] = [];
  const ports = new Map<string, number>();
  const peer = await startPeerProcess(
    'python3',
    'stamping_peer.py',
    peers.map((p) => `${p.name}:${p.delayMs}`),
    (line) => {
      const listening = /^listening (\S+) (\d+)$/.exec(line);
      if (!listening) throw new Error(`stamping_peer.py said: ${line}`);
      ports.set(listening[1]!, Number(listening[2]));
      return ports.size === peers.length ? ports : undefined;
    },
    (line) => {
      const { subscriber, body, receivedAt, acceptedAt } = JSON.parse(line) as { subscriber: string; body: string; receivedAt: number; acceptedAt: number };
      arrivals.push({ subscriber, raise: raiseNameOf(body) ?? '?', receivedAt, acceptedAt });
    },
  );
  return { ports, arrivals, close: peer.close };
}
