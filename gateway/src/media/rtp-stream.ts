/**
 * One RTP stream the gateway terminates: its socket pair, the receive path (parse, payload-type
 * check, latching, counters) and the send path to the latched peer. Services build on it.
 */
import { randomInt } from 'node:crypto';
import type { RemoteInfo } from 'node:dgram';
import type { Clock } from '../core/clock.ts';
import type { Logger } from '../core/log.ts';
import { acceptSource, newLatch, type LatchState, type RtpAddress } from './rtp-latch.ts';
import { emptyRtpView, parseRtp, type RtpView } from './rtp-packet.ts';
import type { RtpPortPair } from './rtp-port-pool.ts';
import type { MediaPlan } from './service-sdp.ts';

/** A latched peer silent this long may be replaced by a new source (NAT rebinding). */
export const RELATCH_AFTER_MS = 2000;

/** RFC 3550 §8.1: the SSRC "SHOULD be chosen randomly". */
export function randomSsrc(): number {
  return randomInt(0, 2 ** 32 - 1);
}

export interface RtpStreamCounters {
  received: number;
  sent: number;
  /** Datagrams that are not RTP (bad version, truncated, bad padding, RTCP on the RTP port). */
  notRtp: number;
  /** RTP with a payload type the answer did not list. */
  unexpectedPayloadType: number;
  /** RTP from a source other than the latched one. */
  foreignSource: number;
  rtcpReceived: number;
  sendErrors: number;
}

export interface RtpStreamDeps {
  clock: Clock;
  logger: Logger;
  /** Called for every accepted packet; `buf` is the datagram (owned by the callee), `view` is reused. */
  onPacket(buf: Buffer, view: RtpView, source: RtpAddress): void;
}

export class RtpStream {
  readonly counters: RtpStreamCounters = {
    received: 0,
    sent: 0,
    notRtp: 0,
    unexpectedPayloadType: 0,
    foreignSource: 0,
    rtcpReceived: 0,
    sendErrors: 0,
  };
  readonly latch: LatchState;
  private readonly view = emptyRtpView();
  private readonly acceptedPayloadTypes: ReadonlySet<number>;
  private closed = false;
  private readonly onSent = (e: Error | null): void => {
    if (e) this.counters.sendErrors++;
  };

  constructor(
    readonly pair: RtpPortPair,
    readonly plan: MediaPlan,
    private readonly deps: RtpStreamDeps,
  ) {
    this.latch = newLatch(plan.remote);
    const pts = [plan.audioPayloadType];
    if (plan.telephoneEventPayloadType !== undefined) pts.push(plan.telephoneEventPayloadType);
    // Comfort noise (RFC 3389, static PT 13) is common from phones with VAD even when not listed.
    pts.push(13);
    this.acceptedPayloadTypes = new Set(pts);
    pair.rtp.on('message', (msg, rinfo) => this.onDatagram(msg, rinfo));
    // RTCP is counted and otherwise ignored for now (no reports sent, no statistics kept).
    pair.rtcp.on('message', () => {
      this.counters.rtcpReceived++;
    });
  }

  private onDatagram(msg: Buffer, rinfo: RemoteInfo): void {
    if (this.closed) return;
    const parsed = parseRtp(msg, this.view);
    if (!parsed.ok) {
      this.counters.notRtp++;
      return;
    }
    if (!this.acceptedPayloadTypes.has(this.view.payloadType)) {
      this.counters.unexpectedPayloadType++;
      return;
    }
    const source = { address: rinfo.address, port: rinfo.port };
    if (!acceptSource(this.latch, source, this.deps.clock.now(), RELATCH_AFTER_MS)) {
      this.counters.foreignSource++;
      return;
    }
    this.counters.received++;
    this.deps.onPacket(msg, this.view, source);
  }

  /**
   * Send `length` bytes of `buf` to the current target; false when there is none yet. The
   * socket may hold on to `buf` until `done` runs (the kernel had no room at once): a sender
   * reusing buffers waits for it (and counts its own send errors).
   */
  send(buf: Buffer, length: number, done?: (e: Error | null) => void): boolean {
    const t = this.latch.target;
    if (this.closed || !t) return false;
    this.pair.rtp.send(buf, 0, length, t.port, t.address, done ?? this.onSent);
    this.counters.sent++;
    return true;
  }

  dump(): {
    localPort: number;
    target: RtpAddress | null;
    latched: boolean;
    relatches: number;
    counters: RtpStreamCounters;
  } {
    return {
      localPort: this.pair.rtpPort,
      target: this.latch.target ?? null,
      latched: this.latch.latched,
      relatches: this.latch.relatches,
      counters: { ...this.counters },
    };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.pair.release();
  }
}
