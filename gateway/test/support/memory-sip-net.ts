/**
 * An IP network in memory for in-process SIP tests: endpoints named `address:port` exchange
 * datagrams that arrive on the manual clock, after a latency per pair of hosts (0 by default:
 * delivered by the next `clock.advance(0)`, never inside the `send` that sent them, so no stack
 * ever sees its own message come back before `send` returns, as on a real wire).
 *
 * `MemoryTransport` is the SIP transport of one endpoint over it: what `SipTransports` is over a
 * UDP socket. Messages leave as bytes (`serializeMessage`) and are parsed on arrival
 * (`parseMessage`), requests get their top Via stamped (RFC 3261 §18.2.1, RFC 3581 §4), and what
 * cannot be parsed is answered as the real transport answers it. Both stacks of a test (the
 * gateway's and the test's user agents) run over these transports, with their real transaction
 * layers, so everything a test asserts crossed the wire as bytes.
 */
import type { ManualClock } from '../../../base/clock.ts';
import {
  createErrorResponse,
  parseMessage,
  serializeMessage,
  type SipEndpoint,
  type SipMessage,
} from '../../src/sip/message/index.ts';
import { stampReceived } from '../../src/sip/message/via-routing.ts';

/** One datagram on the network, from its sending to its arrival (or loss). */
export interface Datagram {
  /** Order of sending over the whole network. */
  seq: number;
  from: string;
  to: string;
  bytes: Buffer;
  sentAtMs: number;
  deliveredAtMs: number | undefined;
  /** Why it never arrived: nobody listens there, one of its hosts is cut off, or it was lost on the way. */
  lost: 'unreachable' | 'blocked' | 'lost' | undefined;
}

type Receiver = (bytes: Buffer, source: SipEndpoint) => void;

export class MemoryNetwork {
  /** Every datagram sent, in sending order. */
  readonly log: Datagram[] = [];
  private readonly endpoints = new Map<string, Receiver>();
  private readonly latencies = new Map<string, number>();
  private readonly blocked = new Set<string>();
  private readonly losses: Array<{ matches: (msg: SipMessage) => boolean; count: number }> = [];
  private seq = 0;

  constructor(
    private readonly clock: ManualClock,
    private readonly defaultLatencyMs = 0,
  ) {}

  /** Listen at `address:port`; the function returned stops listening. */
  attach(address: string, port: number, receive: Receiver): () => void {
    const key = endpointKey(address, port);
    if (this.endpoints.has(key)) throw new Error(`${key} is already in use`);
    this.endpoints.set(key, receive);
    return () => {
      if (this.endpoints.get(key) === receive) this.endpoints.delete(key);
    };
  }

  /** One-way latency between two hosts, both directions. */
  setLatency(hostA: string, hostB: string, ms: number): void {
    this.latencies.set(pairKey(hostA, hostB), ms);
  }

  /** Datagrams to and from `host` are lost until `unblock` (a phone that dropped off the network). */
  block(host: string): void {
    this.blocked.add(host);
  }

  unblock(host: string): void {
    this.blocked.delete(host);
  }

  /** The next `count` datagrams whose message matches are lost on the way (UDP gives no guarantee). */
  lose(matches: (msg: SipMessage) => boolean, count = 1): void {
    this.losses.push({ matches, count });
  }

  send(from: { address: string; port: number }, to: SipEndpoint, bytes: Buffer): void {
    const d: Datagram = {
      seq: ++this.seq,
      from: endpointKey(from.address, from.port),
      to: endpointKey(to.address, to.port),
      bytes: Buffer.from(bytes),
      sentAtMs: this.clock.now(),
      deliveredAtMs: undefined,
      lost: undefined,
    };
    this.log.push(d);
    if (this.blocked.has(from.address) || this.blocked.has(to.address)) {
      d.lost = 'blocked';
      return;
    }
    const loss = this.losses.find((l) => l.count > 0 && isMessage(d.bytes, l.matches));
    if (loss) {
      loss.count--;
      d.lost = 'lost';
      return;
    }
    const latency = this.latencies.get(pairKey(from.address, to.address)) ?? this.defaultLatencyMs;
    this.clock.start('net', latency, () => {
      const receive = this.endpoints.get(d.to);
      if (!receive || this.blocked.has(to.address)) {
        d.lost = receive ? 'blocked' : 'unreachable';
        return;
      }
      d.deliveredAtMs = this.clock.now();
      receive(d.bytes, { transport: 'udp', address: from.address, port: from.port });
    });
  }

  /**
   * Datagrams with their messages parsed, for assertions on what crossed the wire and when;
   * `from` and `to` name a host or a `host:port`.
   */
  messages(filter: { from?: string; to?: string } = {}): Array<Datagram & { msg: SipMessage }> {
    const out: Array<Datagram & { msg: SipMessage }> = [];
    for (const d of this.log) {
      if (filter.from !== undefined && !atEndpoint(d.from, filter.from)) continue;
      if (filter.to !== undefined && !atEndpoint(d.to, filter.to)) continue;
      const parsed = parseMessage(d.bytes);
      if (parsed.ok) out.push({ ...d, msg: parsed.value });
    }
    return out;
  }
}

/** The SIP transport of one UDP endpoint of a `MemoryNetwork`. */
export class MemoryTransport {
  /** Every message that parsed, requests with their top Via stamped. */
  onMessage: (msg: SipMessage, source: SipEndpoint) => void = () => {};
  /** Every message received and parsed, in arrival order (retransmissions included). */
  readonly received: SipMessage[] = [];
  /** Every message sent, in order. */
  readonly sent: Array<{ msg: SipMessage; dest: SipEndpoint }> = [];
  private readonly detach: () => void;
  private closed = false;

  constructor(
    private readonly net: MemoryNetwork,
    readonly address: string,
    readonly port = 5060,
  ) {
    this.detach = net.attach(address, port, (bytes, source) => this.receive(bytes, source));
  }

  get endpoint(): SipEndpoint {
    return { transport: 'udp', address: this.address, port: this.port };
  }

  /** Host and port written in Via sent-by and Contact (every transport name maps to this one endpoint). */
  localSentBy(_transport?: string): { host: string; port: number } {
    return { host: this.address, port: this.port };
  }

  send(msg: SipMessage, dest: SipEndpoint): void {
    if (this.closed) throw new Error(`transport ${this.address}:${this.port} is closed`);
    this.sent.push({ msg, dest: { ...dest } });
    this.net.send({ address: this.address, port: this.port }, dest, serializeMessage(msg));
  }

  close(): void {
    this.closed = true;
    this.detach();
  }

  /** The receive path of `SipTransports`: parse at the boundary, answer what cannot be parsed. */
  private receive(bytes: Buffer, source: SipEndpoint): void {
    if (this.closed) return;
    const parsed = parseMessage(bytes);
    if (!parsed.ok) {
      const answer = parsed.error.partial?.method === 'ACK' ? undefined : createErrorResponse(parsed.error);
      if (answer) this.send(answer, source);
      return;
    }
    const msg = parsed.value;
    if (msg.kind === 'request') stampReceived(msg, source);
    this.received.push(msg);
    this.onMessage(msg, source);
  }
}

function isMessage(bytes: Buffer, matches: (msg: SipMessage) => boolean): boolean {
  const parsed = parseMessage(bytes);
  return parsed.ok && matches(parsed.value);
}

function atEndpoint(key: string, hostOrEndpoint: string): boolean {
  return key === hostOrEndpoint || key.startsWith(`${hostOrEndpoint}:`);
}

function endpointKey(address: string, port: number): string {
  return `${address}:${port}`;
}

function pairKey(a: string, b: string): string {
  return a < b ? `${a}|${b}` : `${b}|${a}`;
}
