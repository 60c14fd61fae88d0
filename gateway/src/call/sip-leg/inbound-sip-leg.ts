/**
 * An inbound SIP call that the gateway itself answers, as a `Leg`: the app that got it (an
 * announcement, a conference, later the IVR) rings, answers, plays, collects and hangs up without
 * seeing a SIP message. Signalling stays in the call's `SipCall` (the inbound dialog: 180, 200 with
 * our SDP, BYE, CANCEL); media is one media-leg handle of the engine (one port pair, prompts and
 * digits), of the kind the app answered into (`answer({ media })`). A kind the engine refuses (a
 * full room, no port) refuses the call with that status, before any 200.
 *
 * Ending: however the call ends — the caller's BYE or CANCEL, the app's `hangup`, a drain — the
 * session reports it once (`onFinish`), and the leg then resolves a play or a collection still
 * running (`ended`), frees its media handle and emits `ended` with the cause.
 */
import type { Clock } from '../../../../base/clock.ts';
import type { Timers } from '../../../../base/clock.ts';
import { err, ok, type Result } from '../../../../base/result.ts';
import type { Logger } from '../../core/log.ts';
import { causeOfSipStatus, sipStatusOfCause, type HangupCause } from '../hangup-cause.ts';
import type {
  AnswerOptions,
  CallFailure,
  LegDump,
  LegEnd,
  LegParty,
  PlayOptions,
  PlayOutcome,
  PromptRef,
  RecordOptions,
  RecordingHandle,
} from '../leg.ts';
import type { LegMediaHandle, LocalMediaPort } from '../leg-media.ts';
import { callFailure, LegBase } from '../leg-base.ts';
import { LocalPlayback } from '../local-playback.ts';
import { LegRecordings, recordingPrefix } from '../leg-recording.ts';
import type { MediaLeg } from '../call.ts';

/** What the leg needs of the call's inbound dialog (a `SipCall` the gateway answers itself). */
export interface LocalSipSession {
  readonly interactionId: string;
  readonly currentState: string;
  ringLocally(): boolean;
  answerLocally(sdp: Buffer): boolean;
  reject(status: number, reason?: string): void;
  hangup(cause: string): void;
  onFinish(fn: () => void): void;
  summary(): {
    finalStatus: number | null;
    hangupBy: 'caller' | 'callee' | 'system' | null;
    hangupCause: string;
  };
}

export interface InboundSipLegOptions {
  session: LocalSipSession;
  media: LocalMediaPort;
  /** The caller's SDP offer (undefined: the INVITE had none, our offer goes in the 200). */
  offer: Buffer | undefined;
  party: LegParty;
  callId: string;
  clock: Clock;
  timers: Timers;
  logger: Logger;
}

export class InboundSipLeg extends LegBase implements MediaLeg {
  readonly technology = 'sip' as const;
  readonly direction = 'inbound' as const;
  private handle: LegMediaHandle | undefined;
  private readonly playback: LocalPlayback;
  private readonly recordings: LegRecordings;
  /** The cause the app hung up with (the session's own summary knows only SIP facts). */
  private localCause: HangupCause | undefined;
  private endWaiters: Array<() => void> = [];
  /** The media ended by itself before the answer was done: reported once answered. */
  private mediaEndedEarly: string | undefined;

  constructor(private readonly o: InboundSipLegOptions) {
    super(`${o.session.interactionId}:a`, o.session.interactionId, o.party, o);
    this.playback = new LocalPlayback(o.clock);
    this.recordings = new LegRecordings(recordingPrefix(this.id), o.timers);
    o.session.onFinish(() => this.sessionEnded());
  }

  /** The key of this leg's media in the engine: the interaction id (as the engine names calls). */
  get mediaKey(): string {
    return this.interactionId;
  }

  /** Stop what plays (hold music included): a bridge takes over the outgoing stream. */
  stopMedia(): void {
    this.playback.stop(this.handle);
  }

  ring(): Promise<Result<void, CallFailure>> {
    if (this.state === 'ended')
      return Promise.resolve(
        err(callFailure('EDGE_ERR_CALL_LEG_ENDED', 'normal-clearing', 'the leg has ended')),
      );
    if (this.state === 'answered' || !this.o.session.ringLocally()) {
      return Promise.resolve(
        err(
          callFailure('EDGE_ERR_CALL_LEG_STATE', 'interworking', `cannot ring a leg in state ${this.state}`),
        ),
      );
    }
    return Promise.resolve(this.machine.transition('alerting'));
  }

  answer(opts: AnswerOptions = {}): Promise<Result<void, CallFailure>> {
    return this.answerOnce(() => this.doAnswer(opts));
  }

  private async doAnswer(opts: AnswerOptions): Promise<Result<void, CallFailure>> {
    const opened = await this.o.media.open(
      this.interactionId,
      this.o.offer,
      (press) => this.pressed(press),
      undefined,
      {
        media: opts.media,
        onEnded: (detail) => this.mediaEnded(detail),
        // The caller's side of the interaction: prompts, then whoever the app bridges in. A
        // supervisor's listening place, an echo or a tone is no conversation of its own.
        ...(recordsConversation(opts.media) ? { record: { recordingId: this.interactionId } } : {}),
      },
    );
    if (!opened.ok) {
      const cause = causeOfSipStatus(opened.status);
      this.log.warn({ status: opened.status, reason: opened.reason }, 'no media for the answer');
      if (this.state !== 'ended') this.o.session.reject(opened.status, opened.reason);
      return err({ code: 'EDGE_ERR_CALL_MEDIA', sipStatus: opened.status, cause, message: opened.reason });
    }
    // The caller hung up (CANCEL) while the media was set up: nothing to answer, the port goes back.
    if (this.state === 'ended' || !this.o.session.answerLocally(opened.sdp)) {
      await this.closeHandle(opened.handle);
      return err(
        callFailure('EDGE_ERR_CALL_LEG_ENDED', 'originator-cancel', 'the caller left before the answer'),
      );
    }
    this.handle = opened.handle;
    const answered = this.machine.transition('answered');
    const early = this.mediaEndedEarly;
    this.mediaEndedEarly = undefined;
    if (answered.ok && early !== undefined) this.events.emit('mediaEnded', early);
    return answered;
  }

  /**
   * Call control answers the caller with a description of its own (the media of a party it
   * placed for it, such as a PSTN port's frame leg): no media of an app is opened, nothing plays.
   */
  answerWith(sdp: Buffer): boolean {
    if (this.state === 'ended' || this.state === 'answered') return false;
    if (!this.o.session.answerLocally(sdp)) return false;
    return this.machine.transition('answered').ok;
  }

  /** Refuse the call before the answer with exactly `status` (what the far end said, for SIP). */
  reject(status: number, reason?: string): void {
    if (this.state === 'ended' || this.state === 'answered') return;
    this.o.session.reject(status, reason);
  }

  /** The media ended by itself: the app hears of it once the leg is answered, never after its end. */
  private mediaEnded(detail: string): void {
    if (this.state === 'ended') return;
    if (this.state === 'answered' && this.handle) this.events.emit('mediaEnded', detail);
    else this.mediaEndedEarly = detail;
  }

  hangup(cause: HangupCause): Promise<void> {
    if (this.state === 'ended') return Promise.resolve();
    const done = new Promise<void>((resolve) => this.endWaiters.push(resolve));
    this.localCause ??= cause;
    if (this.state === 'answered') {
      this.o.session.hangup(cause);
    } else {
      // Before answer the call is refused with the cause's status (a success status is no refusal).
      const status = sipStatusOfCause(cause);
      this.o.session.reject(status >= 300 ? status : 480);
    }
    return done;
  }

  play(prompts: readonly PromptRef[], opts: PlayOptions = {}): Promise<PlayOutcome> {
    if (this.state === 'ended') return Promise.resolve({ outcome: 'ended', positionMs: 0 });
    const handle = this.handle;
    if (!handle || this.state !== 'answered') {
      return Promise.resolve({
        outcome: 'failed',
        positionMs: 0,
        failure: callFailure('EDGE_ERR_CALL_LEG_STATE', 'interworking', 'play needs an answered leg'),
      });
    }
    return this.playback.play(handle, prompts, opts);
  }

  record(opts: RecordOptions = {}): Result<RecordingHandle, CallFailure> {
    if (this.state !== 'answered')
      return err(callFailure('EDGE_ERR_CALL_LEG_STATE', 'interworking', 'record needs an answered leg'));
    return this.recordings.start(this.handle, opts);
  }

  /** The caller on hold hears music on hold (or silence when it is off) until `unhold`. */
  hold(): Promise<Result<void, CallFailure>> {
    const handle = this.handle;
    if (!handle || this.state !== 'answered') {
      return Promise.resolve(
        err(callFailure('EDGE_ERR_CALL_LEG_STATE', 'interworking', 'hold needs an answered leg')),
      );
    }
    this.playback.hold(handle, this.o.media.musicOnHold());
    return Promise.resolve(ok(undefined));
  }

  unhold(): Promise<Result<void, CallFailure>> {
    if (this.state !== 'answered') {
      return Promise.resolve(
        err(callFailure('EDGE_ERR_CALL_LEG_STATE', 'interworking', 'unhold needs an answered leg')),
      );
    }
    this.playback.unhold(this.handle);
    return Promise.resolve(ok(undefined));
  }

  /** The session ended (whoever ended it): settle what runs, free the media, tell the listeners. */
  private sessionEnded(): void {
    const s = this.o.session.summary();
    const status = s.finalStatus ?? 500;
    const wasAnswered = this.state === 'answered';
    let cause: HangupCause;
    if (this.localCause) cause = this.localCause;
    else if (s.hangupBy === 'caller') cause = wasAnswered ? 'normal-clearing' : 'originator-cancel';
    else cause = wasAnswered ? 'normal-clearing' : causeOfSipStatus(status);
    const by: LegEnd['by'] = this.localCause ? 'local' : s.hangupBy === 'caller' ? 'remote' : 'system';
    this.digits.close();
    this.playback.ended();
    this.recordings.ended();
    const handle = this.handle;
    this.handle = undefined;
    if (handle) void this.closeHandle(handle);
    this.machine.finish({ cause, by, sipStatus: wasAnswered ? 200 : status, detail: s.hangupCause });
    for (const w of this.endWaiters.splice(0)) w();
  }

  private async closeHandle(handle: LegMediaHandle): Promise<void> {
    try {
      await handle.close();
    } catch (e) {
      this.log.error({ err: e }, 'freeing the media leg failed');
    }
  }

  dump(): LegDump {
    return this.dumpAs('sip', 'inbound', {
      technology: 'sip',
      callId: this.o.callId,
      remoteTarget: null,
      trunkMember: null,
    });
  }

  close(): void {
    if (this.state !== 'ended') void this.hangup('normal-clearing');
  }
}

/** Media a recording of the call is made of: prompts and bridges, a conference's mix. */
function recordsConversation(media: AnswerOptions['media']): boolean {
  return media === undefined || media.kind === 'prompt' || media.kind === 'conference';
}
