/**
 * Reception and transmission statistics of one RTP stream, as RFC 3550 Appendix A computes them:
 * sequence validation with probation (A.1), expected and lost packets (A.3), interarrival jitter
 * (A.8); the report block and sender info an RTCP report carries (§6.4); the round-trip time
 * from report blocks about our own stream (§6.4.1); and a timer-driven reporter (§6.2, simplified).
 *
 * The per-packet methods do arithmetic on plain fields only: no allocation, no clock reads (the
 * caller passes the arrival time it read once for its batch).
 */
import type { Clock, TimerHandle, Timers } from '../../../../base/clock.ts';
import type { ParseError, Result } from '../../../../base/result.ts';
import { estimateMos, rFactor, type EModelOptions } from './e-model.ts';
import {
  ntpFromWallMs,
  ntpMiddle32,
  parseRtcp,
  roundTripMs,
  writeRtcpCompound,
  type ReportBlock,
  type RtcpPacket,
  type SenderInfo,
} from './rtcp.ts';
import type { RtpView } from './rtp-packet.ts';

/** RFC 3550 A.1 constants. */
const RTP_SEQ_MOD = 0x10000;
const MAX_DROPOUT = 3000;
const MAX_MISORDER = 100;
const MIN_SEQUENTIAL = 2;

/** What `onPacket` made of a packet; the caller may count each kind. */
export type RtpPacketVerdict =
  /** In sequence (or reordered/duplicate within bounds, which A.1 still counts). */
  | 'ok'
  /** A new source, or a source still on probation: not counted yet (A.1). */
  | 'probation'
  /** A large jump: counted as bad until the next packet confirms a restart (A.1). */
  | 'bad-sequence'
  /** Two sequential packets after a large jump: statistics restarted from here (A.1). */
  | 'restart';

export interface RtpReceiveStatsOptions {
  /** RTP clock rate of the payload (8000 for G.711, telephone-event at 8000). */
  clockRate?: number;
  /**
   * A timestamp step larger than this (relative to arrival) is a discontinuity — a new talk spurt
   * source behind the same SSRC after a re-INVITE, for example — not jitter: the jitter estimate
   * restarts its transit reference instead of absorbing a multi-second "delay".
   */
  timestampJumpMs?: number;
}

/** A stream's figures for display, CDRs and the E-model. */
export interface RtpReceiveSnapshot {
  ssrc: number | undefined;
  clockRate: number;
  /** Packets counted for the current source (A.1: after probation). */
  received: number;
  expected: number;
  /** Cumulative lost for the current source (may be negative with duplicates). */
  lost: number;
  /** Over the whole call: every source the stream has had, including retired ones. */
  totalReceived: number;
  totalExpected: number;
  totalLost: number;
  /** `totalLost / totalExpected` in percent, 0 when nothing was expected. */
  lossPercent: number;
  /** Fraction lost of the last report interval, 0..255 (a report block's field). */
  lastFractionLost: number;
  extendedHighestSeq: number;
  cycles: number;
  jitterTimestampUnits: number;
  jitterMs: number;
  /** Largest jitter seen over the call, ms. */
  maxJitterMs: number;
  ssrcChanges: number;
  restarts: number;
  badSequence: number;
  probationPackets: number;
}

/**
 * Statistics of the stream we receive on one leg. One source at a time (a unicast SIP leg); when
 * the SSRC changes — a re-INVITE to another device, a peer restarting its stack — the old source's
 * totals are folded into the call totals and the new source starts probation.
 */
export class RtpReceiveStats {
  private clockRate: number;
  /** Timestamp units per millisecond of arrival time. */
  private unitsPerMs: number;
  private readonly timestampJumpMs: number;

  // RFC 3550 A.1 "source" structure.
  private ssrc: number | undefined = undefined;
  private maxSeq = 0;
  private cycles = 0;
  private baseSeq = 0;
  private badSeq = RTP_SEQ_MOD + 1;
  private probation = 0;
  private received = 0;
  private expectedPrior = 0;
  private receivedPrior = 0;
  private lastFraction = 0;

  // A.8 jitter state.
  private haveTransit = false;
  private lastArrivalUnits = 0;
  private lastTimestamp = 0;
  private jitter = 0;
  private maxJitter = 0;

  // Totals of sources that went before the current one.
  private retiredReceived = 0;
  private retiredExpected = 0;
  private ssrcChanges = 0;
  private restarts = 0;
  private badSequence = 0;
  private probationPackets = 0;

  // Last SR from this source, for the LSR/DLSR of our report block (§6.4.1).
  private lsr = 0;
  private lastSrArrivalMs = 0;

  constructor(options: RtpReceiveStatsOptions = {}) {
    this.clockRate = options.clockRate ?? 8000;
    this.timestampJumpMs = options.timestampJumpMs ?? 3000;
    this.unitsPerMs = this.clockRate / 1000;
  }

  /** Per packet, from the parsed view. `arrivalMs` is monotonic milliseconds. */
  onRtp(view: RtpView, arrivalMs: number): RtpPacketVerdict {
    return this.onPacket(view.ssrc, view.sequenceNumber, view.timestamp, arrivalMs);
  }

  onPacket(ssrc: number, seq: number, timestamp: number, arrivalMs: number): RtpPacketVerdict {
    if (ssrc !== this.ssrc) this.newSource(ssrc, seq);
    const verdict = this.updateSeq(seq);
    if (verdict === 'ok' || verdict === 'restart') this.updateJitter(timestamp, arrivalMs);
    return verdict;
  }

  /**
   * The payload's clock rate changed (a re-INVITE moved to another codec): jitter restarts in the
   * new units; sequence state is kept, as the SSRC and sequence space continue.
   */
  setClockRate(clockRate: number): void {
    if (clockRate === this.clockRate) return;
    this.clockRate = clockRate;
    this.unitsPerMs = clockRate / 1000;
    this.haveTransit = false;
    this.jitter = 0;
  }

  /** Record an SR from the source we receive: its NTP time becomes the LSR of our next block. */
  onSenderReport(ssrc: number, sender: SenderInfo, arrivalMs: number): void {
    if (ssrc !== this.ssrc) return;
    this.lsr = ntpMiddle32(sender.ntpMsw, sender.ntpLsw);
    this.lastSrArrivalMs = arrivalMs;
  }

  /**
   * The report block about the current source, advancing the "since last report" interval (A.3).
   * Undefined while no source has passed probation. Fills `into` when given (no allocation).
   */
  reportBlock(nowMs: number, into?: ReportBlock): ReportBlock | undefined {
    if (this.ssrc === undefined || this.probation > 0) return undefined;
    const extendedMax = this.cycles + this.maxSeq;
    // A.3: "expected = extended_max - s->base_seq + 1; lost = expected - s->received;"
    const expected = extendedMax - this.baseSeq + 1;
    const lost = expected - this.received;
    // "expected_interval = expected - s->expected_prior; ... received_interval = s->received -
    // s->received_prior; ... lost_interval = expected_interval - received_interval; if
    // (expected_interval == 0 || lost_interval <= 0) fraction = 0; else fraction =
    // (lost_interval << 8) / expected_interval;"
    const expectedInterval = expected - this.expectedPrior;
    this.expectedPrior = expected;
    const receivedInterval = this.received - this.receivedPrior;
    this.receivedPrior = this.received;
    const lostInterval = expectedInterval - receivedInterval;
    const fraction =
      expectedInterval === 0 || lostInterval <= 0 ? 0 : Math.floor((lostInterval * 256) / expectedInterval);
    this.lastFraction = Math.min(fraction, 255);
    const b = into ?? ({} as ReportBlock);
    b.ssrc = this.ssrc;
    b.fractionLost = this.lastFraction;
    b.cumulativeLost = lost;
    b.extendedHighestSeq = extendedMax >>> 0;
    b.jitter = Math.floor(this.jitter);
    b.lsr = this.lsr;
    // §6.4.1 DLSR: "the delay, expressed in units of 1/65536 seconds, between receiving the last
    // SR packet from source SSRC_n and sending this reception report block. If no SR packet has
    // been received yet from SSRC_n, the DLSR field is set to zero."
    b.dlsr =
      this.lsr === 0 ? 0 : Math.max(0, Math.floor(((nowMs - this.lastSrArrivalMs) / 1000) * 65536)) >>> 0;
    return b;
  }

  snapshot(): RtpReceiveSnapshot {
    const counted = this.ssrc !== undefined && this.probation === 0;
    const expected = counted ? this.cycles + this.maxSeq - this.baseSeq + 1 : 0;
    const received = counted ? this.received : 0;
    const totalExpected = this.retiredExpected + expected;
    const totalReceived = this.retiredReceived + received;
    const totalLost = totalExpected - totalReceived;
    return {
      ssrc: this.ssrc,
      clockRate: this.clockRate,
      received,
      expected,
      lost: expected - received,
      totalReceived,
      totalExpected,
      totalLost,
      lossPercent: totalExpected > 0 ? (Math.max(0, totalLost) / totalExpected) * 100 : 0,
      lastFractionLost: this.lastFraction,
      extendedHighestSeq: (this.cycles + this.maxSeq) >>> 0,
      cycles: this.cycles / RTP_SEQ_MOD,
      jitterTimestampUnits: this.jitter,
      jitterMs: (this.jitter * 1000) / this.clockRate,
      maxJitterMs: (this.maxJitter * 1000) / this.clockRate,
      ssrcChanges: this.ssrcChanges,
      restarts: this.restarts,
      badSequence: this.badSequence,
      probationPackets: this.probationPackets,
    };
  }

  dump(): RtpReceiveSnapshot {
    return this.snapshot();
  }

  close(): void {
    this.ssrc = undefined;
  }

  private newSource(ssrc: number, seq: number): void {
    if (this.ssrc !== undefined) {
      this.ssrcChanges++;
      if (this.probation === 0) {
        this.retiredExpected += this.cycles + this.maxSeq - this.baseSeq + 1;
        this.retiredReceived += this.received;
      }
    }
    this.ssrc = ssrc;
    // A.1: "When a new source is heard for the first time ... init_seq(s, seq); s->max_seq = seq -
    // 1; s->probation = MIN_SEQUENTIAL;"
    this.initSeq(seq);
    this.maxSeq = (seq - 1) & 0xffff;
    this.probation = MIN_SEQUENTIAL;
    this.haveTransit = false;
    this.jitter = 0;
    this.lsr = 0;
    this.lastFraction = 0;
  }

  private initSeq(seq: number): void {
    this.baseSeq = seq;
    this.maxSeq = seq;
    this.badSeq = RTP_SEQ_MOD + 1;
    this.cycles = 0;
    this.received = 0;
    this.receivedPrior = 0;
    this.expectedPrior = 0;
  }

  /** RFC 3550 Appendix A.1 `update_seq`, verbatim in structure. */
  private updateSeq(seq: number): RtpPacketVerdict {
    const udelta = (seq - this.maxSeq) & 0xffff;
    // "Source is not valid until MIN_SEQUENTIAL packets with sequential sequence numbers have been
    // received."
    if (this.probation > 0) {
      this.probationPackets++;
      if (seq === ((this.maxSeq + 1) & 0xffff)) {
        this.probation--;
        this.maxSeq = seq;
        if (this.probation === 0) {
          this.initSeq(seq);
          this.received++;
          return 'ok';
        }
      } else {
        this.probation = MIN_SEQUENTIAL - 1;
        this.maxSeq = seq;
      }
      return 'probation';
    } else if (udelta < MAX_DROPOUT) {
      // "in order, with permissible gap"
      if (seq < this.maxSeq) {
        // "Sequence number wrapped - count another 64K cycle."
        this.cycles += RTP_SEQ_MOD;
      }
      this.maxSeq = seq;
    } else if (udelta <= RTP_SEQ_MOD - MAX_MISORDER) {
      // "the sequence number made a very large jump"
      if (seq === this.badSeq) {
        // "Two sequential packets -- assume that the other side restarted without telling us so
        // just re-sync (i.e., pretend this was the first packet)."
        this.initSeq(seq);
        this.restarts++;
        this.haveTransit = false;
        this.received++;
        return 'restart';
      }
      this.badSeq = (seq + 1) & (RTP_SEQ_MOD - 1);
      this.badSequence++;
      return 'bad-sequence';
    } else {
      // "duplicate or reordered packet"
    }
    this.received++;
    return 'ok';
  }

  /**
   * RFC 3550 A.8: "int transit = arrival - r->ts; int d = transit - s->transit; s->transit =
   * transit; if (d < 0) d = -d; s->jitter += (1./16.) * ((double)d - s->jitter);" — computed as the
   * difference of arrival spacing and timestamp spacing so that 32-bit timestamp wrap is harmless.
   */
  private updateJitter(timestamp: number, arrivalMs: number): void {
    const arrivalUnits = arrivalMs * this.unitsPerMs;
    if (this.haveTransit) {
      const tsDelta = (timestamp - this.lastTimestamp) | 0;
      let d = arrivalUnits - this.lastArrivalUnits - tsDelta;
      if (d < 0) d = -d;
      if (d > this.timestampJumpMs * this.unitsPerMs) {
        // A discontinuity, not jitter: restart the transit reference.
      } else {
        this.jitter += (d - this.jitter) / 16;
        if (this.jitter > this.maxJitter) this.maxJitter = this.jitter;
      }
    }
    this.haveTransit = true;
    this.lastArrivalUnits = arrivalUnits;
    this.lastTimestamp = timestamp;
  }
}

export interface RtpSendSnapshot {
  ssrc: number | undefined;
  packetCount: number;
  octetCount: number;
  lastTimestamp: number;
}

/** What we send on a leg: the sender info of our SR (§6.4.1). */
export class RtpSendStats {
  private ssrc: number | undefined = undefined;
  private packetCount = 0;
  private octetCount = 0;
  private lastTimestamp = 0;
  private lastSentMs = 0;
  private sentSinceReport = false;

  constructor(private clockRate = 8000) {}

  onSent(ssrc: number, timestamp: number, payloadBytes: number, nowMs: number): void {
    if (ssrc !== this.ssrc) {
      // §6.4.1 sender's packet count: "The count SHOULD be reset if the sender changes its SSRC
      // identifier."
      this.ssrc = ssrc;
      this.packetCount = 0;
      this.octetCount = 0;
    }
    this.packetCount = (this.packetCount + 1) >>> 0;
    this.octetCount = (this.octetCount + payloadBytes) >>> 0;
    this.lastTimestamp = timestamp;
    this.lastSentMs = nowMs;
    this.sentSinceReport = true;
  }

  setClockRate(clockRate: number): void {
    this.clockRate = clockRate;
  }

  get currentSsrc(): number | undefined {
    return this.ssrc;
  }

  /** True when RTP went out since the previous report: the report is an SR, else an RR. */
  get activeSender(): boolean {
    return this.sentSinceReport;
  }

  /**
   * Sender info for an SR at this moment. §6.4.1 RTP timestamp: "Corresponds to the same time as
   * the NTP timestamp (above), but in the same units and with the same random offset as the RTP
   * timestamps in data packets" — extrapolated from the last packet sent.
   */
  senderInfo(wallMs: number, nowMs: number, into?: SenderInfo): SenderInfo {
    const ntp = ntpFromWallMs(wallMs);
    const s = into ?? ({} as SenderInfo);
    s.ntpMsw = ntp.msw;
    s.ntpLsw = ntp.lsw;
    s.rtpTimestamp =
      (this.lastTimestamp + Math.round(((nowMs - this.lastSentMs) * this.clockRate) / 1000)) >>> 0;
    s.packetCount = this.packetCount;
    s.octetCount = this.octetCount;
    this.sentSinceReport = false;
    return s;
  }

  snapshot(): RtpSendSnapshot {
    return {
      ssrc: this.ssrc,
      packetCount: this.packetCount,
      octetCount: this.octetCount,
      lastTimestamp: this.lastTimestamp,
    };
  }
}

// ---------------------------------------------------------------------------------------------
// The reporter: one per leg, sends our compound every interval and reads the peer's.
// ---------------------------------------------------------------------------------------------

export interface RtcpReporterOptions {
  clock: Clock;
  timers: Timers;
  /** Our SSRC on this leg when we send no RTP of our own (an RR-only reporter). */
  localSsrc: number;
  /** §6.5.1 CNAME, e.g. `edgeline@<host>`; stable for the appliance. */
  cname: string;
  receive: RtpReceiveStats;
  send: RtpSendStats;
  /** Transmit a compound (the shell protects it with SRTCP first when the leg is secure). */
  transmit: (buf: Buffer, len: number) => void;
  /** §6.2 minimum interval; 5 s by default ("the RECOMMENDED value for a fixed minimum interval is 5 seconds"). */
  intervalMs?: number;
  /** 0..1; each interval is scaled by 0.5 + random() (§6.3.1) so legs do not report in step. */
  random?: () => number;
  /** Parameters of the MOS estimate. */
  eModel?: EModelOptions;
}

export interface RtcpQuality {
  lossPercent: number;
  jitterMs: number;
  rttMs: number | undefined;
  /** One-way delay used for the E-model: half the RTT when known. */
  oneWayDelayMs: number;
  rFactor: number;
  mos: number;
}

export interface RtcpReporterDump {
  state: RtcpReporterState;
  reportsSent: number;
  reportsReceived: number;
  malformed: number;
  byeReceived: boolean;
  rttMs: number | undefined;
  remoteReport: ReportBlock | undefined;
  receive: RtpReceiveSnapshot;
  send: RtpSendSnapshot;
  quality: RtcpQuality;
}

export type RtcpReporterState = 'idle' | 'running' | 'closed';

/**
 * Timer-driven RTCP for one leg. The interval is RFC 3550 §6.2 simplified for a two-party
 * session: "the RECOMMENDED value for a fixed minimum interval is 5 seconds", the first report
 * after half of it ("the initial delay ... half the minimum interval"), every interval scaled by a
 * random factor in [0.5, 1.5] (§6.3.1). Bandwidth-based scaling and reconsideration (§6.3) are not
 * needed with two participants and are left out.
 */
export class RtcpReporter {
  private state: RtcpReporterState = 'idle';
  private timer: TimerHandle | undefined;
  private readonly buf = Buffer.alloc(1500);
  private readonly block: ReportBlock = {
    ssrc: 0,
    fractionLost: 0,
    cumulativeLost: 0,
    extendedHighestSeq: 0,
    jitter: 0,
    lsr: 0,
    dlsr: 0,
  };
  private readonly sender: SenderInfo = {
    ntpMsw: 0,
    ntpLsw: 0,
    rtpTimestamp: 0,
    packetCount: 0,
    octetCount: 0,
  };
  private readonly intervalMs: number;
  private readonly random: () => number;
  private reportsSent = 0;
  private reportsReceived = 0;
  private malformed = 0;
  private byeReceived = false;
  private rttMs: number | undefined = undefined;
  private remoteReport: ReportBlock | undefined = undefined;

  constructor(private readonly o: RtcpReporterOptions) {
    this.intervalMs = o.intervalMs ?? 5000;
    this.random = o.random ?? Math.random;
  }

  start(): void {
    this.transition('running');
  }

  /** Compose our compound report into `buf` (the reporter's own buffer when omitted). */
  buildReport(buf: Buffer = this.buf, bye?: { reason?: string }): number {
    const now = this.o.clock.now();
    const active = this.o.send.activeSender;
    const ssrc = this.o.send.currentSsrc ?? this.o.localSsrc;
    const block = this.o.receive.reportBlock(now, this.block);
    return writeRtcpCompound(buf, 0, {
      ssrc,
      sender: active ? this.o.send.senderInfo(this.o.clock.wallNow(), now, this.sender) : undefined,
      blocks: block ? [block] : [],
      cname: this.o.cname,
      bye,
    });
  }

  /**
   * A compound from the peer (after SRTCP unprotect). SRs feed the LSR of our next block; report
   * blocks about our stream give the round-trip time. Malformed input is counted and returned.
   */
  onRtcp(bytes: Uint8Array): Result<RtcpPacket[], ParseError> {
    const parsed = parseRtcp(bytes);
    if (!parsed.ok) {
      this.malformed++;
      return parsed;
    }
    this.reportsReceived++;
    const now = this.o.clock.now();
    for (const p of parsed.value) {
      switch (p.type) {
        case 'sr':
          this.o.receive.onSenderReport(p.ssrc, p.sender, now);
          this.readBlocks(p.reports);
          break;
        case 'rr':
          this.readBlocks(p.reports);
          break;
        case 'bye':
          this.byeReceived = true;
          break;
        case 'sdes':
        case 'other':
          break;
        default: {
          const never: never = p;
          void never;
        }
      }
    }
    return parsed;
  }

  /** The current figures for the CDR and live view. */
  quality(): RtcpQuality {
    const r = this.o.receive.snapshot();
    // Without an RTT the path is taken as local (LAN): delay 0 — the estimate then reflects loss
    // and jitter only.
    const oneWayDelayMs = this.rttMs === undefined ? 0 : this.rttMs / 2;
    const inputs = { oneWayDelayMs, packetLossPercent: r.lossPercent, jitterMs: r.jitterMs };
    const R = rFactor(inputs, this.o.eModel);
    return {
      lossPercent: r.lossPercent,
      jitterMs: r.jitterMs,
      rttMs: this.rttMs,
      oneWayDelayMs,
      rFactor: R,
      mos: estimateMos(inputs, this.o.eModel),
    };
  }

  /** Send a final compound with BYE (§6.6) and stop. */
  bye(reason?: string): void {
    if (this.state === 'running') {
      const len = this.buildReport(this.buf, reason === undefined ? {} : { reason });
      this.o.transmit(this.buf, len);
      this.reportsSent++;
    }
    this.close();
  }

  close(): void {
    if (this.state !== 'closed') this.transition('closed');
  }

  dump(): RtcpReporterDump {
    return {
      state: this.state,
      reportsSent: this.reportsSent,
      reportsReceived: this.reportsReceived,
      malformed: this.malformed,
      byeReceived: this.byeReceived,
      rttMs: this.rttMs,
      remoteReport: this.remoteReport ? { ...this.remoteReport } : undefined,
      receive: this.o.receive.snapshot(),
      send: this.o.send.snapshot(),
      quality: this.quality(),
    };
  }

  private transition(to: RtcpReporterState): void {
    const legal: Record<RtcpReporterState, readonly RtcpReporterState[]> = {
      idle: ['running', 'closed'],
      running: ['closed'],
      closed: [],
    };
    if (!legal[this.state].includes(to)) throw new Error(`RTCP reporter: illegal ${this.state} → ${to}`);
    this.state = to;
    switch (to) {
      case 'running':
        this.arm(this.intervalMs / 2);
        break;
      case 'closed':
        this.timer?.cancel();
        this.timer = undefined;
        break;
      case 'idle':
        break;
      default: {
        const never: never = to;
        void never;
      }
    }
  }

  private arm(baseMs: number): void {
    const delay = baseMs * (0.5 + this.random());
    this.timer = this.o.timers.start('RTCP', delay, () => {
      if (this.state !== 'running') return;
      const len = this.buildReport();
      this.o.transmit(this.buf, len);
      this.reportsSent++;
      this.arm(this.intervalMs);
    });
  }

  private readBlocks(blocks: readonly ReportBlock[]): void {
    const ours = this.o.send.currentSsrc ?? this.o.localSsrc;
    for (const b of blocks) {
      if (b.ssrc !== ours && b.ssrc !== this.o.localSsrc) continue;
      this.remoteReport = b;
      const ntp = ntpFromWallMs(this.o.clock.wallNow());
      const rtt = roundTripMs(b.lsr, b.dlsr, ntpMiddle32(ntp.msw, ntp.lsw));
      if (rtt !== undefined) this.rttMs = rtt;
    }
  }
}
