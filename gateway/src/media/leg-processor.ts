/**
 * Everything a relay worker does with one leg's packets besides forwarding them: DTMF, the
 * recording feed and the echo service's SSRC. Plugged into `RelayLeg.onPacket`; it never consumes
 * a packet (the relay still forwards it, telephone-events included, with the far leg's PT).
 */
import type { Timers } from '../core/clock.ts';
import { NO_PAYLOAD_TYPES, type LegPayloadMap } from './leg-codecs.ts';
import { LegDtmf, type LegDigit, type LegDtmfDump } from './leg-dtmf.ts';
import type { LegRecorderFeed } from './leg-recorder.ts';
import type { EchoSsrc } from './leg-service.ts';
import type { RtpView } from './rtp-packet.ts';

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
  private recorderFeed: LegRecorderFeed | undefined;
  private echoSsrc: EchoSsrc | undefined;

  constructor(opts: LegProcessorOptions) {
    this.dtmf = new LegDtmf(opts);
  }

  setCodecs(map: LegPayloadMap): void {
    this.map = { ...map };
    this.dtmf.setCodecs(map);
    this.recorderFeed?.setCodecs(map);
  }

  set recorder(feed: LegRecorderFeed | undefined) {
    this.recorderFeed?.close();
    this.recorderFeed = feed;
    feed?.setCodecs(this.map);
  }

  get recorder(): LegRecorderFeed | undefined {
    return this.recorderFeed;
  }

  set echo(e: EchoSsrc | undefined) {
    this.echoSsrc = e;
  }

  /** The `RelayLeg.onPacket` hook: always true (forward). */
  readonly onPacket = (datagram: Buffer, view: RtpView): boolean => {
    this.dtmf.onPacket(datagram, view);
    this.recorderFeed?.onPacket(datagram, view);
    // Last: the SSRC rewrite changes the datagram the others have read.
    this.echoSsrc?.onPacket(datagram, view);
    return true;
  };

  close(): void {
    this.dtmf.close();
    this.recorder = undefined;
  }

  dump(): LegProcessorDump {
    return {
      dtmf: this.dtmf.dump(),
      recording: this.recorderFeed ? { frames: this.recorderFeed.frames } : null,
      echo: this.echoSsrc ? { ssrc: this.echoSsrc.ssrc, changes: this.echoSsrc.changes } : null,
    };
  }
}
