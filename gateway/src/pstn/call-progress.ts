/**
 * Call-progress tones the gateway plays to a PSTN caller while call control works on the call:
 * ringback while the SIP side rings, busy or congestion (reorder) when it fails, by the country's
 * tone plan (`media/tone-plan.ts`). Sans-I/O: the owner feeds it the SIP progress of the call and
 * asks it for one 20 ms frame per tick of the card; the failure tone's time limit runs on the
 * injected timers.
 *
 *   idle ──18x──► ringback ──18x with SDP──► early-media ──2xx──► connected
 *     │              │                           │
 *     └──────────────┴────── failure (≥ 300) ────┴──► failure-tone ──time limit──► done
 *
 * RFC 3960 §2.1 (the gateway model): "the UAC plays ringing locally when it receives a 180 (Ringing)
 * response and there is no early media"; once the far end sends early media (a 183 with SDP), its
 * audio is played instead, and a later 180 does not bring the local ringback back.
 */
import type { TimerHandle, Timers } from '../../../base/clock.ts';
import { ToneGenerator } from '../../../base/signal/tone-generator.ts';
import {
  CHINA_TONE_PLAN,
  ETSI_TONE_PLAN,
  NANP_TONE_PLAN,
  tonePlanForCountry,
  type TonePlan,
  type TonePlanId,
} from '../../../base/signal/tone-plan.ts';

export type ProgressState = 'idle' | 'ringback' | 'early-media' | 'connected' | 'failure-tone' | 'done';

export type ProgressInput =
  | { type: 'provisional'; status: number; earlyMedia: boolean }
  | { type: 'answered' }
  | { type: 'failed'; status: number };

/** What the owner does with this tick's frame. */
export type FrameSource = 'tone' | 'media' | 'none';

export interface CallProgressOptions {
  plan: TonePlan;
  /** How long the busy or congestion tone plays before the line is released (0: at once). */
  failureToneMs: number;
}

export interface CallProgressDump {
  state: ProgressState;
  plan: TonePlanId;
  tone: 'ringback' | 'busy' | 'congestion' | null;
  lineAnswered: boolean;
  failureStatus: number | null;
}

const PLANS: Readonly<Record<TonePlanId, TonePlan>> = {
  cn: CHINA_TONE_PLAN,
  etsi: ETSI_TONE_PLAN,
  nanp: NANP_TONE_PLAN,
};

/** The plan of `system`: an explicit `tonePlan` wins over the one the country implies. */
export function tonePlanOf(system: { country: string; tonePlan?: TonePlanId | undefined }): TonePlan {
  return system.tonePlan ? PLANS[system.tonePlan] : tonePlanForCountry(system.country || 'CN');
}

/**
 * The tone a failed call leaves the caller with. RFC 3398 §8.2.6.1 maps 486 Busy Here and 600 Busy
 * Everywhere to ISUP cause 17 "user busy", which the exchange signals with busy tone; every other
 * failure (no route, 503, 480, 408, …) maps to a cause the exchange answers with congestion.
 */
export function failureTone(status: number): 'busy' | 'congestion' {
  return status === 486 || status === 600 ? 'busy' : 'congestion';
}

const EDGES: Readonly<Record<ProgressState, readonly ProgressState[]>> = {
  idle: ['ringback', 'early-media', 'connected', 'failure-tone', 'done'],
  ringback: ['early-media', 'connected', 'failure-tone', 'done'],
  'early-media': ['connected', 'failure-tone', 'done'],
  connected: ['done'],
  'failure-tone': ['done'],
  done: [],
};

export class CallProgress {
  private current: ProgressState = 'idle';
  private generator: ToneGenerator | undefined;
  private toneName: CallProgressDump['tone'] = null;
  private answeredLine = false;
  private failureStatus: number | null = null;
  private timer: TimerHandle | undefined;

  constructor(
    private readonly o: CallProgressOptions,
    private readonly timers: Timers,
    /** The failure tone has played its time: release the line. */
    private readonly onFailureToneEnd: () => void,
  ) {}

  get state(): ProgressState {
    return this.current;
  }

  /** The line was answered to carry the tones (or early media): the SIP answer must not answer it again. */
  get lineAnswered(): boolean {
    return this.answeredLine;
  }

  /**
   * SIP progress of the call. Returns true when the line has to be answered now so that the
   * caller hears what follows (the first tone or the early media).
   */
  input(ev: ProgressInput): boolean {
    const before = this.answeredLine;
    switch (ev.type) {
      case 'provisional':
        if (ev.earlyMedia) this.transition('early-media');
        else if (this.current === 'idle') this.transition('ringback');
        break;
      case 'answered':
        this.transition('connected');
        break;
      case 'failed':
        if (this.current === 'connected' || this.current === 'done') break;
        this.failureStatus = ev.status;
        this.transition('failure-tone');
        break;
      default: {
        const never: never = ev;
        throw new Error(`unknown progress input ${JSON.stringify(never)}`);
      }
    }
    return !before && this.answeredLine;
  }

  /** One tick: fill `frame` with the tone (`'tone'`), or say that the call's media or nothing goes out. */
  frame(frame: Int16Array): FrameSource {
    switch (this.current) {
      case 'ringback':
      case 'failure-tone':
        this.generator?.fill(frame);
        return 'tone';
      case 'early-media':
      case 'connected':
        return 'media';
      case 'idle':
      case 'done':
        return 'none';
      default: {
        const never: never = this.current;
        return never;
      }
    }
  }

  close(): void {
    if (this.current !== 'done') this.transition('done');
  }

  dump(): CallProgressDump {
    return {
      state: this.current,
      plan: this.o.plan.id,
      tone: this.toneName,
      lineAnswered: this.answeredLine,
      failureStatus: this.failureStatus,
    };
  }

  private transition(to: ProgressState): void {
    if (this.current === to) return;
    if (!EDGES[this.current].includes(to)) return;
    this.current = to;
    this.timer?.cancel();
    this.timer = undefined;
    switch (to) {
      case 'ringback':
        this.answeredLine = true;
        this.play('ringback');
        return;
      case 'early-media':
        this.answeredLine = true;
        this.stopTone();
        return;
      case 'connected':
        this.stopTone();
        return;
      case 'failure-tone': {
        this.answeredLine = true;
        this.play(failureTone(this.failureStatus ?? 0));
        // The tone is bounded: the line is released when it has played (or the caller hangs up first).
        this.timer = this.timers.start('failure-tone', this.o.failureToneMs, () => {
          this.timer = undefined;
          this.transition('done');
          this.onFailureToneEnd();
        });
        return;
      }
      case 'done':
        this.stopTone();
        return;
      case 'idle':
        return;
      default: {
        const never: never = to;
        throw new Error(`unknown progress state ${String(never)}`);
      }
    }
  }

  private play(name: 'ringback' | 'busy' | 'congestion'): void {
    this.generator?.close();
    this.generator = new ToneGenerator(this.o.plan.tones[name]);
    this.toneName = name;
  }

  private stopTone(): void {
    this.generator?.close();
    this.generator = undefined;
    this.toneName = null;
  }
}
