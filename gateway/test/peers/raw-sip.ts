/**
 * A raw SIP peer for tests that must put exact bytes on the wire: one UDP socket, or one TCP or
 * TLS connection, bound to loopback, that sends whatever it is given and records whatever comes
 * back. It understands nothing beyond the status line and single header values, on purpose: the
 * gateway under test is the only SIP implementation in the exchange.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

export const loopback = '127.0.0.1';

export interface UdpPeer {
  /** The local port: write it into Via sent-by so answers come back here. */
  readonly port: number;
  send(bytes: Buffer | string, toPort: number): Promise<void>;
  /**
   * The first datagram (received earlier and not yet taken, or arriving within `timeoutMs`) that
   * `match` accepts; it is taken from the queue. Undefined on timeout: silence.
   */
  receive(opts?: { timeoutMs?: number; match?: (datagram: Buffer) => boolean }): Promise<Buffer | undefined>;
  /** Every datagram received and not taken yet, now taken. */
  take(): Buffer[];
  close(): Promise<void>;
}

interface Waiter {
  match: (b: Buffer) => boolean;
  resolve: (b: Buffer | undefined) => void;
  timer: NodeJS.Timeout;
}

/** A UDP socket on 127.0.0.1, an ephemeral port unless `port` is given. */
export async function openUdp(port = 0): Promise<UdpPeer> {
  const socket: UdpSocket = createSocket('udp4');
  const queue: Buffer[] = [];
  const waiters: Waiter[] = [];
  socket.on('error', () => undefined);
  socket.on('message', (buf) => {
    const i = waiters.findIndex((w) => w.match(buf));
    if (i < 0) {
      // Bounded: a flood of answers nobody reads must not grow the test's own memory.
      if (queue.length < 100_000) queue.push(buf);
      return;
    }
    const [w] = waiters.splice(i, 1);
    if (!w) return;
    clearTimeout(w.timer);
    w.resolve(buf);
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, loopback, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  const local = socket.address().port;
  let closed = false;
  return {
    port: local,
    send: (bytes, toPort) =>
      new Promise<void>((resolve, reject) =>
        socket.send(
          typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes,
          toPort,
          loopback,
          (e) => (e ? reject(e) : resolve()),
        ),
      ),
    receive: ({ timeoutMs = 2000, match = () => true } = {}) => {
      const i = queue.findIndex(match);
      if (i >= 0) return Promise.resolve(queue.splice(i, 1)[0]);
      return new Promise((resolve) => {
        const w: Waiter = {
          match,
          resolve,
          timer: setTimeout(() => {
            const k = waiters.indexOf(w);
            if (k >= 0) waiters.splice(k, 1);
            resolve(undefined);
          }, timeoutMs),
        };
        waiters.push(w);
      });
    },
    take: () => queue.splice(0, queue.length),
    close: () =>
      new Promise<void>((resolve) => {
        for (const w of waiters.splice(0)) {
          clearTimeout(w.timer);
          w.resolve(undefined);
        }
        if (closed) return resolve();
        closed = true;
        socket.close(() => resolve());
      }),
  };
}

export interface StreamPeer {
  readonly socket: Socket;
  write(bytes: Buffer | string): void;
  /** Every byte received so far. */
  received(): Buffer;
  /** True once `done(received)` holds, false if `timeoutMs` passes first or the peer closes first. */
  waitFor(done: (received: Buffer) => boolean, timeoutMs?: number): Promise<boolean>;
  /** True when the gateway ends or resets the connection within `timeoutMs`. */
  waitClosed(timeoutMs?: number): Promise<boolean>;
  readonly closed: boolean;
  destroy(): void;
}

function streamPeer(socket: Socket): StreamPeer {
  let data = Buffer.alloc(0);
  let closed = false;
  const listeners = new Set<() => void>();
  const notify = () => {
    for (const l of [...listeners]) l();
  };
  socket.on('data', (chunk: Buffer) => {
    data = Buffer.concat([data, chunk]);
    notify();
  });
  socket.on('error', () => undefined);
  const onGone = () => {
    closed = true;
    notify();
  };
  socket.on('end', onGone);
  socket.on('close', onGone);
  const until = (cond: () => boolean, timeoutMs: number): Promise<boolean> =>
    new Promise((resolve) => {
      if (cond()) return resolve(true);
      const check = () => {
        if (cond()) finish(true);
        else if (closed) finish(false);
      };
      const timer = setTimeout(() => finish(false), timeoutMs);
      const finish = (v: boolean) => {
        clearTimeout(timer);
        listeners.delete(check);
        resolve(v);
      };
      listeners.add(check);
    });
  return {
    socket,
    write: (bytes) => {
      if (!socket.destroyed && socket.writable) socket.write(bytes);
    },
    received: () => data,
    waitFor: (done, timeoutMs = 3000) => until(() => done(data), timeoutMs),
    waitClosed: (timeoutMs = 3000) =>
      new Promise((resolve) => {
        if (closed) return resolve(true);
        const check = () => {
          if (closed) finish(true);
        };
        const timer = setTimeout(() => finish(false), timeoutMs);
        const finish = (v: boolean) => {
          clearTimeout(timer);
          listeners.delete(check);
          resolve(v);
        };
        listeners.add(check);
      }),
    get closed() {
      return closed;
    },
    destroy: () => socket.destroy(),
  };
}

/** A TCP connection to 127.0.0.1:`port`, resolved once connected. */
export function openTcp(port: number): Promise<StreamPeer> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect({ host: loopback, port });
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(streamPeer(socket));
    });
  });
}

/** A TLS connection to 127.0.0.1:`port`; the gateway's self-signed certificate is accepted. */
export function openTls(port: number): Promise<StreamPeer> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: loopback, port, rejectUnauthorized: false });
    socket.once('error', reject);
    socket.once('secureConnect', () => {
      socket.off('error', reject);
      resolve(streamPeer(socket));
    });
  });
}

/** The status code of a response, or undefined for anything else. */
export function statusOf(bytes: Buffer): number | undefined {
  const m = /^SIP\/2\.0 (\d{3}) /.exec(bytes.subarray(0, 64).toString('latin1'));
  return m ? Number(m[1]) : undefined;
}

/** Status codes of every response in a stream's bytes, in order. */
export function statusesIn(bytes: Buffer): number[] {
  return [...bytes.toString('latin1').matchAll(/(?:^|\r\n)SIP\/2\.0 (\d{3}) /g)].map((m) => Number(m[1]));
}

/** The first value of a header (full or compact name) in a message's header section. */
export function headerOf(bytes: Buffer, name: string, compact?: string): string | undefined {
  const head = bytes.toString('latin1').split('\r\n\r\n')[0] ?? '';
  const names = [name.toLowerCase(), ...(compact ? [compact.toLowerCase()] : [])];
  for (const line of head.split('\r\n').slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0 && names.includes(line.slice(0, colon).trim().toLowerCase()))
      return line.slice(colon + 1).trim();
  }
  return undefined;
}

export interface RequestSpec {
  method: string;
  /** Where answers go: the UDP or stream port of the sending peer. */
  viaPort: number;
  transport?: 'UDP' | 'TCP' | 'TLS';
  uri?: string;
  callId?: string;
  branch?: string;
  cseq?: number;
  fromUser?: string;
  fromTag?: string;
  toUser?: string;
  toTag?: string;
  extraHeaders?: string[];
  body?: string;
  /** Written as is instead of the body's length; undefined writes the true length. */
  contentLength?: string;
}

let counter = 0;

/** A well-formed request (RFC 3261 §8.1.1) whose Via points back at the test peer. */
export function buildRequest(spec: RequestSpec): string {
  const n = ++counter;
  const body = spec.body ?? '';
  const lines = [
    `${spec.method} ${spec.uri ?? 'sip:1002@127.0.0.1'} SIP/2.0`,
    `Via: SIP/2.0/${spec.transport ?? 'UDP'} 127.0.0.1:${spec.viaPort};branch=${spec.branch ?? `z9hG4bK-raw-${process.pid}-${n}-${Math.random().toString(36).slice(2)}`};rport`,
    'Max-Forwards: 70',
    `From: <sip:${spec.fromUser ?? 'intruder'}@127.0.0.1>;tag=${spec.fromTag ?? `f${n}`}`,
    `To: <sip:${spec.toUser ?? '1002'}@127.0.0.1>${spec.toTag ? `;tag=${spec.toTag}` : ''}`,
    `Call-ID: ${spec.callId ?? `raw-${process.pid}-${n}-${Math.random().toString(36).slice(2)}`}`,
    `CSeq: ${spec.cseq ?? 1} ${spec.method}`,
    ...(spec.extraHeaders ?? []),
    `Content-Length: ${spec.contentLength ?? Buffer.byteLength(body)}`,
    '',
    body,
  ];
  return lines.join('\r\n');
}

/** The Call-ID a request or response carries, to match answers to what was sent. */
export function callIdOf(bytes: Buffer): string | undefined {
  return headerOf(bytes, 'call-id', 'i');
}

/** The sum of every sample of a Prometheus counter or gauge in a text exposition (0 when absent). */
export function metricSum(exposition: string, name: string, labels?: RegExp): number {
  let sum = 0;
  for (const line of exposition.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (labels && !labels.test(line)) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}
