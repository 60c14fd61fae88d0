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
 * out: no allocation of ours per packet.
 */
import type { RemoteInfo, Socket } from 'node:dgram';
import { alawToLinear, encodeG711, linearToAlaw, linearToUlaw, ulawToLinear, type G711Law } from './g711.ts';
import { emptyRtpView, parseRtp, writeRtpHeader, RTP_HEADER_BYTES, type RtpView } from './rtp-packet.ts';
import type { RtpAddress } from './rtp-latch.ts';
import { MAX_DATAGRAM_BYTES, type DropCounters, type RelayLegStats } from './worker-protocol.ts';

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
  /** Connect the RTP socket to the latched source (the kernel then filters foreign sources uncounted). */
  connectAfterLatch?: boolean;
}

function newDrops(): DropCounters {
  return { truncated: 0, oversized: 0, notRtp: 0, foreignSource: 0, noPeer: 0, noCodec: 0, badRtcp: 0 };
}

export class RelayLeg {
  peer: RelayLeg | undefined;
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
  private rtcpLatched = false;
  private connected = false;
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
  /** Own stream for frames the gateway originates on this leg (`sendFrame`). */
  private readonly frameBuf = Buffer.alloc(RTP_HEADER_BYTES + 160);
  private readonly frameHeader = { marker: true, payloadType: 0, sequenceNumber: 0, timestamp: 0, ssrc: 0 };
  private frameBusy = false;

  constructor(
    readonly legId: number,
    readonly localPort: number,
    readonly rtp: Socket,
    readonly rtcp: Socket,
    private readonly events: RelayLegEvents,
    private readonly opts: RelayLegOptions = {},
  ) {
    rtp.on('message', this.onRtp);
    rtcp.on('message', this.onRtcp);
    this.frameHeader.ssrc = (Math.random() * 0x1_0000_0000) >>> 0;
    this.frameHeader.sequenceNumber = (Math.random() * 0x10000) & 0xffff;
    this.frameHeader.timestamp = (Math.random() * 0x1_0000_0000) >>> 0;
  }

  setRemote(rtp: RtpAddress | null, rtcp: RtpAddress | null): void {
    this.sendEnabled = rtp !== null;
    // A latched source stays: RFC 4961 symmetric RTP makes it the better address than the SDP's.
    if (!this.latched) this.target = rtp ?? undefined;
    if (!this.rtcpLatched) this.rtcpTarget = rtcp ?? undefined;
  }

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

  private readonly onRtp = (msg: Buffer, rinfo: RemoteInfo): void => {
    if (this.closed) return;
    if (msg.length > MAX_DATAGRAM_BYTES) {
      this.dropped.oversized++;
      return;
    }
    const parsed = parseRtp(msg, this.view);
    if (!parsed.ok) {
      if (parsed.error.code === 'EDGE_ERR_RTP_VERSION' || parsed.error.code === 'EDGE_ERR_RTP_RTCP')
        this.dropped.notRtp++;
      else this.dropped.truncated++;
      return;
    }
    const t = this.target;
    if (this.latched) {
      if (t === undefined || rinfo.port !== t.port || rinfo.address !== t.address) {
        this.dropped.foreignSource++;
        return;
      }
    } else this.latch(rinfo);
    this.rx++;
    this.rxBytes += msg.length;
    if (this.onPacket !== undefined && !this.onPacket(this, msg, this.view)) return;
    const peer = this.peer;
    if (peer === undefined) {
      this.dropped.noPeer++;
      return;
    }
    peer.forward(msg, this.view, this.ptLaw[this.view.payloadType] ?? LAW_NONE);
  };

  private latch(rinfo: RemoteInfo): void {
    this.latched = true;
    this.target = { address: rinfo.address, port: rinfo.port };
    if (this.opts.connectAfterLatch) {
      this.rtp.connect(rinfo.port, rinfo.address, () => {
        this.connected = true;
      });
    }
    this.events.latched(this, 'rtp', this.target);
  }

  /** Send a packet that arrived on the bridged leg to this leg's peer, rewritten for this leg. */
  private forward(msg: Buffer, view: RtpView, law: number): void {
    const t = this.target;
    if (!this.sendEnabled || t === undefined || this.closed) {
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
    if (this.connected) this.rtp.send(msg, this.onSent);
    else this.rtp.send(msg, t.port, t.address, this.onSent);
    this.tx++;
    this.txBytes += msg.length;
  }

  private readonly onSent = (e: Error | null): void => {
    if (e) this.sendErrors++;
  };

  private readonly onRtcp = (msg: Buffer, rinfo: RemoteInfo): void => {
    if (this.closed) return;
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
    } else {
      this.rtcpLatched = true;
      this.rtcpTarget = { address: rinfo.address, port: rinfo.port };
      this.events.latched(this, 'rtcp', this.rtcpTarget);
    }
    this.rtcpRx++;
    const peer = this.peer;
    const to = peer?.rtcpTarget;
    if (peer === undefined || to === undefined || !peer.sendEnabled || peer.closed) {
      this.dropped.noPeer++;
      return;
    }
    peer.rtcp.send(msg, to.port, to.address, peer.onSent);
    peer.rtcpTx++;
  };

  /**
   * Send one 20 ms frame (160 linear samples at 8 kHz) the gateway originates on this leg, in
   * the law this leg receives, on the gateway's own SSRC (RFC 3550 §8.1). The frame buffer is
   * reused; a frame offered while the previous one is still in the kernel's hands is skipped.
   */
  sendFrame(frame: Int16Array): boolean {
    const t = this.target;
    const law = this.sendLawCode;
    if (!this.sendEnabled || t === undefined || this.closed || law === LAW_NONE || this.frameBusy)
      return false;
    const h = this.frameHeader;
    h.payloadType = this.lawPt[law] ?? 0;
    writeRtpHeader(this.frameBuf, h);
    h.marker = false;
    h.sequenceNumber = (h.sequenceNumber + 1) & 0xffff;
    h.timestamp = (h.timestamp + 160) >>> 0;
    const n = encodeG711(law === LAW_PCMU ? 'pcmu' : 'pcma', frame, this.frameBuf.subarray(RTP_HEADER_BYTES));
    this.frameBusy = true;
    this.rtp.send(this.frameBuf, 0, RTP_HEADER_BYTES + n, t.port, t.address, this.onFrameSent);
    this.tx++;
    return true;
  }

  private readonly onFrameSent = (e: Error | null): void => {
    this.frameBusy = false;
    if (e) this.sendErrors++;
  };

  /** Advance the dead-media watch by `elapsedMs`; true the first time the leg is found dead. */
  sweep(elapsedMs: number): boolean {
    if (this.rx !== this.rxAtLastSweep) {
      this.rxAtLastSweep = this.rx;
      this.silentMs = 0;
      this.dead = false;
      return false;
    }
    this.silentMs += elapsedMs;
    // A leg is watched only once it has sent something: before that the call may still ring.
    if (this.deadMediaMs <= 0 || this.rx === 0 || this.dead || this.silentMs < this.deadMediaMs) return false;
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
      latchedRtcp: this.rtcpLatched && this.rtcpTarget ? { ...this.rtcpTarget } : null,
      codecs: { ...this.codecsDump },
      dead: this.dead,
    };
  }

  /** Close both sockets; resolves once the kernel has released the ports. */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    if (this.peer?.peer === this) this.peer.peer = undefined;
    this.peer = undefined;
    const one = (s: Socket) =>
      new Promise<void>((resolve) => {
        try {
          s.close(() => resolve());
        } catch {
          resolve();
        }
      });
    return Promise.all([one(this.rtp), one(this.rtcp)]).then(() => undefined);
  }
}
