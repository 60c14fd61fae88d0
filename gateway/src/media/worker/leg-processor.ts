/**
 * Everything a relay worker does with one leg's packets besides forwarding them: DTMF, the
 * recording feed and the echo service. Plugged into `RelayLeg.onPacket`; on a bridged leg it never
 * consumes a packet (the relay still forwards it, telephone-events included, with the far leg's
 * PT). The echo consumes: the packet goes straight back to its source as it came, only the SSRC
 * ours — not through the relay, which renumbers forwarded packets onto the leg's own stream.
 */
import type { Timers } from '../../../../base/clock.ts';
import { NO_PAYLOAD_TYPES, type LegPayloadMap } from '../codec/leg-codecs.ts';
import { LegDtmf, type LegDigit, type LegDtmfDump } from '../dtmf/leg-dtmf.ts';
import type { LegRecorderFeed } from '../record/leg-recorder.ts';
import type { EchoSsrc } from './leg-service.ts';
import type { RtpView } from '../rtp/rtp-packet.ts';

export interface LegProcessorOptions {
  timers: Timers;
  onDigit: (d: LegDigit) => void;
  detectInband?: boolean;
}

export interface LegProcessorDump {
  dtmf: LegDtmfDump;
  recording: { frames: number } | null;
  echo: { ssrc: number; changes: number } | null;
}

export class LegProcessor {
  private map: LegPayloadMap = NO_PAYLOAD_TYPES;
  readonly dtmf: LegDtmf;
  /** The recordings the leg's audio goes to (the interaction's, and one the leg's app asked for). */
  private feeds: LegRecorderFeed[] = [];
  private echoSsrc: EchoSsrc | undefined;
  private echoSend: ((datagram: Buffer) => void) | undefined;

  constructor(opts: LegProcessorOptions) {
    this.dtmf = new LegDtmf(opts);
  }

  setCodecs(map: LegPayloadMap): void {
    this.map = { ...map };
    this.dtmf.setCodecs(map);
    for (const f of this.feeds) f.setCodecs(map);
  }

  /** The leg's audio goes to `feed`'s tap too; a feed of the same tap is replaced. */
  addRecorder(feed: LegRecorderFeed): void {
    this.dropRecorder(feed.tap);
    feed.setCodecs(this.map);
    this.feeds.push(feed);
  }

  /** The leg leaves the recording of `tap`. */
  dropRecorder(tap: LegRecorderFeed['tap']): void {
    const kept: LegRecorderFeed[] = [];
    for (const f of this.feeds) {
      if (f.tap === tap) f.close();
      else kept.push(f);
    }
    this.feeds = kept;
  }

  /** Send every packet back with `send` (the latched source), our SSRC on it. */
  setEcho(e: EchoSsrc, send: (datagram: Buffer) => void): void {
    this.echoSsrc = e;
    this.echoSend = send;
  }

  /** The `RelayLeg.onPacket` hook: true (forward) unless the echo took the packet. */
  readonly onPacket = (datagram: Buffer, view: RtpView): boolean => {
    this.dtmf.onPacket(datagram, view);
    for (const f of this.feeds) f.onPacket(datagram, view);
    const echo = this.echoSsrc;
    if (echo === undefined || this.echoSend === undefined) return true;
    // Last: the SSRC rewrite changes the datagram the others have read.
    echo.onPacket(datagram, view);
    this.echoSend(datagram);
    return false;
  };

  close(): void {
    this.dtmf.close();
    for (const f of this.feeds) f.close();
    this.feeds = [];
  }

  dump(): LegProcessorDump {
    return {
      dtmf: this.dtmf.dump(),
      recording: this.feeds[0] ? { frames: this.feeds[0].frames } : null,
      echo: this.echoSsrc ? { ssrc: this.echoSsrc.ssrc, changes: this.echoSsrc.changes } : null,
    };
  }
}
