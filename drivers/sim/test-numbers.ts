/**
 * The office's test numbers, what a technician dials to check a line end to end:
 *
 * | number  | behaviour                                                                  |
 * |---------|----------------------------------------------------------------------------|
 * | `95000` | answers and echoes what it hears                                           |
 * | `95001` | answers with 1004 Hz at 0 dBm0 (the digital milliwatt, ITU-T O.133)          |
 * | `95002` | busy: busy tone, never answers                                             |
 * | `95003` | rings (ringback) and never answers                                         |
 * | `95004` | answers, then after 5 s hangs up leaving only busy tone: no reversal, no loop drop |
 */
import type { TimerHandle } from '../../base/clock.ts';
import { ToneGenerator } from '../../base/signal/tone-generator.ts';
import { FRAME_SAMPLES } from '../api/types.ts';
import type { CoCallLike, OfficeContext, Party } from './co-types.ts';

export type TestNumberKind = 'echo' | 'milliwatt' | 'busy' | 'no-answer' | 'answer-then-busy';

export const TEST_NUMBERS: Readonly<Record<string, TestNumberKind>> = {
  '95000': 'echo',
  '95001': 'milliwatt',
  '95002': 'busy',
  '95003': 'no-answer',
  '95004': 'answer-then-busy',
};

/** How long `95004` stays answered before it leaves the caller with busy tone. */
export const ANSWER_THEN_BUSY_MS = 5000;

export class TestService implements Party {
  private call: CoCallLike | null = null;
  private readonly out = new Int16Array(FRAME_SAMPLES);
  private readonly echo = new Int16Array(FRAME_SAMPLES);
  private readonly tone: ToneGenerator | null;
  private timer: TimerHandle | null = null;

  constructor(
    readonly kind: TestNumberKind,
    readonly number: string,
    private readonly ctx: OfficeContext,
  ) {
    this.tone =
      kind === 'milliwatt' ? new ToneGenerator({ frequenciesHz: [1004], levelDbm0: 0, cadenceMs: [] }) : null;
  }

  get label(): string {
    return `test ${this.number} (${this.kind})`;
  }

  offer(call: CoCallLike): boolean {
    this.call = call;
    call.setCalled(this);
    if (this.kind === 'busy') {
      call.reject('busy');
      return true;
    }
    call.alerting();
    if (this.kind === 'no-answer') return true;
    this.after('answer', this.ctx.timing.testAnswerMs, () => {
      call.answer();
      if (this.kind === 'answer-then-busy') {
        // The far end goes away without any line signal: only the busy tone tells.
        this.after('hangup', ANSWER_THEN_BUSY_MS, () => call.clear(this, 'normal', 'busy-tone'));
      }
    });
    return true;
  }

  alerting(): void {}
  answered(): void {}
  rejected(): void {}

  cleared(): void {
    this.timer?.cancel();
    this.timer = null;
    this.call = null;
  }

  talk(): Int16Array {
    switch (this.kind) {
      case 'echo':
        this.out.set(this.echo);
        return this.out;
      case 'milliwatt':
        return this.tone ? this.tone.fill(this.out) : this.out;
      case 'busy':
      case 'no-answer':
      case 'answer-then-busy':
        this.out.fill(0);
        return this.out;
      default: {
        const never: never = this.kind;
        throw new Error(`unknown test number kind ${String(never)}`);
      }
    }
  }

  hear(frame: Int16Array): void {
    if (this.kind === 'echo') this.echo.set(frame);
  }

  close(): void {
    this.cleared();
  }

  private after(name: string, delayMs: number, fire: () => void): void {
    this.timer?.cancel();
    this.timer = this.ctx.timers.start(name, delayMs, () => {
      this.timer = null;
      if (this.call) fire();
    });
  }
}
