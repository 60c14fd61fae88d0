// Loopback ports for real peers started by tests and benchmarks, drawn from a block of their own
// below the kernel's ephemeral range; the socket is closed before the peer binds it, so a port is
// free "now", not reserved. Ports handed out in this process are never handed out twice.
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';

export type PortKind = 'udp' | 'tcp';

const handedOut = new Set<number>();
/** Ports handed to test peers: SIP peers, probes, test RTP sockets (baresip's RTP uses 10000-11999). */
const PEER_PORTS_LO = 12000;
const PEER_PORTS_HI = 19998;

function probeUdp(port: number): Promise<number | null> {
  return new Promise((resolve) => {
    const socket = createSocket('udp4');
    socket.once('error', () => {
      socket.close();
      resolve(null);
    });
    socket.bind({ address: '127.0.0.1', port, exclusive: true }, () => {
      const bound = socket.address().port;
      socket.close(() => resolve(bound));
    });
  });
}

function probeTcp(port: number): Promise<number | null> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(null));
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => {
      const address = server.address();
      const bound = typeof address === 'object' && address !== null ? address.port : null;
      server.close(() => resolve(bound));
    });
  });
}

/** True when nothing is bound to 127.0.0.1:port for this transport. */
export async function isPortFree(kind: PortKind, port: number): Promise<boolean> {
  const bound = kind === 'udp' ? await probeUdp(port) : await probeTcp(port);
  return bound === port;
}

/**
 * A loopback port that is free for `kind` (and, for SIP peers that may fall back to the other
 * transport, free for both when `both` is set).
 */
export async function freePort(kind: PortKind = 'udp', options: { both?: boolean } = {}): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    // Below the kernel's ephemeral range (32768-60999): a port the kernel may hand to the next
    // outgoing connection (an HTTP request of the test itself) is not free for long. Between the
    // peers' block and the gateway's RTP range (20000+).
    const candidate = PEER_PORTS_LO + Math.floor(Math.random() * (PEER_PORTS_HI - PEER_PORTS_LO));
    if (handedOut.has(candidate)) continue;
    const port = (await isPortFree(kind, candidate)) ? candidate : null;
    if (port === null) continue;
    if (options.both === true && !(await isPortFree(kind === 'udp' ? 'tcp' : 'udp', port))) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error(`no free ${kind} port on 127.0.0.1 after 200 attempts`);
}

/**
 * The first of `span` consecutive loopback UDP ports, all free and none handed out before: SIPp
 * binds its RTP echo sockets at `-mp` and the ports above it (audio, video, each with its RTCP),
 * so a single free port is not enough.
 */
export async function freeUdpBlock(span: number): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = PEER_PORTS_LO + 2 * Math.floor((Math.random() * (PEER_PORTS_HI - PEER_PORTS_LO - span)) / 2);
    let free = true;
    for (let p = base; p < base + span && free; p++) free = !handedOut.has(p) && (await isPortFree('udp', p));
    if (!free) continue;
    for (let p = base; p < base + span; p++) handedOut.add(p);
    return base;
  }
  throw new Error(`no ${span} consecutive free udp ports on 127.0.0.1 after 200 attempts`);
}
