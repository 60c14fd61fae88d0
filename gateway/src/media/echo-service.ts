/**
 * The echo test (`*43`): every RTP packet the caller sends comes back to it.
 *
 * What comes back is the packet as received — payload, payload type, marker, sequence number,
 * timestamp, CSRC list and header extension bit-exact — with one change: the SSRC is ours.
 * RFC 3550 §3: "The SSRC identifier ... is chosen randomly, with the intent that no two
 * synchronization sources within the same RTP session will have the same SSRC identifier." The
 * echo is a source of its own in the caller's RTP session; sending the caller's SSRC back would
 * look to the caller like its own packets looped (RFC 3550 §8.2 loop detection) and some
 * endpoints discard them. Sequence numbers and timestamps are the caller's: they are continuous
 * within our SSRC exactly as they were within the caller's, so nothing else needs rewriting.
 */
import type { Clock } from '../core/clock.ts';
import type { Logger } from '../core/log.ts';
import { rewriteSsrc, type RtpView } from './rtp-packet.ts';
import type { RtpPortPair } from './rtp-port-pool.ts';
import { randomSsrc, RtpStream } from './rtp-stream.ts';
import { sends, type MediaPlan } from './service-sdp.ts';

export interface EchoSessionDeps {
  clock: Clock;
  logger: Logger;
}

export class EchoSession {
  readonly kind = 'echo';
  private ssrc = randomSsrc();
  private ssrcChanges = 0;
  private readonly stream: RtpStream;

  constructor(pair: RtpPortPair, plan: MediaPlan, deps: EchoSessionDeps) {
    this.stream = new RtpStream(pair, plan, {
      clock: deps.clock,
      logger: deps.logger,
      onPacket: (buf, view) => this.echo(buf, view),
    });
  }

  private echo(buf: Buffer, view: RtpView): void {
    if (!sends(this.stream.plan.direction)) return;
    // RFC 3550 §8.2: "If a source discovers at any time that another source is using the same
    // SSRC identifier as its own, it MUST send an RTCP BYE packet for the old identifier and
    // choose another random one." (The BYE awaits RTCP support.)
    if (view.ssrc === this.ssrc) {
      this.ssrc = randomSsrc();
      this.ssrcChanges++;
    }
    // The datagram is ours (dgram hands each message its own buffer): rewrite it in place.
    rewriteSsrc(buf, this.ssrc);
    this.stream.send(buf, buf.length);
  }

  dump(): Record<string, unknown> {
    return {
      kind: this.kind,
      ssrc: this.ssrc,
      ssrcChanges: this.ssrcChanges,
      plan: this.stream.plan,
      ...this.stream.dump(),
    };
  }

  close(): void {
    this.stream.close();
  }
}
