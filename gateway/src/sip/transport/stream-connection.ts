/**
 * One TCP or TLS connection carrying SIP: reads are framed into messages (RFC 3261 §18.3), double
 * CRLF pings are answered (RFC 5626 §3.5.1), and connections that go silent, or that start a
 * message and never finish it, are closed so a peer cannot hold sockets and buffers forever.
 */
import type { Socket } from 'node:net';
import type { Clock, TimerHandle, Timers } from '../../../../base/clock.ts';
import type { Logger } from '../../core/log.ts';
import { StreamFramer, type FrameEvent, type StreamFramerDump } from './stream-framer.ts';

export type StreamTransportName = 'tcp' | 'tls';
export type FrameError = Extract<FrameEvent, { type: 'error' }>;

export interface StreamConnectionHooks {
  message(conn: StreamConnection, bytes: Buffer): void;
  frameError(conn: StreamConnection, error: FrameError): void;
  /** An outbound connection failed before it was ever established. */
  connectFailed(conn: StreamConnection, error: Error): void;
  closed(conn: StreamConnection): void;
}

export interface StreamConnectionOptions {
  id: string;
  transport: StreamTransportName;
  direction: 'inbound' | 'outbound';
  remoteAddress: string;
  remotePort: number;
  /** Already connected (inbound) or connecting (outbound). */
  connected: boolean;
  maxMessageBytes: number;
  idleTimeoutMs: number;
  partialMessageTimeoutMs: number;
  /** A peer that stops reading may not make us queue more than this many bytes for it. */
  maxQueuedWriteBytes: number;
  clock: Clock;
  timers: Timers;
  logger: Logger;
  hooks: StreamConnectionHooks;
}

export type StreamConnectionState = 'connecting' | 'open' | 'closed';

export interface StreamConnectionDump {
  id: string;
  transport: StreamTransportName;
  direction: 'inbound' | 'outbound';
  state: StreamConnectionState;
  /** `address:port` of the peer. */
  remote: string;
  ageMs: number;
  messagesIn: number;
  bytesOut: number;
  framer: StreamFramerDump;
}

const pong = Buffer.from('\r\n', 'latin1');

export class StreamConnection {
  readonly id: string;
  readonly transport: StreamTransportName;
  readonly direction: 'inbound' | 'outbound';
  readonly remoteAddress: string;
  readonly remotePort: number;
  private state: StreamConnectionState;
  private readonly framer: StreamFramer;
  private partialTimer: TimerHandle | undefined;
  private readonly openedAtMs: number;
  private messagesIn = 0;
  private bytesOut = 0;

  constructor(
    private readonly socket: Socket,
    private readonly opts: StreamConnectionOptions,
  ) {
    this.id = opts.id;
    this.transport = opts.transport;
    this.direction = opts.direction;
    this.remoteAddress = opts.remoteAddress;
    this.remotePort = opts.remotePort;
    this.state = opts.connected ? 'open' : 'connecting';
    this.framer = new StreamFramer(opts.maxMessageBytes);
    this.openedAtMs = opts.clock.now();

    socket.setNoDelay(true);
    socket.setTimeout(opts.idleTimeoutMs);
    socket.on('timeout', () => {
      opts.logger.debug({ connection: this.id }, 'closing idle SIP connection');
      this.close();
    });
    socket.on('error', (e: Error) => {
      opts.logger.debug({ connection: this.id, err: e.message }, 'SIP connection error');
      if (this.state === 'connecting') opts.hooks.connectFailed(this, e);
    });
    socket.on('close', () => this.transition('closed'));
    if (!opts.connected) {
      socket.once(opts.transport === 'tls' ? 'secureConnect' : 'connect', () => this.transition('open'));
    }
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
  }

  get isOpen(): boolean {
    return this.state !== 'closed' && !this.socket.destroyed;
  }

  /** Queue bytes for the peer; false (and the connection closed) when the peer stopped reading. */
  write(buf: Buffer): boolean {
    if (!this.isOpen || !this.socket.writable) return false;
    if (this.socket.writableLength + buf.length > this.opts.maxQueuedWriteBytes) {
      this.opts.logger.warn({ connection: this.id }, 'SIP peer is not reading; closing connection');
      this.close();
      return false;
    }
    this.bytesOut += buf.length;
    this.socket.write(buf);
    return true;
  }

  /** Send a last answer, if any, then close once it is flushed. */
  endWith(buf: Buffer | undefined): void {
    if (!this.isOpen) return;
    // Reading goes on into the failed framer, which drops it: a paused socket would not see the
    // peer's FIN, and the connection would outlive its peer until the timeout below.
    if (buf && this.socket.writable) this.socket.end(buf);
    else this.socket.end();
    // A peer that never reads its answer must not keep the socket half-open.
    this.socket.setTimeout(Math.min(this.opts.idleTimeoutMs, 5000));
  }

  close(): void {
    this.socket.destroy();
    this.transition('closed');
  }

  dump(): StreamConnectionDump {
    return {
      id: this.id,
      transport: this.transport,
      direction: this.direction,
      state: this.state,
      remote: `${this.remoteAddress}:${this.remotePort}`,
      ageMs: Math.round(this.opts.clock.now() - this.openedAtMs),
      messagesIn: this.messagesIn,
      bytesOut: this.bytesOut,
      framer: this.framer.dump(),
    };
  }

  private transition(to: StreamConnectionState): void {
    const from = this.state;
    if (from === to) return;
    switch (to) {
      case 'connecting':
        throw new Error(`illegal SIP connection transition ${from} -> ${to}`);
      case 'open':
        if (from !== 'connecting') throw new Error(`illegal SIP connection transition ${from} -> ${to}`);
        this.state = to;
        return;
      case 'closed':
        this.state = to;
        this.partialTimer?.cancel();
        this.partialTimer = undefined;
        this.opts.hooks.closed(this);
        return;
      default: {
        const never: never = to;
        throw new Error(`unknown state ${String(never)}`);
      }
    }
  }

  private onData(chunk: Buffer): void {
    if (this.state === 'closed') return;
    for (const ev of this.framer.push(chunk)) {
      if (!this.isOpen) return;
      switch (ev.type) {
        case 'message':
          this.messagesIn++;
          // Progress: the next partial message gets its own full allowance.
          this.partialTimer?.cancel();
          this.partialTimer = undefined;
          this.opts.hooks.message(this, ev.bytes);
          break;
        case 'ping':
          // RFC 5626 §3.5.1: "it MUST immediately respond with a single CRLF over the same connection."
          this.write(pong);
          break;
        case 'error':
          this.opts.hooks.frameError(this, ev);
          return;
        default: {
          const never: never = ev;
          throw new Error(`unknown frame event ${String(never)}`);
        }
      }
    }
    this.armPartialTimer();
  }

  /**
   * A message must arrive whole within `partialMessageTimeoutMs` of its first byte: a peer that
   * trickles a header section a byte at a time resets the idle timer but not this one.
   */
  private armPartialTimer(): void {
    if (!this.framer.midMessage) {
      this.partialTimer?.cancel();
      this.partialTimer = undefined;
      return;
    }
    if (this.partialTimer || !this.isOpen) return;
    this.partialTimer = this.opts.timers.start('partial-message', this.opts.partialMessageTimeoutMs, () => {
      this.partialTimer = undefined;
      if (this.framer.midMessage) {
        this.opts.logger.debug(
          { connection: this.id },
          'SIP message not completed in time; closing connection',
        );
        this.close();
      }
    });
  }
}
