/**
 * Digits heard on a PSTN line, sent to the SIP side as RFC 4733 telephone-events. A frame leg's
 * line audio (the frames going down to its relay worker) runs through an in-band detector
 * (`DtmfDetector`, Q.23/Q.24); each digit found is re-sent as the telephone-event packets of
 * `planDigitPackets` on the leg's own RTP stream, paced by the leg's 20 ms frames.
 *
 * RFC 4733 §2.5.1.2: "the RTP timestamp ... identifies the start of the event"; every packet of
 * the digit carries the timestamp of the stream when the detector saw the digit begin.
 * The plan is replayed once the digit's duration is known (at its end): the far end hears each
 * digit once, with its real duration, one digit length after the line.
 *
 * RFC 4733 §2.6: "the audio carrying the tone" should be muted while the digit is sent as events,
 * or the far end hears it twice (in band and as events). `frame()` therefore sees each frame before
 * it is encoded and blanks it, in place, from the digit's detection to its end. Without a
 * negotiated `telephone-event` nothing is muted: in band is then the digit's only way across. The
 * detector needs about 40 ms of tone before it can tell a digit; that much may still leak.
 *
 * Sans-I/O: the leg is reached through `FrameDtmfPort`; time is counted in frames.
 */
import { DtmfDetector } from '../../../../base/signal/dtmf-detector.ts';
import { planDigitPackets, type TelephoneEventPacket } from './dtmf-rfc4733.ts';

/** How the relay reaches its leg's own stream. */
export interface FrameDtmfPort {
  /** RTP timestamp of the leg's own stream: that of the last frame sent. */
  timestamp(): number;
  /** Send one packet on the leg's own stream (its SSRC, its next sequence number). */
  send(payloadType: number, marker: boolean, timestamp: number, payload: Uint8Array): boolean;
}

export interface FrameDtmfDump {
  payloadType: number;
  digits: number;
  packetsSent: number;
  packetsQueued: number;
  /** Frames of line audio blanked because they carried a digit sent as events. */
  framesMuted: number;
}

const FRAME_MS = 20;

export class FrameDtmfRelay {
  private readonly detector: DtmfDetector;
  private payloadType = -1;
  private tick = 0;
  private startTimestamp = 0;
  /** A digit began in the previous frame; its timestamp is that frame's, known once it was sent. */
  private startPending = false;
  /** A digit is on the line (between the detector's begin and end). */
  private inDigit = false;
  /** A digit began during the frame being processed. */
  private beganInFrame = false;
  private framesMuted = 0;
  private nextFreeTick = 0;
  private readonly queue: Array<{ dueTick: number; pkt: TelephoneEventPacket }> = [];
  private digits = 0;
  private packetsSent = 0;

  constructor(private readonly port: FrameDtmfPort) {
    this.detector = new DtmfDetector((ev) => {
      if (ev.type === 'begin') {
        this.startPending = true;
        this.inDigit = true;
        this.beganInFrame = true;
        return;
      }
      this.inDigit = false;
      this.planDigit(ev.digit, ev.durationMs);
    });
  }

  /** RFC 4733 §7.1.1: events are sent only when the peer negotiated `telephone-event` (pt ≥ 0). */
  setPayloadType(payloadType: number): void {
    this.payloadType = payloadType;
  }

  /**
   * One 20 ms frame of line audio on its way to the SIP side, before it is sent: a frame that
   * carries part of a detected digit is zeroed in place (the encoder then sends silence).
   */
  frame(frame: Int16Array): void {
    this.tick++;
    if (this.payloadType < 0) return;
    if (this.startPending) {
      // RFC 4733 §2.5.1.2: the event's timestamp is that of the frame the digit was detected in.
      this.startTimestamp = this.port.timestamp();
      this.startPending = false;
    }
    const mutedBefore = this.inDigit;
    this.beganInFrame = false;
    this.detector.process(frame);
    if (mutedBefore || this.beganInFrame) {
      frame.fill(0);
      this.framesMuted++;
    }
    while (this.queue.length > 0 && (this.queue[0]?.dueTick ?? Infinity) <= this.tick) {
      const next = this.queue.shift();
      if (!next) break;
      const p = next.pkt;
      if (this.port.send(this.payloadType, p.marker, p.timestamp, p.payload)) this.packetsSent++;
    }
  }

  private planDigit(digit: string, durationMs: number): void {
    const plan = planDigitPackets({ digit, durationMs, timestamp: this.startTimestamp });
    if (!plan.ok) return;
    this.digits++;
    // Digits never overlap on the wire: a digit's packets start after the previous digit's last.
    const base = Math.max(this.tick + 1, this.nextFreeTick);
    for (const pkt of plan.value) {
      const dueTick = base + Math.floor(pkt.atMs / FRAME_MS);
      this.queue.push({ dueTick, pkt });
      this.nextFreeTick = dueTick + 1;
    }
  }

  close(): void {
    this.detector.close();
    this.queue.length = 0;
    this.inDigit = false;
    this.startPending = false;
  }

  dump(): FrameDtmfDump {
    return {
      payloadType: this.payloadType,
      digits: this.digits,
      packetsSent: this.packetsSent,
      packetsQueued: this.queue.length,
      framesMuted: this.framesMuted,
    };
  }
}
