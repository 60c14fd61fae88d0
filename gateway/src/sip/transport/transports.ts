/**
 * The SIP transport layer's sockets (RFC 3261 §18): one UDP socket, one TCP listener and one TLS
 * listener, the stream connections they accept or open, and nothing above them. Every byte from
 * outside is parsed at this boundary; what cannot be parsed is counted, answered where RFC 3261
 * says so, and never reaches the transaction layer.
 */
import { createSocket, type Socket as UdpSocket, type RemoteInfo } from 'node:dgram';
import {
  createServer as createTcpServer,
  connect as tcpConnect,
  isIP,
  type Server,
  type Socket,
} from 'node:net';
import {
  createServer as createTlsServer,
  connect as tlsConnect,
  type ConnectionOptions,
  type TLSSocket,
} from 'node:tls';
import { networkInterfaces } from 'node:os';
import { EdgeError, ErrorCodes } from '../../core/errors.ts';
import { MetricsRegistry, type Counter, type Gauge } from '../../core/metrics.ts';
import { silentLogger, type Logger } from '../../core/log.ts';
import { systemClock, systemTimers, type Clock, type Timers } from '../../../../base/clock.ts';
import {
  createErrorResponse,
  createResponse,
  generateTag,
  parseMessage,
  serializeMessage,
} from '../message/index.ts';
import type { SipEndpoint, SipMessage, SipRequest, SipTransportName } from '../message/types.ts';
import {
  StreamConnection,
  type FrameError,
  type StreamConnectionDump,
  type StreamTransportName,
} from './stream-connection.ts';
import { plainAddress, stampReceived } from '../message/via-routing.ts';

export interface SipTransportOptions {
  /** Bind address, e.g. `127.0.0.1` or `0.0.0.0`. */
  host: string;
  /** Port 0 binds an ephemeral port (read it back from `localSentBy` or `dump`). */
  udpPort: number;
  tcpPort: number;
  tlsPort: number;
  /** TLS listens only when a certificate is given. */
  tls?: { cert: string; key: string };
  /** Options for TLS connections this side opens (trust anchors, verification). Verification is on by default. */
  tlsClient?: ConnectionOptions;
  /** The host written into Via and Contact; defaults to the bind address, or the first external IPv4 when bound to any. */
  advertisedHost?: string;
  /** Largest message accepted, header section and body together (default 65535). */
  maxMessageBytes?: number;
  /** Open stream connections, inbound and outbound together (default 10000). */
  maxConnections?: number;
  /** Stream connections with no traffic for this long are closed (default 5 min). */
  idleTimeoutMs?: number;
  /** A started message must be complete within this long (default 32 s, 64·T1). */
  partialMessageTimeoutMs?: number;
  /**
   * Source protection: asked for every message and every inbound connection before anything is
   * parsed; false drops it unread (a banned source, a flood).
   */
  admit?: (address: string) => boolean;
  metrics?: MetricsRegistry;
  logger?: Logger;
  clock?: Clock;
  timers?: Timers;
}

interface Listener {
  host: string;
  port: number;
}

export interface SipTransportsDump {
  closed: boolean;
  /** The bound address of each transport that listens. */
  listening: Partial<Record<SipTransportName, { host: string; port: number }>>;
  advertisedHost: string;
  limits: {
    maxMessageBytes: number;
    maxConnections: number;
    idleTimeoutMs: number;
    partialMessageTimeoutMs: number;
  };
  /** TLS sockets still in their handshake. */
  handshaking: number;
  connections: StreamConnectionDump[];
}

interface TransportMetrics {
  received: Counter;
  sent: Counter;
  parseErrors: Counter;
  connections: Gauge;
  oversize: Counter;
  refused: Counter;
  sendErrors: Counter;
}

const defaultMaxMessageBytes = 65535;
const UDP_BUFFER_BYTES = 4 * 1024 * 1024;
const defaultMaxConnections = 10000;
const defaultIdleTimeoutMs = 5 * 60_000;
const defaultPartialMessageTimeoutMs = 32_000;
const maxQueuedWriteBytes = 1 << 20;

export class SipTransports {
  /** Every message that parsed, requests with their top Via stamped (RFC 3261 §18.2.1, RFC 3581 §4). */
  onMessage: (msg: SipMessage, source: SipEndpoint) => void = () => {};
  /** RFC 3261 §18.4: transport failures are reported to the layer that sent. */
  onSendError: (dest: SipEndpoint, error: EdgeError) => void = () => {};

  private udp: UdpSocket | undefined;
  private tcpServer: Server | undefined;
  private tlsServer: Server | undefined;
  private readonly listeners: Partial<Record<SipTransportName, Listener>> = {};
  private readonly connections = new Map<string, StreamConnection>();
  /** `transport|address|port` → connection ids to that remote endpoint, for reuse. */
  private readonly byRemote = new Map<string, Set<string>>();
  /** TLS sockets still in their handshake: not yet connections, but they hold a socket. */
  private readonly handshaking = new Set<Socket>();
  private nextConnectionId = 1;
  private closed = false;
  private readonly maxMessageBytes: number;
  private readonly maxConnections: number;
  private readonly idleTimeoutMs: number;
  private readonly partialMessageTimeoutMs: number;
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly timers: Timers;
  private readonly m: TransportMetrics;
  private readonly advertisedHost: string;

  private constructor(private readonly opts: SipTransportOptions) {
    this.maxMessageBytes = opts.maxMessageBytes ?? defaultMaxMessageBytes;
    this.maxConnections = opts.maxConnections ?? defaultMaxConnections;
    this.idleTimeoutMs = opts.idleTimeoutMs ?? defaultIdleTimeoutMs;
    this.partialMessageTimeoutMs = opts.partialMessageTimeoutMs ?? defaultPartialMessageTimeoutMs;
    this.logger = opts.logger ?? silentLogger;
    this.clock = opts.clock ?? systemClock;
    this.timers = opts.timers ?? systemTimers;
    this.advertisedHost = opts.advertisedHost ?? advertisableHost(opts.host);
    const metrics = opts.metrics ?? new MetricsRegistry();
    this.m = {
      received: metrics.counter(
        'edgeline_sip_messages_received_total',
        'SIP messages received, by transport and kind',
      ),
      sent: metrics.counter('edgeline_sip_messages_sent_total', 'SIP messages sent, by transport'),
      parseErrors: metrics.counter(
        'edgeline_sip_parse_errors_total',
        'SIP messages that failed to parse or frame, by transport and reason',
      ),
      connections: metrics.gauge(
        'edgeline_sip_transport_connections',
        'Open SIP stream connections, by transport',
      ),
      oversize: metrics.counter(
        'edgeline_sip_oversize_dropped_total',
        'SIP messages dropped for exceeding the size limit, by transport',
      ),
      refused: metrics.counter(
        'edgeline_sip_connections_refused_total',
        'SIP stream connections refused at the connection limit',
      ),
      sendErrors: metrics.counter(
        'edgeline_sip_send_errors_total',
        'SIP messages that could not be sent, by transport',
      ),
    };
  }

  /**
   * Bind UDP, TCP and (with a certificate) TLS. Rejects with `PORT_IN_USE` naming the port and
   * protocol when one is taken, after closing whatever was already bound.
   */
  static async listen(opts: SipTransportOptions): Promise<SipTransports> {
    const t = new SipTransports(opts);
    try {
      await t.bindUdp(opts.udpPort);
      await t.bindStream('tcp', opts.tcpPort);
      if (opts.tls) await t.bindStream('tls', opts.tlsPort);
    } catch (e) {
      await t.close();
      throw e;
    }
    return t;
  }

  /** Host and bound port to write in Via sent-by and Contact for a transport. */
  localSentBy(transport: SipTransportName): { host: string; port: number } {
    const l = this.listeners[transport];
    const configured =
      transport === 'udp' ? this.opts.udpPort : transport === 'tcp' ? this.opts.tcpPort : this.opts.tlsPort;
    return { host: this.advertisedHost, port: l?.port ?? configured };
  }

  /**
   * Send a message. Stream transports use `dest.connectionId` while that connection is open, else
   * an open connection to `address:port`, else a new one (RFC 3261 §18.2.2 fallback). Failures
   * are reported through `onSendError`, never thrown.
   */
  send(msg: SipMessage, dest: SipEndpoint): void {
    this.sendRaw(serializeMessage(msg), dest);
  }

  sendRaw(buf: Buffer, dest: SipEndpoint): void {
    if (this.closed) return this.sendFailed(dest, 'transport closed');
    if (dest.transport === 'udp') return this.sendUdp(buf, dest);
    const conn = this.connectionFor(dest);
    if (!conn) return;
    if (conn.write(buf)) this.m.sent.inc({ transport: dest.transport });
    else this.sendFailed(dest, 'connection not writable');
  }

  dump(): SipTransportsDump {
    return {
      closed: this.closed,
      listening: { ...this.listeners },
      advertisedHost: this.advertisedHost,
      limits: {
        maxMessageBytes: this.maxMessageBytes,
        maxConnections: this.maxConnections,
        idleTimeoutMs: this.idleTimeoutMs,
        partialMessageTimeoutMs: this.partialMessageTimeoutMs,
      },
      handshaking: this.handshaking.size,
      connections: [...this.connections.values()].map((c) => c.dump()),
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const c of [...this.connections.values()]) c.close();
    for (const s of this.handshaking) s.destroy();
    this.handshaking.clear();
    const waits: Array<Promise<void>> = [];
    const udp = this.udp;
    if (udp) {
      waits.push(
        new Promise<void>((resolve) => {
          try {
            udp.close(() => resolve());
          } catch {
            // Never bound (the bind itself failed): nothing to release.
            resolve();
          }
        }),
      );
    }
    for (const server of [this.tcpServer, this.tlsServer]) {
      if (server?.listening) waits.push(new Promise<void>((resolve) => server.close(() => resolve())));
    }
    this.udp = undefined;
    this.tcpServer = undefined;
    this.tlsServer = undefined;
    await Promise.all(waits);
  }

  // ---- binding -------------------------------------------------------------------------------

  private bindUdp(port: number): Promise<void> {
    // Bursts at a thousand calls per second overflow the kernel's default UDP buffers (about
    // 200 KiB) and the lost datagrams come back as retransmissions: ask for 4 MiB each way (the
    // kernel caps it at net.core.rmem_max / wmem_max).
    const socket = createSocket({
      type: isIP(this.opts.host) === 6 ? 'udp6' : 'udp4',
      recvBufferSize: UDP_BUFFER_BYTES,
      sendBufferSize: UDP_BUFFER_BYTES,
    });
    this.udp = socket;
    return new Promise((resolve, reject) => {
      const onBindError = (e: NodeJS.ErrnoException) => reject(bindError(e, port, 'udp'));
      socket.once('error', onBindError);
      socket.bind({ address: this.opts.host, port, exclusive: true }, () => {
        socket.off('error', onBindError);
        // Without an 'error' listener an ICMP port unreachable for an earlier send kills the process.
        socket.on('error', (e) => this.logger.warn({ err: e.message }, 'SIP UDP socket error'));
        socket.on('message', (buf, rinfo) => this.onDatagram(buf, rinfo));
        const a = socket.address();
        this.listeners.udp = { host: a.address, port: a.port };
        resolve();
      });
    });
  }

  private bindStream(transport: StreamTransportName, port: number): Promise<void> {
    let server: Server;
    if (transport === 'tls') {
      const tls = this.opts.tls;
      if (!tls) return Promise.resolve();
      const tlsServer = createTlsServer({
        cert: tls.cert,
        key: tls.key,
        handshakeTimeout: Math.min(this.idleTimeoutMs, 30_000),
      });
      tlsServer.on('connection', (raw: Socket) => this.onTlsRaw(raw));
      tlsServer.on('secureConnection', (s: TLSSocket) => {
        this.handshaking.delete(s);
        this.accept('tls', s);
      });
      tlsServer.on('tlsClientError', (e: Error) => {
        this.m.parseErrors.inc({ transport: 'tls', reason: 'tls-handshake' });
        this.logger.debug({ err: e.message }, 'SIP TLS handshake failed');
      });
      server = tlsServer;
      this.tlsServer = server;
    } else {
      server = createTcpServer((s) => this.accept('tcp', s));
      this.tcpServer = server;
    }
    return new Promise((resolve, reject) => {
      const onListenError = (e: NodeJS.ErrnoException) => reject(bindError(e, port, transport));
      server.once('error', onListenError);
      server.listen({ host: this.opts.host, port, exclusive: true }, () => {
        server.off('error', onListenError);
        server.on('error', (e) => this.logger.warn({ err: e.message, transport }, 'SIP listener error'));
        const a = server.address();
        if (a && typeof a === 'object') this.listeners[transport] = { host: a.address, port: a.port };
        resolve();
      });
    });
  }

  // ---- UDP -----------------------------------------------------------------------------------

  private onDatagram(buf: Buffer, rinfo: RemoteInfo): void {
    if (buf.length > this.maxMessageBytes) {
      this.m.oversize.inc({ transport: 'udp' });
      return;
    }
    // Keepalive datagrams (CRLF, RFC 5626 §4.4.1 peers that do not use STUN) carry no message.
    if (isOnlyCrlf(buf)) return;
    const source: SipEndpoint = { transport: 'udp', address: plainAddress(rinfo.address), port: rinfo.port };
    this.receive(buf, source, (answer) => this.sendUdp(answer, source));
  }

  private sendUdp(buf: Buffer, dest: SipEndpoint): void {
    const socket = this.udp;
    if (!socket) return this.sendFailed(dest, 'UDP is not bound');
    socket.send(buf, dest.port, dest.address, (e) => {
      if (e) this.sendFailed(dest, e.message);
    });
    this.m.sent.inc({ transport: 'udp' });
  }

  // ---- streams -------------------------------------------------------------------------------

  private onTlsRaw(raw: Socket): void {
    if (this.closed || this.connections.size + this.handshaking.size >= this.maxConnections) {
      this.m.refused.inc({ transport: 'tls' });
      raw.destroy();
      return;
    }
    // No handshake for a banned source.
    const from = raw.remoteAddress;
    if (this.opts.admit && from !== undefined && !this.opts.admit(plainAddress(from))) {
      raw.destroy();
      return;
    }
    this.handshaking.add(raw);
    raw.on('error', () => undefined);
    raw.once('close', () => this.handshaking.delete(raw));
  }

  private accept(transport: StreamTransportName, socket: Socket): void {
    socket.on('error', () => undefined);
    const address = socket.remoteAddress;
    const port = socket.remotePort;
    if (this.closed || address === undefined || port === undefined) {
      socket.destroy();
      return;
    }
    if (this.connections.size >= this.maxConnections) {
      this.m.refused.inc({ transport });
      socket.destroy();
      return;
    }
    // A banned source gets no connection at all.
    if (this.opts.admit && !this.opts.admit(plainAddress(address))) {
      socket.destroy();
      return;
    }
    this.register(socket, transport, 'inbound', plainAddress(address), port, true);
  }

  private connectionFor(dest: SipEndpoint): StreamConnection | undefined {
    const transport = dest.transport as StreamTransportName;
    if (dest.connectionId) {
      const pinned = this.connections.get(dest.connectionId);
      if (pinned?.isOpen) return pinned;
    }
    const address = plainAddress(dest.address);
    for (const id of this.byRemote.get(remoteKey(transport, address, dest.port)) ?? []) {
      const c = this.connections.get(id);
      if (c?.isOpen) return c;
    }
    if (this.connections.size >= this.maxConnections) {
      this.sendFailed(dest, 'connection limit reached');
      return undefined;
    }
    const local = this.opts.host === '0.0.0.0' || this.opts.host === '::' ? undefined : this.opts.host;
    let socket: Socket;
    if (transport === 'tls') {
      socket = tlsConnect({
        host: address,
        port: dest.port,
        ...(isIP(address) === 0 ? { servername: address } : {}),
        ...(local ? { localAddress: local } : {}),
        ...this.opts.tlsClient,
      });
    } else {
      socket = tcpConnect({ host: address, port: dest.port, ...(local ? { localAddress: local } : {}) });
    }
    socket.on('error', () => undefined);
    return this.register(socket, transport, 'outbound', address, dest.port, false);
  }

  private register(
    socket: Socket,
    transport: StreamTransportName,
    direction: 'inbound' | 'outbound',
    address: string,
    port: number,
    connected: boolean,
  ): StreamConnection {
    const id = `${transport}-${this.nextConnectionId++}`;
    const key = remoteKey(transport, address, port);
    const conn = new StreamConnection(socket, {
      id,
      transport,
      direction,
      remoteAddress: address,
      remotePort: port,
      connected,
      maxMessageBytes: this.maxMessageBytes,
      idleTimeoutMs: this.idleTimeoutMs,
      partialMessageTimeoutMs: this.partialMessageTimeoutMs,
      maxQueuedWriteBytes,
      clock: this.clock,
      timers: this.timers,
      logger: this.logger,
      hooks: {
        message: (c, bytes) => {
          const source: SipEndpoint = { transport, address, port, connectionId: c.id };
          this.receive(bytes, source, (answer) => c.write(answer));
        },
        frameError: (c, e) => this.onFrameError(c, e),
        connectFailed: (c, e) => this.sendFailed({ transport, address, port, connectionId: c.id }, e.message),
        closed: (c) => {
          if (!this.connections.delete(c.id)) return;
          const ids = this.byRemote.get(key);
          ids?.delete(c.id);
          if (ids?.size === 0) this.byRemote.delete(key);
          this.m.connections.dec({ transport });
        },
      },
    });
    this.connections.set(id, conn);
    let ids = this.byRemote.get(key);
    if (!ids) this.byRemote.set(key, (ids = new Set()));
    ids.add(id);
    this.m.connections.inc({ transport });
    return conn;
  }

  /**
   * The stream cannot be framed: answer where a request can be made out, then close. Without a
   * usable Content-Length (RFC 3261 §18.3: it "MUST be used with stream oriented transports") or
   * within the size limit, the next message boundary is unknown, so nothing more on this
   * connection can be read safely.
   */
  private onFrameError(conn: StreamConnection, e: FrameError): void {
    const transport = conn.transport;
    this.m.parseErrors.inc({ transport, reason: e.reason });
    if (e.reason === 'header-too-large' || e.reason === 'body-too-large') this.m.oversize.inc({ transport });
    const reason =
      e.reason === 'missing-content-length'
        ? 'Missing Content-Length'
        : e.reason === 'bad-content-length'
          ? 'Bad Content-Length'
          : undefined;
    conn.endWith(this.statelessAnswer(e.headerBytes, e.status, reason));
  }

  // ---- shared receive path -------------------------------------------------------------------

  private receive(bytes: Buffer, source: SipEndpoint, reply: (answer: Buffer) => void): void {
    if (this.opts.admit && !this.opts.admit(source.address)) return;
    const parsed = parseMessage(bytes);
    if (!parsed.ok) {
      const error = parsed.error;
      this.m.parseErrors.inc({ transport: source.transport, reason: error.code });
      this.logger.debug({ source, code: error.code, err: error.message }, 'unparseable SIP message');
      // RFC 3261 §16.3 / §8.2: a request that cannot be processed is answered with 400 (or the
      // status the parser chose); a response that cannot be parsed is silently dropped.
      const answer = error.partial?.method === 'ACK' ? undefined : createErrorResponse(error);
      if (answer) this.sendStateless(serializeMessage(answer), source, reply);
      return;
    }
    const msg = parsed.value;
    this.m.received.inc({ transport: source.transport, kind: msg.kind });
    if (msg.kind === 'request') stampReceived(msg, source);
    try {
      this.onMessage(msg, source);
    } catch (e) {
      this.logger.error(
        { err: e instanceof Error ? e.message : String(e), source },
        'SIP message handler failed',
      );
    }
  }

  /** An answer built from as much of a request as can be made out of a header section. */
  private statelessAnswer(
    headerBytes: Buffer,
    status: number,
    reason: string | undefined,
  ): Buffer | undefined {
    if (headerBytes.length === 0) return undefined;
    const parsed = parseMessage(headerBytes);
    if (parsed.ok)
      return parsed.value.kind === 'request' ? this.answerFor(parsed.value, status, reason) : undefined;
    const partial = parsed.error.partial;
    return partial ? this.answerFor(partialRequest(partial), status, reason) : undefined;
  }

  private answerFor(req: SipRequest, status: number, reason: string | undefined): Buffer | undefined {
    // RFC 3261 §17.1.1.3: an ACK is never answered.
    if (req.method === 'ACK') return undefined;
    try {
      // RFC 3261 §8.2.6.2: a final response carries a To tag.
      return serializeMessage(createResponse(req, status, reason, { toTag: generateTag() }));
    } catch (e) {
      this.logger.debug({ err: e instanceof Error ? e.message : String(e) }, 'cannot build stateless answer');
      return undefined;
    }
  }

  private sendStateless(answer: Buffer, source: SipEndpoint, reply: (answer: Buffer) => void): void {
    reply(answer);
    if (source.transport !== 'udp') this.m.sent.inc({ transport: source.transport });
  }

  private sendFailed(dest: SipEndpoint, message: string): void {
    this.m.sendErrors.inc({ transport: dest.transport });
    this.logger.debug({ dest, err: message }, 'SIP send failed');
    try {
      this.onSendError(
        dest,
        new EdgeError(
          ErrorCodes.SIP_TRANSPORT,
          `cannot send to ${dest.transport}:${dest.address}:${dest.port}: ${message}`,
          { dest },
        ),
      );
    } catch (e) {
      this.logger.error({ err: e instanceof Error ? e.message : String(e) }, 'SIP send-error handler failed');
    }
  }
}

function partialRequest(partial: {
  method: string;
  uri: string;
  headers: SipRequest['headers'];
}): SipRequest {
  return {
    kind: 'request',
    method: partial.method,
    uri: partial.uri,
    version: 'SIP/2.0',
    headers: partial.headers,
    body: Buffer.alloc(0),
  };
}

function bindError(e: NodeJS.ErrnoException, port: number, protocol: SipTransportName): EdgeError {
  if (e.code === 'EADDRINUSE') {
    return new EdgeError(ErrorCodes.PORT_IN_USE, `SIP port ${port}/${protocol} is already in use`, {
      port,
      protocol,
    });
  }
  return new EdgeError(ErrorCodes.SIP_TRANSPORT, `cannot bind SIP port ${port}/${protocol}: ${e.message}`, {
    port,
    protocol,
    cause: e.code,
  });
}

function remoteKey(transport: StreamTransportName, address: string, port: number): string {
  return `${transport}|${address.toLowerCase()}|${port}`;
}

function isOnlyCrlf(buf: Buffer): boolean {
  for (const b of buf) if (b !== 0x0d && b !== 0x0a) return false;
  return true;
}

function advertisableHost(bindHost: string): string {
  if (bindHost !== '0.0.0.0' && bindHost !== '::') return bindHost;
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}
