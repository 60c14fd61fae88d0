/**
 * The media side of the legs the gateway answers itself (`LocalMediaPort` of `call/leg-media.ts`):
 * a port pair from the service answerer, of the kind the leg was answered into (prompts, echo,
 * milliwatt, a mixing room), prompts played by the engine on that leg's own stream, and the
 * engine's digit events routed to the leg they were pressed on.
 *
 * The engine names a service leg by its call key (the interaction id); digits for keys no leg
 * listens to (a B2BUA call's digits) are not this adapter's and are ignored here.
 */
import type { DtmfDigit } from '../../../base/signal/dtmf-digits.ts';
import type { DigitPress } from '../call/leg.ts';
import type { LegMediaHandle, LocalMediaOpen, LocalMediaPort, LocalMediaWant } from '../call/leg-media.ts';
import type { DigitEvent } from '../media/engine/engine.ts';
import type { LegPlayOptions } from '../media/engine/engine-players.ts';
import type { PromptSource } from '../media/play/prompt-library.ts';
import type { ServiceAnswerer } from './service-answerer.ts';

export interface LocalMediaOptions {
  answerer: Pick<ServiceAnswerer, 'answer'>;
  engine: {
    bridgeService(keyA: string, keyB: string): string | undefined;
    unbridgeService(bridgeId: string): void;
    play(callKey: string, side: 'a', prompts: readonly PromptSource[], opts?: LegPlayOptions): boolean;
    stopPlay(callKey: string, side: 'a'): void;
    recordLeg(callKey: string, recordingId: string, received: 'caller' | 'other'): string | undefined;
    startRecording(callKey: string, recordingId: string, received: 'caller' | 'other'): string | undefined;
    stopRecording(recordingId: string): void;
    recordingClosed(recordingId: string): Promise<{ path: string; durationMs: number; error?: string }>;
  };
  musicOnHold(): PromptSource | undefined;
}

const DTMF = /^[0-9*#A-D!]$/;

export class LocalMedia implements LocalMediaPort {
  private readonly listeners = new Map<string, (press: DigitPress) => void>();

  constructor(private readonly o: LocalMediaOptions) {}

  async open(
    callKey: string,
    offer: Buffer | undefined,
    onDigit: (press: DigitPress) => void,
    nearKey?: string,
    want: LocalMediaWant = {},
  ): Promise<LocalMediaOpen> {
    const r = await this.o.answerer.answer(want.media ?? { kind: 'prompt' }, offer, callKey, {
      nearKey,
      onEnded: want.onEnded,
      wire: want.wire,
    });
    if (!r.ok) return r;
    this.listeners.set(callKey, onDigit);
    const engine = this.o.engine;
    if (want.record) engine.recordLeg(callKey, want.record.recordingId, 'caller');
    let closed = false;
    const handle: LegMediaHandle = {
      play: (prompts, opts) =>
        !closed &&
        engine.play(callKey, 'a', prompts, {
          loop: opts.loop,
          bargeIn: opts.bargeIn,
          onEnded: (e) => opts.onEnded({ outcome: e.outcome, positionMs: e.positionMs, digit: e.digit }),
        }),
      applyAnswer: (sdp) => !closed && (r.session.applyAnswer?.(sdp) ?? false),
      stopPlay: () => {
        if (!closed) engine.stopPlay(callKey, 'a');
      },
      record: (recordingId) => {
        if (closed) return undefined;
        const path = engine.startRecording(callKey, recordingId, 'caller');
        if (path === undefined) return undefined;
        return {
          path,
          closed: engine.recordingClosed(recordingId),
          stop: () => engine.stopRecording(recordingId),
        };
      },
      close: () => {
        if (!closed) {
          closed = true;
          if (this.listeners.get(callKey) === onDigit) this.listeners.delete(callKey);
          r.session.close();
        }
        return Promise.resolve();
      },
    };
    return { ok: true, sdp: r.sdp, handle, wired: r.wired };
  }

  musicOnHold(): PromptSource | undefined {
    return this.o.musicOnHold();
  }

  bridge(keyA: string, keyB: string): { unbridge(): void } | undefined {
    const id = this.o.engine.bridgeService(keyA, keyB);
    if (id === undefined) return undefined;
    let done = false;
    return {
      unbridge: () => {
        if (done) return;
        done = true;
        this.o.engine.unbridgeService(id);
      },
    };
  }

  /** Every digit the engine reports; the ones on a local leg go to it. */
  digit(e: DigitEvent): void {
    const to = this.listeners.get(e.callKey);
    if (!to || !DTMF.test(e.digit)) return;
    to({ digit: e.digit as DtmfDigit, durationMs: e.durationMs, source: e.source, atMs: e.atMs });
  }

  dump(): { listening: number } {
    return { listening: this.listeners.size };
  }
}
