/**
 * The service numbers on a relay worker's leg. The echo test (`*43`) bridges the leg to itself:
 * the relay sends each packet back as received — payload, payload type, marker, sequence number,
 * timestamp, CSRCs and extension bit-exact — with our SSRC. RFC 3550 §3: "The SSRC identifier
 * ... is chosen randomly, with the intent that no two synchronization sources within the same RTP
 * session will have the same SSRC identifier": the echo is a source of its own in the caller's
 * session; the caller's SSRC sent back would look like its own packets looped (RFC 3550 §8.2).
 *
 * The digital milliwatt (`*44`): a 1004 Hz sine at 0 dBm0 in 20 ms RTP packets of the negotiated
 * law (ITU-T O.133 / G.711: 1004 Hz, not 1000 Hz, a submultiple of the sampling rate that would
 * exercise only eight code words), on a stream of its own clocked by the worker's frame clock.
 */
import { randomInt } from 'node:crypto';
import type { G711Law } from '../../../../base/signal/g711.ts';
import { fillMilliwatt, MILLIWATT_PERIOD_SAMPLES } from '../../../../base/signal/milliwatt.ts';
import { FRAME_SAMPLES } from '../../../../base/signal/pcm-frame.ts';
import { rewriteSsrc, RTP_HEADER_BYTES, writeRtpHeader, type RtpView } from '../rtp/rtp-packet.ts';

export type ServiceKind = 'echo' | 'milliwatt';

/** Rewrites the SSRC of each echoed packet to ours, choosing another on a collision (RFC 3550 §8.2). */
export class EchoSsrc {
  ssrc = randomInt(0, 2 ** 32 - 1);
  changes = 0;

  onPacket(datagram: Uint8Array, view: RtpView): void {
    // RFC 3550 §8.2: "If a source discovers at any time that another source is using the same
    // SSRC identifier as its own, it MUST send an RTCP BYE packet for the old identifier and
    // choose another random one."
    if (view.ssrc === this.ssrc) {
      this.ssrc = randomInt(0, 2 ** 32 - 1);
      this.changes++;
    }
    rewriteSsrc(datagram, this.ssrc);
  }
}

export interface MilliwattPacketsDump {
  ssrc: number;
  sent: number;
  /** Ticks with nowhere to send. */
  skipped: number;
  /** Send buffers allocated (reused once the socket is done with them). */
  buffers: number;
}

/** A send buffer the socket may still hold: never rewritten until its send completes. */
interface SendSlot {
  buf: Buffer;
  busy: boolean;
  release: (e: Error | null) => void;
}

/**
 * The milliwatt's RTP stream: one packet per frame-clock tick, sequence number +1 and timestamp
 * +160 each, the tone's phase continuous. Packets are cut from one exactly periodic table
 * (1004/8000 = 251/2000: the sampled sine repeats every 2000 samples), so a packet is a copy.
 * Buffers are reused once the socket is done with them: no allocation per packet.
 */
export class MilliwattPackets {
  readonly ssrc = randomInt(0, 2 ** 32 - 1);
  // RFC 3550 §5.1: "The initial value of the sequence number SHOULD be random (unpredictable)"
  // and "The initial value of the timestamp SHOULD be random, as for the sequence number."
  private sequenceNumber = randomInt(0, 0x10000);
  private timestamp = randomInt(0, 2 ** 32 - 1);
  private position = 0;
  private readonly slots: SendSlot[] = [];
  sent = 0;
  skipped = 0;
  sendErrors = 0;

  constructor(
    readonly law: G711Law,
    readonly payloadType: number,
  ) {}

  /** This tick's packet, handed to `send` (which calls `done` when the socket has finished with it). */
  emit(send: (buf: Buffer, length: number, done: (e: Error | null) => void) => void): void {
    const slot = this.freeSlot();
    // RFC 3551 §4.1: "the marker bit ... set in the first packet of a talkspurt".
    writeRtpHeader(slot.buf, {
      marker: this.sent === 0,
      payloadType: this.payloadType,
      sequenceNumber: this.sequenceNumber,
      timestamp: this.timestamp,
      ssrc: this.ssrc,
    });
    fillMilliwatt(this.law, this.position, slot.buf, RTP_HEADER_BYTES, FRAME_SAMPLES);
    slot.busy = true;
    send(slot.buf, slot.buf.length, slot.release);
    this.sent++;
    // RFC 3550 §5.1: "The sequence number increments by one for each RTP data packet sent".
    this.sequenceNumber = (this.sequenceNumber + 1) & 0xffff;
    this.advance();
  }

  /** A tick with nowhere to send (no peer address yet, or on hold): time moves on. */
  skip(): void {
    this.skipped++;
    this.advance();
  }

  private advance(): void {
    this.timestamp = (this.timestamp + FRAME_SAMPLES) >>> 0;
    this.position = (this.position + FRAME_SAMPLES) % MILLIWATT_PERIOD_SAMPLES;
  }

  private freeSlot(): SendSlot {
    for (const s of this.slots) if (!s.busy) return s;
    const slot: SendSlot = {
      buf: Buffer.alloc(RTP_HEADER_BYTES + FRAME_SAMPLES),
      busy: false,
      release: (e) => {
        slot.busy = false;
        if (e) this.sendErrors++;
      },
    };
    this.slots.push(slot);
    return slot;
  }

  dump(): MilliwattPacketsDump {
    return { ssrc: this.ssrc, sent: this.sent, skipped: this.skipped, buffers: this.slots.length };
  }
}
