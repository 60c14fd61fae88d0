/**
 * The digital milliwatt (`*44`): a 1004 Hz sine at 0 dBm0, sent in 20 ms RTP packets of the
 * negotiated G.711 law.
 *
 * ITU-T O.133 / G.711: the test tone is 1004 Hz (not 1000 Hz, which is a submultiple of the
 * 8 kHz sampling rate and would exercise only eight code words). 0 dBm0 is the level of a sine
 * whose peak is 3.17 dB below µ-law's overload point (peak 5664 of 8159 on the 14-bit scale) and
 * 3.14 dB below A-law's (2851 of 4096 on the 13-bit scale).
 *
 * 1004/8000 = 251/2000: the sampled sine repeats exactly every 2000 samples. One period is
 * encoded once per law and packets are cut from it, so the phase is continuous across packets and
 * never drifts, and building a packet is a copy.
 */
import { randomInt } from 'node:crypto';
import type { Clock, TimerHandle, Timers } from '../core/clock.ts';
import type { Logger } from '../core/log.ts';
import { linearToAlaw, linearToUlaw, type G711Law } from './g711.ts';
import { RTP_HEADER_BYTES, writeRtpHeader } from './rtp-packet.ts';
import type { RtpPortPair } from './rtp-port-pool.ts';
import { randomSsrc, RtpStream } from './rtp-stream.ts';
import { sends, type MediaPlan } from './service-sdp.ts';

export const MILLIWATT_HZ = 1004;
export const SAMPLE_RATE_HZ = 8000;
/** Samples in one exact period of the sampled 1004 Hz sine (8000 / gcd(8000, 1004)). */
export const MILLIWATT_PERIOD_SAMPLES = 2000;
/** 0 dBm0 peak on the 16-bit linear scale the codec tables use (14-bit × 4, 13-bit × 8). */
export const ZERO_DBM0_PEAK: Readonly<Record<G711Law, number>> = { pcmu: 5664 * 4, pcma: 2851 * 8 };
/** A late timer catches up at most this many packets at once; older ones are skipped (not sent). */
const MAX_BURST_PACKETS = 8;

const tables: Partial<Record<G711Law, Uint8Array>> = {};

/** One period of the tone, encoded. */
export function milliwattPeriod(law: G711Law): Uint8Array {
  const cached = tables[law];
  if (cached) return cached;
  const table = new Uint8Array(MILLIWATT_PERIOD_SAMPLES);
  const peak = ZERO_DBM0_PEAK[law];
  const encode = law === 'pcmu' ? linearToUlaw : linearToAlaw;
  for (let k = 0; k < MILLIWATT_PERIOD_SAMPLES; k++) {
    table[k] = encode(Math.round(peak * Math.sin((2 * Math.PI * MILLIWATT_HZ * k) / SAMPLE_RATE_HZ)));
  }
  tables[law] = table;
  return table;
}

/** Copy `count` tone samples starting at `position` into `out` at `offset`; returns the next position. */
export function fillMilliwatt(
  law: G711Law,
  position: number,
  out: Uint8Array,
  offset: number,
  count: number,
): number {
  const period = milliwattPeriod(law);
  let pos = position % MILLIWATT_PERIOD_SAMPLES;
  let at = offset;
  let left = count;
  while (left > 0) {
    const n = Math.min(left, MILLIWATT_PERIOD_SAMPLES - pos);
    out.set(period.subarray(pos, pos + n), at);
    at += n;
    left -= n;
    pos = (pos + n) % MILLIWATT_PERIOD_SAMPLES;
  }
  return pos;
}

export interface MilliwattSessionDeps {
  clock: Clock;
  timers: Timers;
  logger: Logger;
}

export class MilliwattSession {
  readonly kind = 'milliwatt';
  private readonly stream: RtpStream;
  private readonly samplesPerPacket: number;
  /**
   * Send buffers reused from packet to packet: no allocation per packet. A buffer the socket
   * still holds (a send not yet handed to the kernel) is never written; when all are held, one
   * more is made.
   */
  private readonly buffers: Array<{ buf: Buffer; busy: boolean; release: (e: Error | null) => void }> = [];
  private readonly ssrc = randomSsrc();
  // RFC 3550 §5.1: "The initial value of the sequence number SHOULD be random (unpredictable)"
  // and "The initial value of the timestamp SHOULD be random, as for the sequence number."
  private sequenceNumber = randomInt(0, 0x10000);
  private timestamp = randomInt(0, 2 ** 32 - 1);
  private tonePosition = 0;
  private readonly startMs: number;
  /** Packet intervals elapsed since start (sent or skipped). */
  private slots = 0;
  private sent = 0;
  private skipped = 0;
  private timer: TimerHandle | undefined;
  private closed = false;

  constructor(
    pair: RtpPortPair,
    plan: MediaPlan,
    private readonly deps: MilliwattSessionDeps,
  ) {
    // Packets from the peer only serve latching: the tone goes where the caller's media comes from.
    this.stream = new RtpStream(pair, plan, {
      clock: deps.clock,
      logger: deps.logger,
      onPacket: () => undefined,
    });
    this.samplesPerPacket = (SAMPLE_RATE_HZ * plan.ptimeMs) / 1000;
    this.startMs = deps.clock.now();
    this.timer = deps.timers.start('milliwatt-ptime', 0, () => this.tick());
  }

  /**
   * Send every packet whose time has come. The schedule is anchored to the start time on the
   * monotonic clock, not to the previous timer: a timer that fires late is made up for by the
   * packets that fell due, so the stream never drifts however long it runs.
   */
  private tick(): void {
    if (this.closed) return;
    const now = this.deps.clock.now();
    const ptime = this.stream.plan.ptimeMs;
    const due = Math.floor((now - this.startMs) / ptime) + 1;
    const behind = due - this.slots;
    if (behind > MAX_BURST_PACKETS) {
      // After a long stall (a blocked event loop), packets that old are useless to a listener:
      // time moves on (timestamp and tone phase advance) but they are not sent, which the
      // receiver sees as loss (RFC 3550 §5.1: the sequence number counts packets sent).
      this.advance(behind - MAX_BURST_PACKETS);
      this.skipped += behind - MAX_BURST_PACKETS;
    }
    while (this.slots < due) this.sendOne();
    this.timer = this.deps.timers.start('milliwatt-ptime', this.startMs + this.slots * ptime - now, () =>
      this.tick(),
    );
  }

  private advance(packets: number): void {
    const samples = packets * this.samplesPerPacket;
    this.timestamp = (this.timestamp + samples) >>> 0;
    this.tonePosition = (this.tonePosition + samples) % MILLIWATT_PERIOD_SAMPLES;
    this.slots += packets;
  }

  private sendOne(): void {
    const plan = this.stream.plan;
    if (!sends(plan.direction) || !this.stream.latch.target) {
      this.advance(1);
      return;
    }
    const slot = this.freeBuffer();
    const buf = slot.buf;
    // RFC 3551 §4.1: "the marker bit ... set in the first packet of a talkspurt".
    writeRtpHeader(buf, {
      marker: this.sent === 0,
      payloadType: plan.audioPayloadType,
      sequenceNumber: this.sequenceNumber,
      timestamp: this.timestamp,
      ssrc: this.ssrc,
    });
    fillMilliwatt(plan.law, this.tonePosition, buf, RTP_HEADER_BYTES, this.samplesPerPacket);
    slot.busy = this.stream.send(buf, buf.length, slot.release);
    this.sent++;
    // RFC 3550 §5.1: "The sequence number increments by one for each RTP data packet sent";
    // "The timestamp reflects the sampling instant of the first octet in the RTP data packet."
    this.sequenceNumber = (this.sequenceNumber + 1) & 0xffff;
    this.advance(1);
  }

  private freeBuffer(): { buf: Buffer; busy: boolean; release: (e: Error | null) => void } {
    for (const b of this.buffers) if (!b.busy) return b;
    const slot = {
      buf: Buffer.alloc(RTP_HEADER_BYTES + this.samplesPerPacket),
      busy: false,
      release: (e: Error | null) => {
        slot.busy = false;
        if (e) this.stream.counters.sendErrors++;
      },
    };
    this.buffers.push(slot);
    return slot;
  }

  dump(): Record<string, unknown> {
    return {
      kind: this.kind,
      ssrc: this.ssrc,
      packetsSent: this.sent,
      packetsSkipped: this.skipped,
      sendBuffers: this.buffers.length,
      plan: this.stream.plan,
      ...this.stream.dump(),
    };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.timer?.cancel();
    this.timer = undefined;
    this.stream.close();
  }
}
