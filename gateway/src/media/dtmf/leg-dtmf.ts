/**
 * DTMF on one leg inside a relay worker: RFC 4733 telephone-events decoded by `Rfc4733Receiver`,
 * and, on legs marked for it, tones in the audio found by the Goertzel `DtmfDetector`. Each digit
 * is reported once, when it ends, with its duration; the packets themselves are left to the relay
 * (RFC 4733 §2.5.2: a gateway forwarding events passes them on, it does not consume them).
 *
 * In-band detection runs where no telephone-event was negotiated (the peer can only send tones in
 * its audio) or where the engine asks for it (PSTN legs). A leg that negotiated telephone-events
 * is not also scanned: the same key press would be reported twice.
 */
import type { Timers } from '../../../../base/clock.ts';
import { DtmfDetector } from '../../../../base/signal/dtmf-detector.ts';
import type { DtmfDigit } from '../../../../base/signal/dtmf-digits.ts';
import { Rfc4733Receiver } from './dtmf-rfc4733.ts';
import { decodeInto, NO_PAYLOAD_TYPES, payloadKind, type LegPayloadMap } from '../codec/leg-codecs.ts';
import type { RtpView } from '../rtp/rtp-packet.ts';

export type DigitSource = 'rfc4733' | 'inband' | 'info';

export interface LegDigit {
  digit: DtmfDigit;
  durationMs: number;
  source: DigitSource;
}

export interface LegDtmfOptions {
  timers: Timers;
  onDigit: (d: LegDigit) => void;
  /** true: always scan audio; false: never; undefined: scan when no telephone-event was negotiated. */
  detectInband?: boolean;
}

export interface LegDtmfDump {
  payloadTypes: LegPayloadMap;
  inband: boolean;
  digits: number;
  malformedEvents: number;
  receiver: ReturnType<Rfc4733Receiver['dump']>;
  detector: ReturnType<DtmfDetector['dump']> | null;
}

/** Largest G.711 payload decoded at once (an Ethernet-sized datagram). */
const MAX_SAMPLES = 1472;

export class LegDtmf {
  private map: LegPayloadMap = NO_PAYLOAD_TYPES;
  private readonly receiver: Rfc4733Receiver;
  private detector: DtmfDetector | undefined;
  private readonly pcm = new Int16Array(MAX_SAMPLES);
  /** Views of `pcm` by length, so a steady packet size costs no allocation. */
  private readonly views = new Map<number, Int16Array>();
  private digits = 0;
  private malformed = 0;
  private closed = false;

  constructor(private readonly opts: LegDtmfOptions) {
    this.receiver = new Rfc4733Receiver({
      timers: opts.timers,
      onEvent: (ev) => {
        if (ev.type === 'end') this.report({ digit: ev.digit, durationMs: ev.durationMs, source: 'rfc4733' });
      },
    });
    if (opts.detectInband === true) this.detector = this.newDetector();
  }

  private newDetector(): DtmfDetector {
    return new DtmfDetector((ev) => {
      if (ev.type === 'end') this.report({ digit: ev.digit, durationMs: ev.durationMs, source: 'inband' });
    });
  }

  private report(d: LegDigit): void {
    this.digits++;
    this.opts.onDigit(d);
  }

  /** The leg's negotiated payload types (re-INVITEs may change them). */
  setCodecs(map: LegPayloadMap): void {
    this.map = { ...map };
    if (this.opts.detectInband !== undefined || this.closed) return;
    const want = map.telephoneEvent < 0;
    if (want && !this.detector) this.detector = this.newDetector();
    else if (!want && this.detector) {
      this.detector.close();
      this.detector = undefined;
    }
  }

  /** One accepted RTP packet from the leg's peer (a view over the datagram). */
  onPacket(datagram: Uint8Array, view: RtpView): void {
    if (this.closed) return;
    const kind = payloadKind(this.map, view.payloadType);
    if (kind === 'telephone-event') {
      const payload = datagram.subarray(view.payloadOffset, view.payloadOffset + view.payloadLength);
      if (!this.receiver.receive(view, payload).ok) this.malformed++;
      return;
    }
    const detector = this.detector;
    if (detector === undefined || (kind !== 'pcmu' && kind !== 'pcma')) return;
    const n = decodeInto(kind, datagram, view.payloadOffset, view.payloadLength, this.pcm, 0);
    let samples = this.views.get(n);
    if (samples === undefined) {
      samples = this.pcm.subarray(0, n);
      if (this.views.size < 8) this.views.set(n, samples);
    }
    detector.process(samples);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    // A digit still held when the leg goes is reported with what was seen of it.
    this.receiver.close();
    this.detector?.close();
  }

  dump(): LegDtmfDump {
    return {
      payloadTypes: { ...this.map },
      inband: this.detector !== undefined,
      digits: this.digits,
      malformedEvents: this.malformed,
      receiver: this.receiver.dump(),
      detector: this.detector?.dump() ?? null,
    };
  }
}
