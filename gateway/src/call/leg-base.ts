/**
 * What every Leg implementation shares, whatever its technology: identity, the guarded state
 * machine and its typed events, digit collection fed by the leg's media, and the common part of
 * the dump. SIP, PSTN and local legs extend it and add how they ring, answer, end and play.
 */
import type { Clock, Timers } from '../../../base/clock.ts';
import type { Logger } from '../core/log.ts';
import { err, ok, type Result } from '../../../base/result.ts';
import { TypedEmitter } from '../core/typed-emitter.ts';
import type { DtmfDigit } from '../../../base/signal/dtmf-digits.ts';
import { DigitCollector } from './digit-collector.ts';
import { sipStatusOfCause, type HangupCause } from './hangup-cause.ts';
import type {
  CallFailure,
  CallFailureCode,
  CollectOptions,
  DigitPress,
  DigitResult,
  LegDetail,
  LegDirection,
  LegDump,
  LegEnd,
  LegEvents,
  LegParty,
  LegState,
  LegTechnology,
} from './leg.ts';
import { LegStateMachine } from './leg-state.ts';

/** The RFC 4733 digits (and flash) an app may see; anything else from a media path is dropped. */
const DIGITS = new Set('0123456789*#ABCD!');

export function isDigit(d: string): d is DtmfDigit {
  return d.length === 1 && DIGITS.has(d);
}

export function callFailure(code: CallFailureCode, cause: HangupCause, message: string): CallFailure {
  return { code, sipStatus: sipStatusOfCause(cause), cause, message };
}

export interface LegBaseDeps {
  clock: Clock;
  timers: Timers;
  logger: Logger;
}

export abstract class LegBase {
  readonly events: TypedEmitter<LegEvents>;
  protected readonly machine: LegStateMachine;
  protected readonly digits: DigitCollector;
  protected readonly createdAtMs: number;
  protected readonly log: Logger;

  constructor(
    readonly id: string,
    readonly interactionId: string,
    readonly party: LegParty,
    deps: LegBaseDeps,
  ) {
    this.log = deps.logger.child({ legId: id });
    this.events = new TypedEmitter<LegEvents>((event, e) =>
      this.log.error({ err: e, event }, 'a listener of the leg failed'),
    );
    this.machine = new LegStateMachine(this.events, deps.clock);
    this.digits = new DigitCollector(deps.timers);
    this.createdAtMs = deps.clock.wallNow();
  }

  get state(): LegState {
    return this.machine.state;
  }

  get end(): LegEnd | undefined {
    return this.machine.end;
  }

  /**
   * `answer` as every leg does it: idempotent once answered, refused once ended, and one answer
   * under way at a time (the media of the first call is the leg's).
   */
  protected answerOnce(run: () => Promise<Result<void, CallFailure>>): Promise<Result<void, CallFailure>> {
    if (this.state === 'answered') return Promise.resolve(ok(undefined));
    if (this.state === 'ended')
      return Promise.resolve(
        err(callFailure('EDGE_ERR_CALL_LEG_ENDED', 'normal-clearing', 'the leg has ended')),
      );
    this.answering ??= run();
    return this.answering;
  }

  private answering: Promise<Result<void, CallFailure>> | undefined;

  collectDigits(opts: CollectOptions): Promise<DigitResult> {
    if (this.state === 'ended') return Promise.resolve({ digits: '', outcome: 'ended' });
    return this.digits.collect(opts);
  }

  /** A key press from the leg's media or signalling: to the listeners, then to collection. */
  protected pressed(press: DigitPress): void {
    if (this.state === 'ended' || !isDigit(press.digit)) return;
    this.events.emit('digit', press);
    this.digits.push(press);
  }

  protected dumpAs(technology: LegTechnology, direction: LegDirection, detail: LegDetail): LegDump {
    return {
      id: this.id,
      interactionId: this.interactionId,
      technology,
      direction,
      party: { ...this.party },
      state: this.state,
      createdAtMs: this.createdAtMs,
      answeredAtMs: this.machine.answeredAt,
      end: this.end ? { ...this.end } : null,
      bridgedTo: null,
      detail,
    };
  }
}
