/**
 * The service numbers on a relay worker's leg. The echo test (`*43`) bridges the leg to itself:
 * the relay sends each packet back as received — payload, payload type, marker, sequence number,
 * timestamp, CSRCs and extension bit-exact — with our SSRC. RFC 3550 §3: "The SSRC identifier
 * ... is chosen randomly, with the intent that no two synchronization sources within the same RTP
 * session will have the same SSRC identifier": the echo is a source of its own in the caller's
 * session; the caller's SSRC sent back would look like its own packets looped (RFC 3550 §8.2).
 *
 * The digital milliwatt (`*44`): a 1004 Hz sine at 0 dBm0 in 20 ms frames, sent by the leg's own
 * stream (`RelayLeg.sendFrame`). ITU-T O.133 / G.711: 1004 Hz, not 1000 Hz (a submultiple of the
 * sampling rate, which would exercise only eight code words).
 */
import { randomInt } from 'node:crypto';
import type { G711Law } from './g711.ts';
import { MILLIWATT_HZ, MILLIWATT_PERIOD_SAMPLES, ZERO_DBM0_PEAK } from './milliwatt-service.ts';
import { FRAME_SAMPLES, SAMPLE_RATE_HZ } from './pcm-frame.ts';
import { rewriteSsrc, type RtpView } from './rtp-packet.ts';

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

const periods: Partial<Record<G711Law, Int16Array>> = {};

/** One exact period (2000 samples) of the tone on the linear scale, peak at 0 dBm0 for `law`. */
export function milliwattLinearPeriod(law: G711Law): Int16Array {
  const cached = periods[law];
  if (cached) return cached;
  const out = new Int16Array(MILLIWATT_PERIOD_SAMPLES);
  const peak = ZERO_DBM0_PEAK[law];
  for (let k = 0; k < MILLIWATT_PERIOD_SAMPLES; k++)
    out[k] = Math.round(peak * Math.sin((2 * Math.PI * MILLIWATT_HZ * k) / SAMPLE_RATE_HZ));
  periods[law] = out;
  return out;
}

/** Frames of the milliwatt tone; the phase advances only for frames actually sent. */
export class MilliwattFrames {
  private position = 0;
  private readonly frame = new Int16Array(FRAME_SAMPLES);
  sent = 0;
  refused = 0;

  constructor(readonly law: G711Law) {}

  /** Offer the next frame to `send`; the tone moves on only when it was taken. */
  tick(send: (frame: Int16Array) => boolean): void {
    const period = milliwattLinearPeriod(this.law);
    for (let i = 0; i < FRAME_SAMPLES; i++)
      this.frame[i] = period[(this.position + i) % MILLIWATT_PERIOD_SAMPLES] ?? 0;
    if (send(this.frame)) {
      this.position = (this.position + FRAME_SAMPLES) % MILLIWATT_PERIOD_SAMPLES;
      this.sent++;
    } else this.refused++;
  }
}
