/** Small helpers for tests that talk UDP on loopback. */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';

function udpFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    s.once('error', () => {
      s.close();
      resolve(false);
    });
    s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** An even port with `span` free UDP ports from it on 127.0.0.1. */
export async function freeUdpRange(span: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 30000 + Math.floor(Math.random() * 14000) * 2;
    let all = true;
    for (let p = base; p < base + span && all; p++) all = await udpFree(p);
    if (all) return base;
  }
  throw new Error('no free UDP range');
}

export interface UdpPeer {
  socket: Socket;
  port: number;
  received: Array<{ msg: Buffer; from: RemoteInfo }>;
  send(msg: Buffer, port: number): Promise<void>;
  close(): Promise<void>;
}

/** A UDP socket on 127.0.0.1 that records every datagram it receives. */
export async function udpPeer(port = 0): Promise<UdpPeer> {
  const socket = createSocket('udp4');
  const received: UdpPeer['received'] = [];
  socket.on('message', (msg, from) => received.push({ msg, from }));
  socket.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, '127.0.0.1', () => resolve());
  });
  return {
    socket,
    port: socket.address().port,
    received,
    send: (msg, to) =>
      new Promise((resolve, reject) => socket.send(msg, to, '127.0.0.1', (e) => (e ? reject(e) : resolve()))),
    close: () => new Promise((resolve) => socket.close(() => resolve())),
  };
}

/** Poll until `check()` holds or `timeoutMs` passes; returns whether it held. */
export async function waitUntil(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 5));
  }
  return true;
}
