/**
 * One anchored leg inside a relay worker: its RTP and RTCP sockets, latching with strict source
 * afterwards, and the forwarding hot path to the bridged leg.
 *
 * RFC 4961 §3: "A device supporting symmetric RTP MUST transmit RTP packets ... using the same
 * source port as the port on which it receives", so the source of a leg's first packet is where
 * its media goes back (latching, RFC 7362 §4), whatever its SDP said behind a NAT. RFC 7362 §5.1
 * warns that whoever sends first can hijack a latched stream; after latching, datagrams from any
 * other source are dropped and counted.
 *
 * The hot path rewrites the received datagram in place (payload type, G.711 law by table: both
 * laws code one sample per octet, so the payload keeps its length) and sends that same buffer
 * out: no allocation of ours per packet on a plain leg.
 *
 * The gateway is an RTP translator that terminates each leg: what it sends on a leg is its own
 * stream, with its own SSRC and a sequence number and timestamp that continue across source
 * changes. RFC 3550 §8.2 lets a receiver treat a new SSRC as a new participant, and many phones
 * then mute, glitch or hold a stale jitter buffer; a transfer or re-INVITE that brings another
 * device (another SSRC, other sequence numbers) behind the far leg would otherwise reach the
 * phone as exactly that. On a source change the offsets are rebased so the sequence continues at
 * last + 1 and the timestamp advances by the time elapsed, with the marker bit set (RFC 3551 §4.1:
 * the start of a talkspurt) so the receiver's playout adapts once. Frames the gateway originates
 * (`sendFrame`) go on the same stream. Because the stream is ours, so is its RTCP: each leg runs
 * its own reporter (RFC 3550 §7.1 translators that change SSRCs must) instead of relaying.
 *
 * Sending is the cost of the hot path (a syscall per packet, the kernel's loopback or NIC work
 * inside it). Once latched, a leg sends through a UDP socket CONNECTED to the latched source: the
 * kernel keeps the route instead of looking it up per datagram, and Node skips its address
 * resolution step (a `process.nextTick` per send even for an IP literal). That connected socket is
 * a second socket on the leg's own port (both bound with SO_REUSEADDR): Linux delivers a datagram
 * to the socket whose connected peer matches it, and everything else to the unconnected one, so
 * packets from a foreign source still reach the leg and are counted (RFC 7362 §5.1) rather than
 * vanishing in the kernel. Sends carry no callback (another nextTick each); an ICMP port
 * unreachable surfaces as the connected socket's 'error' event and is counted as a send error.
 *
 * SRTP (RFC 3711) is terminated per leg: a leg unprotects what its peer sends with the peer's key
 * and protects what it sends with ours, so one leg may be SRTP while the other is plain RTP.
 *
 * A leg may have no sockets at all: one whose only peer is another leg of the same worker, wired
 * to it (`wire`) — a PSTN channel's frame leg and the media leg of the app that answered it, or two
 * PSTN channels talking. Such a leg holds no port pair; it gets its sockets (`attachSockets`) only
 * when a party on the network needs an address for it.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { systemClock, systemTimers, type Clock, type Timers } from '../../../../base/clock.ts';
import {
  alawToLinear,
  encodeG711,
  linearToAlaw,
  linearToUlaw,
  ulawToLinear,
  type G711Law,
} from '../../../../base/signal/g711.ts';
import { emptyRtpView, parseRtp, RTP_HEADER_BYTES, type RtpView } from './rtp-packet.ts';
import type { RtpAddress } from './rtp-latch.ts';
import { RtcpReporter, RtpReceiveStats, RtpSendStats } from './rtp-stats.ts';
import { SrtpContext, type SrtpDropReason } from '../srtp/srtp.ts';
import { splitKeySalt } from '../srtp/sdes.ts';
import {
  MAX_DATAGRAM_BYTES,
  type DropCounters,
  type LegQuality,
  type LegSrtpKeys,
  type RelayLegStats,
} from '../worker/worker-protocol.ts';

/** Octet → octet transcoding tables: a sample decoded with one law and encoded with the other. */
export const ULAW_TO_ALAW = new Uint8Array(256);
export const ALAW_TO_ULAW = new Uint8Array(256);
for (let c = 0; c < 256; c++) {
  ULAW_TO_ALAW[c] = linearToAlaw(ulawToLinear(c));
  ALAW_TO_ULAW[c] = linearToUlaw(alawToLinear(c));
}

const LAW_NONE = -1;
const LAW_PCMU = 0;
const LAW_PCMA = 1;
const LAW_TE = 2;

/**
 * What a processing block plugged into a leg sees: every accepted RTP packet from the leg's peer
 * (a view over the datagram, valid only during the call). Returning false consumes the packet
 * (it is not forwarded): a DTMF detector passes, a player or mixer taking the leg over consumes.
 */
export type PacketHook = (leg: RelayLeg, datagram: Buffer, view: RtpView) => boolean;

export interface RelayLegEvents {
  latched(leg: RelayLeg, kind: 'rtp' | 'rtcp', source: RtpAddress): void;
}

export interface RelayLegOptions {
  /**
   * Send through a socket connected to the latched source (see the file comment). The RTP socket
   * must be bound with `reuseAddr` for its connected sibling to share the port; otherwise the leg
   * keeps sending unconnected.
   */
  connectAfterLatch?: boolean;
  /** Time for RTCP, jitter and rebasing; the system clock by default (this is the I/O shell). */
  clock?: Clock;
  timers?: Timers;
  /** RFC 3550 §6.2 report interval; 5 s by default. */
  rtcpIntervalMs?: number;
  /** §6.5.1 CNAME of our reports. */
  cname?: string;
}

/** Send buffers of a protecting leg: a datagram handed to the kernel is not reused for this many sends. */
const SRTP_SEND_RING = 8;
const SRTP_SEND_BYTES = MAX_DATAGRAM_BYTES + 64;

interface LegSrtp {
  keys: LegSrtpKeys;
  /** The peer's key: what this leg receives. */
  inbound: SrtpContext;
  /** Our key: what this leg sends. */
  outbound: SrtpContext;
  ring: Buffer[];
  next: number;
  rtcpOut: Buffer;
  dropped: Record<SrtpDropReason, number>;
}

function srtpContexts(keys: LegSrtpKeys): LegSrtp {
  const remote = splitKeySalt(keys.suite, Buffer.from(keys.remoteKey, 'base64'));
  const local = splitKeySalt(keys.suite, Buffer.from(keys.localKey, 'base64'));
  return {
    keys,
    inbound: new SrtpContext(keys.suite, remote.masterKey, remote.masterSalt),
    outbound: new SrtpContext(keys.suite, local.masterKey, local.masterSalt),
    ring: [],
    next: 0,
    rtcpOut: Buffer.alloc(1500),
    dropped: { truncated: 0, auth: 0, replay: 0, 'replay-old': 0, 'not-rtp': 0 },
  };
}

function newDrops(): DropCounters {
  return { truncated: 0, oversized: 0, notRtp: 0, foreignSource: 0, noPeer: 0, noCodec: 0, badRtcp: 0 };
}

export class RelayLeg {
  peer: RelayLeg | undefined;
  /**
   * A leg of this worker that this leg's RTP goes to and comes from without a socket: the two
   * legs' SDPs name each other's ports on this host (a frame leg and the B2BUA's anchored leg
   * facing it), so what one would send over loopback is handed to the other's receive path.
   * Same bytes, same rewriting and counters; two sends and two receives per packet saved.
   */
  wire: RelayLeg | undefined;
  /** Plug-in point for per-leg processing (DTMF detection, recording taps, players). */
  onPacket: PacketHook | undefined;
  rx = 0;
  tx = 0;
  rxBytes = 0;
  txBytes = 0;
  transcoded = 0;
  rtcpRx = 0;
  rtcpTx = 0;
  sendErrors = 0;
  readonly dropped: DropCounters = newDrops();
  /** Where this leg's media goes: SDP address until latched, then the latched source. */
  private target: RtpAddress | undefined;
  private rtcpTarget: RtpAddress | undefined;
  private latched = false;
  /** When the first RTP packet of this leg arrived (worker clock): where a recording places it. */
  private firstRtpAtMs: number | undefined;
  private rtcpLatched = false;
  /** The socket connected to the latched source, once bound and connected (see the file comment). */
  private connectedRtp: Socket | undefined;
  /** That socket while it binds and connects. */
  private connecting: Socket | undefined;
  /** Connecting failed (the port is not shared): the leg sends unconnected. */
  private connectFailed = false;
  private sendEnabled = false;
  /** Payload type → law of packets this leg sends us. */
  private readonly ptLaw = new Int8Array(128).fill(LAW_NONE);
  /** Law → payload type this leg receives (index LAW_PCMU, LAW_PCMA, LAW_TE), −1 when not negotiated. */
  private readonly lawPt = new Int16Array([-1, -1, -1]);
  private sendLawCode = LAW_NONE;
  private codecsDump: RelayLegStats['codecs'] = { pcmu: -1, pcma: -1, telephoneEvent: -1, sendLaw: null };
  private readonly view = emptyRtpView();
  /** Dead-media watch: 0 = off. Silence is counted in sweeps, never by a clock read per packet. */
  deadMediaMs = 0;
  private silentMs = 0;
  private rxAtLastSweep = 0;
  dead = false;
  private closed = false;
  /** Frames the gateway originates on this leg (`sendFrame`), on the leg's own stream. */
  private readonly frameBuf = Buffer.alloc(RTP_HEADER_BYTES + 160 + 16);
  private frameBusy = false;
  /** The stream we send on this leg: our SSRC, the last sequence number and timestamp sent. */
  private readonly outSsrc: number;
  private outSeq: number;
  private outTs: number;
  private outAtMs = 0;
  private outStarted = false;
  /** The source currently mapped onto our stream and its offsets; a new source rebases them. */
  private srcSsrc = -1;
  private seqDelta = 0;
  private tsDelta = 0;
  private sourceChanges = 0;
  private srtp: LegSrtp | undefined;
  private readonly clock: Clock;
  private readonly rxStats = new RtpReceiveStats();
  private readonly txStats = new RtpSendStats();
  private readonly reporter: RtcpReporter;
  private reporterStarted = false;
  /** Arrival time of the packet being forwarded, read once per packet. */
  private nowMs = 0;

  private rtpSocket: Socket | undefined;
  private rtcpSocket: Socket | undefined;
  private port = 0;

  /** `rtp`/`rtcp` undefined: a leg without sockets, reached only through `wire` until `attachSockets`. */
  constructor(
    readonly legId: number,
    localPort: number,
    rtp: Socket | undefined,
    rtcp: Socket | undefined,
    private readonly events: RelayLegEvents,
    private readonly opts: RelayLegOptions = {},
  ) {
    if (rtp && rtcp) this.attachSockets(localPort, rtp, rtcp);
    this.clock = opts.clock ?? systemClock;
    // RFC 3550 §5.1: "The initial value of the sequence number SHOULD be random"; §5.1 timestamp:
    // "the initial value of the timestamp SHOULD be random"; §8.1 SSRC chosen at random.
    this.outSsrc = (Math.random() * 0x1_0000_0000) >>> 0;
    this.outSeq = (Math.random() * 0x10000) & 0xffff;
    this.outTs = (Math.random() * 0x1_0000_0000) >>> 0;
    this.reporter = new RtcpReporter({
      clock: this.clock,
      timers: opts.timers ?? systemTimers,
      localSsrc: this.outSsrc,
      cname: opts.cname ?? `edgeline@${rtp?.address().address ?? 'localhost'}`,
      receive: this.rxStats,
      send: this.txStats,
      transmit: this.sendRtcp,
      intervalMs: opts.rtcpIntervalMs,
    });
  }

  /** The leg's port pair, bound (a leg opened without sockets gets them when it needs an address). */
  attachSockets(localPort: number, rtp: Socket, rtcp: Socket): void {
    if (this.rtpSocket || this.closed) return;
    this.port = localPort;
    this.rtpSocket = rtp;
    this.rtcpSocket = rtcp;
    rtp.on('message', this.onRtp);
    rtcp.on('message', this.onRtcp);
    // Without a callback a failed send surfaces here (and an 'error' without a listener would end
    // the thread).
    rtp.on('error', this.onSocketError);
    rtcp.on('error', this.onSocketError);
  }

  /** The RTP port; 0 while the leg has no sockets. */
  get localPort(): number {
    return this.port;
  }

  /**
   * Send a datagram the leg's service built (an echo, the milliwatt) to `to`, or to the wired leg
   * when there is one. `done` is called once the buffer may be reused.
   */
  sendDatagram(buf: Buffer, len: number, to: RtpAddress | undefined, done?: (e: Error | null) => void): void {
    if (this.closed) return done?.(null);
    if (this.wire !== undefined) {
      this.wire.receiveWired(buf.subarray(0, len));
      return done?.(null);
    }
    const s = this.rtpSocket;
    if (!s || !to) return done?.(null);
    s.send(buf, 0, len, to.port, to.address, done ?? this.onSent);
  }

  setRemote(rtp: RtpAddress | null, rtcp: RtpAddress | null): void {
    this.sendEnabled = rtp !== null;
    // A latched source stays: RFC 4961 symmetric RTP makes it the better address than the SDP's.
    if (!this.latched) this.target = rtp ?? undefined;
    if (!this.rtcpLatched) this.rtcpTarget = rtcp ?? undefined;
    if (this.sendEnabled && !this.reporterStarted && !this.closed) {
      this.reporterStarted = true;
      this.reporter.start();
    }
  }

  /**
   * Terminate SRTP with these keys, or stop (null). The same keys again keep the contexts: their
   * rollover counters and replay windows (RFC 3711 §3.2.1) must survive a repeated answer or a
   * re-INVITE that keeps the key.
   */
  setSrtp(keys: LegSrtpKeys | null): void {
    const cur = this.srtp?.keys;
    if (
      keys !== null &&
      cur !== undefined &&
      cur.suite === keys.suite &&
      cur.localKey === keys.localKey &&
      cur.remoteKey === keys.remoteKey
    )
      return;
    const before = this.srtp;
    this.srtp = keys === null ? undefined : srtpContexts(keys);
    // Drops seen under earlier keys stay counted.
    if (before && this.srtp) Object.assign(this.srtp.dropped, before.dropped);
    before?.inbound.close();
    before?.outbound.close();
  }

  /** The call is answered: from now on silence counts even if the peer never sent. */
  watchFromAnswer = false;

  setCodecs(pcmu: number, pcma: number, telephoneEvent: number, sendLaw: G711Law | null): void {
    this.ptLaw.fill(LAW_NONE);
    if (pcmu >= 0 && pcmu < 128) this.ptLaw[pcmu] = LAW_PCMU;
    if (pcma >= 0 && pcma < 128) this.ptLaw[pcma] = LAW_PCMA;
    if (telephoneEvent >= 0 && telephoneEvent < 128) this.ptLaw[telephoneEvent] = LAW_TE;
    this.lawPt[LAW_PCMU] = pcmu;
    this.lawPt[LAW_PCMA] = pcma;
    this.lawPt[LAW_TE] = telephoneEvent;
    this.sendLawCode = sendLaw === 'pcmu' ? LAW_PCMU : sendLaw === 'pcma' ? LAW_PCMA : LAW_NONE;
    this.codecsDump = { pcmu, pcma, telephoneEvent, sendLaw };
  }

  private readonly onRtp = (datagram: Buffer, rinfo: RemoteInfo): void => {
    if (this.closed) return;
    let msg = datagram;
    if (msg.length > MAX_DATAGRAM_BYTES) {
      this.dropped.oversized++;
      return;
    }
    let parsed = parseRtp(msg, this.view);
    if (!parsed.ok) {
      if (parsed.error.code === 'EDGE_ERR_RTP_VERSION' || parsed.error.code === 'EDGE_ERR_RTP_RTCP')
        this.dropped.notRtp++;
      else this.dropped.truncated++;
      return;
    }
    const t = this.target;
    if (this.latched && (t === undefined || rinfo.port !== t.port || rinfo.address !== t.address)) {
      this.dropped.foreignSource++;
      return;
    }
    const srtp = this.srtp;
    if (srtp !== undefined) {
      // RFC 3711 §3.3: authenticate and replay-check before anything is done with the packet —
      // latching included, so a forged packet cannot steer the leg.
      const r = srtp.inbound.unprotect(msg, msg.length);
      if (!r.ok) {
        srtp.dropped[r.error.reason]++;
        return;
      }
      msg = msg.subarray(0, r.value);
      parsed = parseRtp(msg, this.view);
      if (!parsed.ok) {
        this.dropped.truncated++;
        return;
      }
    }
    if (!this.latched) this.latch(rinfo);
    this.rx++;
    this.rxBytes += datagram.length;
    const now = this.clock.now();
    this.rxStats.onRtp(this.view, now);
    this.deliver(msg, now);
  };

  /** The processing hook, then the bridged leg: what every accepted packet goes through. */
  private deliver(msg: Buffer, now: number): void {
    if (this.onPacket !== undefined && !this.onPacket(this, msg, this.view)) return;
    const peer = this.peer;
    if (peer === undefined) {
      this.dropped.noPeer++;
      return;
    }
    peer.nowMs = now;
    peer.forward(msg, this.view, this.ptLaw[this.view.payloadType] ?? LAW_NONE);
  }

  /**
   * A packet from the leg wired to this one (see `wire`): its source is known, and the pair is
   * plain RTP (the engine wires only legs without SRTP), so latching and unprotecting do not apply.
   */
  receiveWired(msg: Buffer): void {
    if (this.closed) return;
    if (!parseRtp(msg, this.view).ok) {
      this.dropped.truncated++;
      return;
    }
    this.rx++;
    this.rxBytes += msg.length;
    const now = this.clock.now();
    this.rxStats.onRtp(this.view, now);
    this.deliver(msg, now);
  }

  private latch(rinfo: RemoteInfo): void {
    this.latched = true;
    this.firstRtpAtMs ??= this.clock.now();
    this.target = { address: rinfo.address, port: rinfo.port };
    if (this.opts.connectAfterLatch) this.connectTo(this.target);
    this.events.latched(this, 'rtp', this.target);
  }

  /** Open the connected sibling of the RTP socket on the same port (see the file comment). */
  private connectTo(to: RtpAddress): void {
    let local: { address: string; family: string; port: number };
    try {
      if (!this.rtpSocket) return;
      local = this.rtpSocket.address();
    } catch {
      return;
    }
    const s = createSocket({ type: local.family === 'IPv6' ? 'udp6' : 'udp4', reuseAddr: true });
    this.connecting = s;
    const giveUp = (): void => {
      if (this.connecting === s) this.connecting = undefined;
      this.connectFailed = true;
      try {
        s.close();
      } catch {
        // not bound
      }
    };
    s.on('error', () => {
      // Before it is connected: the port is not shared (or it went away); send unconnected.
      if (this.connectedRtp !== s) giveUp();
      else this.onSocketError();
    });
    // What the kernel hands this socket is the latched source's: the same receive path.
    s.on('message', this.onRtp);
    s.bind(local.port, local.address, () => {
      if (this.closed || this.connecting !== s) return giveUp();
      s.connect(to.port, to.address, () => {
        if (this.closed || this.connecting !== s) return giveUp();
        this.connecting = undefined;
        this.connectedRtp = s;
      });
    });
  }

  /** How this leg sends once latched: through its connected socket, or not (yet). */
  get connectState(): 'connected' | 'connecting' | 'unconnected' | 'failed' {
    if (this.connectedRtp) return 'connected';
    if (this.connecting) return 'connecting';
    return this.connectFailed ? 'failed' : 'unconnected';
  }

  private readonly onSocketError = (): void => {
    this.sendErrors++;
  };

  /** Send a packet that arrived on the bridged leg to this leg's peer, rewritten for this leg. */
  private forward(msg: Buffer, view: RtpView, law: number): void {
    const t = this.target;
    if (this.closed || (this.wire === undefined && (!this.sendEnabled || t === undefined))) {
      this.dropped.noPeer++;
      return;
    }
    if (law !== LAW_NONE) {
      let pt = this.lawPt[law] ?? -1;
      if (pt < 0 && law !== LAW_TE && this.sendLawCode !== LAW_NONE) {
        // The packet's law is not one this leg negotiated: transcode to the law it did.
        const table = law === LAW_PCMU ? ULAW_TO_ALAW : ALAW_TO_ULAW;
        const end = view.payloadOffset + view.payloadLength;
        for (let i = view.payloadOffset; i < end; i++) msg[i] = table[msg[i] ?? 0] ?? 0;
        pt = this.lawPt[this.sendLawCode] ?? -1;
        this.transcoded++;
      }
      if (pt < 0) {
        this.dropped.noCodec++;
        return;
      }
      msg[1] = ((msg[1] ?? 0) & 0x80) | pt;
    }
    // Formats outside the tables (comfort noise, codecs both sides share) pass untouched.
    this.mapOntoOwnStream(msg, view);
    this.txStats.onSent(this.outSsrc, this.outTs, view.payloadLength, this.nowMs);
    this.transmitRtp(msg, t);
  }

  /**
   * Rewrite the header of a forwarded packet onto this leg's own stream (see the file comment).
   * A packet of the current source keeps its spacing: offsets are constant until the source
   * changes, so reordering and loss on the near leg stay visible to the far receiver as they were.
   */
  private mapOntoOwnStream(msg: Buffer, view: RtpView): void {
    if (view.ssrc !== this.srcSsrc) this.rebase(msg, view.ssrc, view.sequenceNumber, view.timestamp);
    const seq = (view.sequenceNumber + this.seqDelta) & 0xffff;
    const ts = (view.timestamp + this.tsDelta) >>> 0;
    msg[2] = seq >>> 8;
    msg[3] = seq & 0xff;
    msg.writeUInt32BE(ts, 4);
    msg.writeUInt32BE(this.outSsrc, 8);
    // Only a newer packet advances the stream; a late one is sent as it is numbered.
    if (!this.outStarted || ((seq - this.outSeq) & 0xffff) < 0x8000) {
      this.outSeq = seq;
      this.outTs = ts;
      this.outAtMs = this.nowMs;
      this.outStarted = true;
    }
  }

  private rebase(msg: Buffer, ssrc: number, seq: number, ts: number): void {
    if (this.outStarted) {
      // Continue where our stream stands, the timestamp advanced by the real time elapsed (at
      // least one packet's worth) so the receiver's playout clock stays right.
      const elapsed = Math.max(160, Math.round((this.nowMs - this.outAtMs) * 8));
      this.seqDelta = (this.outSeq + 1 - seq) & 0xffff;
      this.tsDelta = (this.outTs + elapsed - ts) >>> 0;
      this.sourceChanges++;
    } else {
      this.seqDelta = (this.outSeq - seq) & 0xffff;
      this.tsDelta = (this.outTs - ts) >>> 0;
    }
    this.srcSsrc = ssrc;
    msg[1] = (msg[1] ?? 0) | 0x80;
  }

  /** Send `msg` to `t`, protected with our SRTP key when the leg is secure. */
  private transmitRtp(msg: Buffer, t: RtpAddress | undefined): void {
    const srtp = this.srtp;
    let out = msg;
    let len = msg.length;
    if (srtp !== undefined) {
      // The received datagram has no room for the tag: a small ring of send buffers serves.
      let buf = srtp.ring[srtp.next];
      if (buf === undefined) {
        buf = Buffer.alloc(SRTP_SEND_BYTES);
        srtp.ring[srtp.next] = buf;
      }
      srtp.next = (srtp.next + 1) % SRTP_SEND_RING;
      msg.copy(buf, 0, 0, len);
      len = srtp.outbound.protect(buf, len);
      if (len === 0) {
        this.dropped.truncated++;
        return;
      }
      out = buf;
    }
    this.tx++;
    this.txBytes += len;
    const c = this.connectedRtp;
    if (this.wire !== undefined) this.wire.receiveWired(out.subarray(0, len));
    else if (c !== undefined) {
      if (len === out.length) c.send(out);
      else c.send(out, 0, len);
    } else if (t !== undefined) this.rtpSocket?.send(out, 0, len, t.port, t.address);
  }

  private readonly onSent = (e: Error | null): void => {
    if (e) this.sendErrors++;
  };

  private readonly onRtcp = (datagram: Buffer, rinfo: RemoteInfo): void => {
    if (this.closed) return;
    let msg = datagram;
    // RFC 3550 §6.4.1: every RTCP packet starts with V=2 and a length in 32-bit words minus one;
    // a compound packet starts with SR or RR (§6.1), though a lone APP or BYE is seen in the wild.
    const b0 = msg[0] ?? 0;
    const words = (((msg[2] ?? 0) << 8) | (msg[3] ?? 0)) + 1;
    if (msg.length < 8 || msg.length > MAX_DATAGRAM_BYTES || b0 >> 6 !== 2 || words * 4 > msg.length) {
      this.dropped.badRtcp++;
      return;
    }
    if (this.rtcpLatched) {
      const t = this.rtcpTarget;
      if (t === undefined || rinfo.port !== t.port || rinfo.address !== t.address) {
        this.dropped.foreignSource++;
        return;
      }
    }
    const srtp = this.srtp;
    if (srtp !== undefined) {
      // RFC 3711 §3.4: SRTCP is authenticated with the peer's key like SRTP.
      const r = srtp.inbound.unprotectRtcp(msg, msg.length);
      if (!r.ok) {
        srtp.dropped[r.error.reason]++;
        return;
      }
      msg = msg.subarray(0, r.value);
    }
    if (!this.rtcpLatched) {
      this.rtcpLatched = true;
      this.rtcpTarget = { address: rinfo.address, port: rinfo.port };
      this.events.latched(this, 'rtcp', this.rtcpTarget);
    }
    this.rtcpRx++;
    // Terminated, not relayed: the far leg gets our own reports about our own stream.
    if (!this.reporter.onRtcp(msg).ok) this.dropped.badRtcp++;
  };

  /** The reporter's transmit port: our compound to the peer's RTCP address, SRTCP when secure. */
  private readonly sendRtcp = (buf: Buffer, len: number): void => {
    const to = this.rtcpTarget;
    if (to === undefined || !this.sendEnabled || this.closed) return;
    let out = buf;
    let n = len;
    const srtp = this.srtp;
    if (srtp !== undefined) {
      buf.copy(srtp.rtcpOut, 0, 0, len);
      n = srtp.outbound.protectRtcp(srtp.rtcpOut, len);
      if (n === 0) return;
      out = srtp.rtcpOut;
    }
    if (!this.rtcpSocket) return;
    this.rtcpSocket.send(out, 0, n, to.port, to.address, this.onSent);
    this.rtcpTx++;
  };

  /**
   * Send one 20 ms frame (160 linear samples at 8 kHz) the gateway originates on this leg, in
   * the law this leg receives, on the gateway's own SSRC (RFC 3550 §8.1). The frame buffer is
   * reused; a frame offered while the previous one is still in the kernel's hands is skipped.
   */
  /** Each frame `sendFrame` sends, with its RTP timestamp (a recording of what the leg says). */
  onOwnFrame: ((frame: Int16Array, timestamp: number) => void) | undefined;

  sendFrame(frame: Int16Array): boolean {
    const t = this.target;
    const law = this.sendLawCode;
    if (this.closed || law === LAW_NONE || this.frameBusy) return false;
    if (this.wire === undefined && (!this.sendEnabled || t === undefined)) return false;
    const now = this.clock.now();
    const buf = this.frameBuf;
    // Our own stream continues: one frame after the last packet, or the time elapsed since.
    const step = this.outStarted ? Math.max(160, Math.round((now - this.outAtMs) * 8)) : 160;
    const gap = this.outStarted && step > 200;
    this.outSeq = (this.outSeq + 1) & 0xffff;
    this.outTs = (this.outTs + (this.outStarted ? (gap ? step : 160) : 0)) >>> 0;
    this.outAtMs = now;
    const marker = !this.outStarted || gap;
    this.outStarted = true;
    // Relayed packets that follow continue from here.
    this.srcSsrc = -1;
    buf[0] = 0x80;
    buf[1] = (marker ? 0x80 : 0) | ((this.lawPt[law] ?? 0) & 0x7f);
    buf[2] = this.outSeq >>> 8;
    buf[3] = this.outSeq & 0xff;
    buf.writeUInt32BE(this.outTs, 4);
    buf.writeUInt32BE(this.outSsrc, 8);
    const n = encodeG711(
      law === LAW_PCMU ? 'pcmu' : 'pcma',
      frame,
      buf.subarray(RTP_HEADER_BYTES, RTP_HEADER_BYTES + 160),
    );
    this.txStats.onSent(this.outSsrc, this.outTs, n, now);
    this.onOwnFrame?.(frame, this.outTs);
    let len = RTP_HEADER_BYTES + n;
    const srtp = this.srtp;
    if (srtp !== undefined) {
      len = srtp.outbound.protect(buf, len);
      if (len === 0) return false;
    }
    this.tx++;
    this.txBytes += len;
    if (this.wire !== undefined) {
      // Handed over synchronously: the buffer is free again when this returns.
      this.wire.receiveWired(buf.subarray(0, len));
      return true;
    }
    const s = this.rtpSocket;
    if (!s || t === undefined) return false;
    this.frameBusy = true;
    s.send(buf, 0, len, t.port, t.address, this.onFrameSent);
    return true;
  }

  private readonly onFrameSent = (e: Error | null): void => {
    this.frameBusy = false;
    if (e) this.sendErrors++;
  };

  /** RTP timestamp of the gateway's own stream: that of the last frame sent (`sendFrame`). */
  get ownTimestamp(): number {
    return this.outTs;
  }

  /**
   * Send one packet of the gateway's own stream with a payload built elsewhere (the RFC 4733
   * telephone-events of digits heard on a PSTN line): our SSRC and next sequence number, the
   * caller's payload type, marker and timestamp (RFC 4733 §2.5.1.2: the event's start). Events
   * are rare, so each packet has its own buffer.
   */
  sendOwnPacket(payloadType: number, marker: boolean, timestamp: number, payload: Uint8Array): boolean {
    const t = this.target;
    if (this.closed || payloadType < 0) return false;
    if (this.wire === undefined && (!this.sendEnabled || t === undefined)) return false;
    const buf = Buffer.alloc(RTP_HEADER_BYTES + payload.length + 16);
    this.outSeq = (this.outSeq + 1) & 0xffff;
    buf[0] = 0x80;
    buf[1] = (marker ? 0x80 : 0) | (payloadType & 0x7f);
    buf[2] = this.outSeq >>> 8;
    buf[3] = this.outSeq & 0xff;
    buf.writeUInt32BE(timestamp >>> 0, 4);
    buf.writeUInt32BE(this.outSsrc, 8);
    buf.set(payload, RTP_HEADER_BYTES);
    let len = RTP_HEADER_BYTES + payload.length;
    const srtp = this.srtp;
    if (srtp !== undefined) {
      len = srtp.outbound.protect(buf, len);
      if (len === 0) return false;
    }
    this.tx++;
    if (this.wire !== undefined) this.wire.receiveWired(buf.subarray(0, len));
    else if (t !== undefined) this.rtpSocket?.send(buf, 0, len, t.port, t.address, this.onSent);
    return true;
  }

  /** Advance the dead-media watch by `elapsedMs`; true the first time the leg is found dead. */
  sweep(elapsedMs: number): boolean {
    if (this.rx !== this.rxAtLastSweep) {
      this.rxAtLastSweep = this.rx;
      this.silentMs = 0;
      this.dead = false;
      return false;
    }
    // A leg is watched once it has sent something or once the call is answered: before either,
    // the call may still ring, and its silence is not counted.
    if (this.rx === 0 && !this.watchFromAnswer) {
      this.silentMs = 0;
      return false;
    }
    this.silentMs += elapsedMs;
    if (this.deadMediaMs <= 0 || this.dead) return false;
    if (this.silentMs < this.deadMediaMs) return false;
    this.dead = true;
    return true;
  }

  get silenceMs(): number {
    return this.silentMs;
  }

  stats(): RelayLegStats {
    return {
      legId: this.legId,
      localPort: this.localPort,
      rx: this.rx,
      tx: this.tx,
      rxBytes: this.rxBytes,
      txBytes: this.txBytes,
      transcoded: this.transcoded,
      rtcpRx: this.rtcpRx,
      rtcpTx: this.rtcpTx,
      dropped: { ...this.dropped },
      sendErrors: this.sendErrors,
      latched: this.latched && this.target ? { ...this.target } : null,
      firstRtpAtMs: this.firstRtpAtMs ?? null,
      latchedRtcp: this.rtcpLatched && this.rtcpTarget ? { ...this.rtcpTarget } : null,
      codecs: { ...this.codecsDump },
      dead: this.dead,
      srtp: this.srtp
        ? {
            suite: this.srtp.keys.suite,
            unprotected: this.srtp.inbound.dump().unprotectedRtp + this.srtp.inbound.dump().unprotectedRtcp,
            protected: this.srtp.outbound.dump().protectedRtp + this.srtp.outbound.dump().protectedRtcp,
            dropped: { ...this.srtp.dropped },
          }
        : null,
      outStream: { ssrc: this.outSsrc, sourceChanges: this.sourceChanges },
      wired: this.wire !== undefined,
      quality: this.quality(),
    };
  }

  /** Quality of the stream this leg receives, with what the peer reports about ours. */
  quality(): LegQuality {
    const d = this.reporter.dump();
    const q = d.quality;
    const rb = d.remoteReport;
    return {
      received: d.receive.totalReceived,
      expected: d.receive.totalExpected,
      lost: Math.max(0, d.receive.totalLost),
      lossPercent: round2(q.lossPercent),
      jitterMs: round2(q.jitterMs),
      maxJitterMs: round2(d.receive.maxJitterMs),
      rttMs: q.rttMs === undefined ? null : round2(q.rttMs),
      rFactor: round2(q.rFactor),
      mos: round2(q.mos),
      remote: rb ? { fractionLost: round2(rb.fractionLost / 256), jitterMs: round2(rb.jitter / 8) } : null,
      reportsSent: d.reportsSent,
      reportsReceived: d.reportsReceived,
      ssrcChanges: d.receive.ssrcChanges,
    };
  }

  /** Close both sockets; resolves once the kernel has released the ports. */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    // RFC 3550 §6.6: a participant leaving sends BYE.
    this.reporter.bye('call ended');
    this.closed = true;
    this.srtp?.inbound.close();
    this.srtp?.outbound.close();
    if (this.peer?.peer === this) this.peer.peer = undefined;
    this.peer = undefined;
    if (this.wire?.wire === this) this.wire.wire = undefined;
    this.wire = undefined;
    const one = (s: Socket) =>
      new Promise<void>((resolve) => {
        try {
          s.close(() => resolve());
        } catch {
          resolve();
        }
      });
    const socks: Socket[] = [];
    if (this.rtpSocket) socks.push(this.rtpSocket);
    if (this.rtcpSocket) socks.push(this.rtcpSocket);
    if (this.connectedRtp) socks.push(this.connectedRtp);
    if (this.connecting) socks.push(this.connecting);
    this.connectedRtp = undefined;
    this.connecting = undefined;
    return Promise.all(socks.map(one)).then(() => undefined);
  }
}

const round2 = (x: number): number => Math.round(x * 100) / 100;
