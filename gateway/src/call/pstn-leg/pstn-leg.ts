/**
 * A call that rang on a PSTN port (an FXO line or an E1 timeslot), as a `Leg`: the port's control
 * from the PSTN service and its frame leg in the media engine, nothing else — no SIP. Apps answer
 * it, play to it and collect its digits exactly as they do a SIP leg; call control can instead
 * connect it straight to a SIP party it calls for it.
 *
 * Media. The port's 20 ms frames cross to and from a frame leg of the engine; its RTP face offers
 * PCMU and telephone-event (`serviceOffer`). Answered by an app, that face is wired to the app's
 * media leg (prompts, echo, a room) inside their worker: no port pair at all for a PSTN↔local
 * call. Connected to a SIP party (`face`), the frame leg gets its port pair and is that party's
 * media — one port pair for the whole PSTN↔SIP call, nothing relayed in between.
 *
 * Call progress (`pstn.callProgress.answer: early`): while the far party rings the line is
 * answered and hears the tone plan's ringback; a failed call hears busy or congestion for
 * `failureToneMs`, then the port is released. Late answer: the line rings on until the answer,
 * and a failed call leaves an FXO line ringing unanswered (it cannot refuse).
 *
 *   offered ── ring() ──► alerting ── answer()/connect ──► answered ── either side ──► ended
 *      └────────── caller hangs up, hangup(), refused ─────────────────────────────────► ended
 */
import type { Clock, Timers } from '../../../../base/clock.ts';
import { err, ok, type Result } from '../../../../base/result.ts';
import { FRAME_SAMPLES } from '../../../../base/signal/pcm-frame.ts';
import type { TonePlan } from '../../../../base/signal/tone-plan.ts';
import type { Logger } from '../../core/log.ts';
import type { FrameLegHandle, FrameLegSink, ServiceLegPlan } from '../../media/engine/engine.ts';
import type { RtpAddress } from '../../media/rtp/rtp-latch.ts';
import { remoteOfServiceAnswer, serviceOffer } from '../../media/sdp/service-sdp.ts';
import { CallProgress } from '../../pstn/call-progress.ts';
import type { PstnCallSink, PstnIncoming } from '../../pstn/pstn-calls.ts';
import type { PortEvent } from '../../pstn/pstn-port.ts';
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

/** What a PSTN leg needs of the media engine: a frame leg for its port. */
export interface PstnFramePort {
  /**
   * `recordingId`: the recording the leg's audio goes to when calls are recorded, one per
   * interaction (the call key by default); `line`: which party the line is (the caller by default);
   * `near`: the frame leg of another channel of the call, to open beside (see `wireFrameLegs`).
   */
  openFrameLeg(
    callKey: string,
    sink: FrameLegSink,
    opts?: { recordingId?: string; line?: 'caller' | 'callee'; near?: string },
  ): FrameLegHandle | undefined;
  /**
   * Two channels of one call hear each other, their frame legs wired in their worker: no port
   * pair. False when they cannot be (one has sockets, or they sit in two workers).
   */
  wireFrameLegs(keyA: string, keyB: string): boolean;
}

export interface PstnLegOptions {
  incoming: PstnIncoming;
  interactionId: string;
  frames: PstnFramePort;
  /** The media of apps that answer the leg (prompts, echo, rooms). */
  media: LocalMediaPort;
  /** The address our SDP names (where the engine's sockets are reached). */
  host: string;
  /** Early answer with ringback and failure tones, by this plan; undefined: late answer. */
  progress: { plan: TonePlan; failureToneMs: number } | undefined;
  clock: Clock;
  timers: Timers;
  logger: Logger;
}

export class PstnLeg extends LegBase implements MediaLeg, PstnCallSink {
  readonly direction = 'inbound' as const;
  readonly technology: 'fxo' | 'e1';
  /** What the frame leg sends and receives: the service offer's codecs, whatever its port. */
  private readonly plan: ServiceLegPlan;
  private readonly playback: LocalPlayback;
  private readonly recordings: LegRecordings;
  private readonly progress: CallProgress | undefined;
  private readonly toneFrame = new Int16Array(FRAME_SAMPLES);
  private handle: LegMediaHandle | undefined;
  /** The port is off hook (answered, or early to carry tones). */
  private lineAnswered = false;
  /** The frame leg is started: the line hears what it receives, and it hears the line. */
  private flowing = false;
  private starting = false;
  /** The port is held for a failure tone after the leg ended. */
  private toneAfterEnd = false;
  private released = false;
  private endWaiters: Array<() => void> = [];

  /** Undefined when the engine has no port pair for the call's frame leg. */
  static open(o: PstnLegOptions): PstnLeg | undefined {
    const leg = new PstnLeg(o);
    return leg.frameLeg ? leg : undefined;
  }

  private readonly frameLeg: FrameLegHandle | undefined;

  private constructor(private readonly o: PstnLegOptions) {
    super(`${o.interactionId}:a`, o.interactionId, partyOf(o.incoming), o);
    this.technology = o.incoming.kind;
    this.playback = new LocalPlayback(o.clock);
    this.recordings = new LegRecordings(recordingPrefix(this.id), o.timers);
    // No `onFrame`: received frames wait in the leg's playout buffer for the card's ticks.
    this.frameLeg = o.frames.openFrameLeg(o.interactionId, {
      // RFC 4733 digits from the far party are regenerated in band on the line.
      onDigit: (digit, durationMs) => {
        if (this.state === 'answered') o.incoming.control.sendDigit(digit, durationMs);
      },
    });
    const offered = serviceOffer({ address: o.host, rtpPort: 0 }).plan;
    this.plan = {
      remote: undefined,
      law: offered.law,
      audioPayloadType: offered.audioPayloadType,
      telephoneEventPayloadType: offered.telephoneEventPayloadType,
    };
    this.progress = o.progress
      ? new CallProgress(o.progress, o.timers, () => this.failureToneEnded())
      : undefined;
  }

  /** The key of the line's frame leg in the engine (what a second channel is wired to). */
  get frameKey(): string {
    return this.o.interactionId;
  }

  /** The key of the app's media leg in the engine (what a bridge joins). */
  get mediaKey(): string {
    return `${this.interactionId}:line`;
  }

  stopMedia(): void {
    this.playback.stop(this.handle);
  }

  // --- the port's side (PstnCallSink) -------------------------------------------------------

  frame(): Int16Array | undefined {
    const progress = this.progress;
    if (progress) {
      const source = progress.frame(this.toneFrame);
      if (source === 'tone') return this.toneFrame;
      if (source === 'none' && !this.flowing) return undefined;
    }
    if (!this.flowing) return undefined;
    // Drained every tick; heard only once the line is off hook (early media, or the answer).
    const f = this.frameLeg?.pull();
    return this.lineAnswered ? f : undefined;
  }

  audio(frame: Int16Array): void {
    if (this.flowing) this.frameLeg?.send(frame);
  }

  portEvent(ev: PortEvent): void {
    switch (ev.type) {
      case 'far-end-disconnect':
      case 'released':
        // The caller hung up (or the exchange cleared the line).
        if (this.toneAfterEnd) return this.releasePort();
        this.finish({
          cause: this.state === 'answered' ? 'normal-clearing' : 'originator-cancel',
          by: 'remote',
          sipStatus: this.state === 'answered' ? 200 : 487,
          detail: ev.type === 'released' ? 'released' : ev.reason,
        });
        return;
      case 'fault':
        this.log.warn({ reason: ev.reason }, 'fault on the line of a call');
        return;
      case 'answered':
      case 'incoming':
      case 'outgoing-failed':
        return;
      default: {
        const never: never = ev;
        throw new Error(`unknown port event ${JSON.stringify(never)}`);
      }
    }
  }

  // --- the Leg ------------------------------------------------------------------------------

  ring(): Promise<Result<void, CallFailure>> {
    if (this.state === 'ended')
      return Promise.resolve(
        err(callFailure('EDGE_ERR_CALL_LEG_ENDED', 'normal-clearing', 'the leg has ended')),
      );
    if (this.state === 'answered')
      return Promise.resolve(
        err(callFailure('EDGE_ERR_CALL_LEG_STATE', 'interworking', 'cannot ring an answered leg')),
      );
    // RFC 3960 §2.1 as a gateway applies it: ringback is played locally, on the line.
    if (this.progress?.input({ type: 'provisional', status: 180, earlyMedia: false })) this.answerLine();
    if (this.state === 'alerting') return Promise.resolve(ok(undefined));
    return Promise.resolve(this.machine.transition('alerting'));
  }

  /**
   * The SIP party sent early media (a 183 with SDP, applied through `face`): with early answer the
   * line goes off hook and the caller hears it instead of the local ringback (RFC 3960 §2.1).
   */
  earlyMedia(): void {
    if (this.state === 'ended' || this.state === 'answered') return;
    if (this.progress?.input({ type: 'provisional', status: 183, earlyMedia: true })) this.answerLine();
    if (this.state === 'offered' || this.state === 'alerting') this.machine.transition('early');
  }

  answer(opts: AnswerOptions = {}): Promise<Result<void, CallFailure>> {
    return this.answerOnce(() => this.answerIntoApp(opts));
  }

  private async answerIntoApp(opts: AnswerOptions): Promise<Result<void, CallFailure>> {
    const opened = await this.o.media.open(
      this.mediaKey,
      undefined,
      (press) => this.pressed(press),
      this.o.interactionId,
      {
        media: opts.media,
        onEnded: (detail) => this.mediaEnded(detail),
        wire: { key: this.o.interactionId, offer: () => this.lineOffer() },
      },
    );
    if (!opened.ok) {
      const cause = causeOfSipStatus(opened.status);
      this.log.warn({ status: opened.status, reason: opened.reason }, 'no media for the answer');
      await this.hangup(cause);
      return err({ code: 'EDGE_ERR_CALL_MEDIA', sipStatus: opened.status, cause, message: opened.reason });
    }
    // Wired: the two legs share their worker, no address between them.
    const remote = opened.wired ? ok(undefined) : remoteOfServiceAnswer(opened.sdp);
    if (this.state === 'ended' || !remote.ok) {
      await this.closeHandle(opened.handle);
      if (this.state !== 'ended') await this.hangup('interworking');
      return err(
        callFailure('EDGE_ERR_CALL_LEG_ENDED', 'originator-cancel', 'the caller left before the answer'),
      );
    }
    this.handle = opened.handle;
    return this.connect(remote.value);
  }

  /** Our offer naming the frame leg's port pair, bound now (undefined: no port pair is free). */
  private lineOffer(): Buffer | undefined {
    const port = this.frameLeg?.bind();
    return port === undefined ? undefined : serviceOffer({ address: this.o.host, rtpPort: port }).sdp;
  }

  /**
   * The leg's media for a SIP party call control calls for it: our offer names the frame leg's
   * own port, and the party's answer is where its RTP goes. Nothing plays on it: the party hears
   * the line and the line hears the party.
   */
  face(): LocalMediaPort {
    return {
      open: () => {
        const sdp = this.lineOffer();
        if (!sdp)
          return Promise.resolve({ ok: false, status: 503, reason: 'Service Unavailable (no media port)' });
        return Promise.resolve({
          ok: true as const,
          sdp,
          wired: false,
          handle: {
            play: () => false,
            stopPlay: () => undefined,
            // The line's recording is taken on the frame leg itself (`openFrameLeg`).
            record: () => undefined,
            applyAnswer: (sdp) => {
              const remote = remoteOfServiceAnswer(sdp);
              if (!remote.ok) return false;
              this.startFrames(remote.value);
              return true;
            },
            close: () => Promise.resolve(),
          },
        });
      },
      bridge: () => undefined,
      musicOnHold: () => undefined,
    };
  }

  /** The SIP party called through `face` answered: the line is answered and the two talk. */
  connect(remote?: RtpAddress): Result<void, CallFailure> {
    if (this.state === 'ended')
      return err(callFailure('EDGE_ERR_CALL_LEG_ENDED', 'normal-clearing', 'the leg has ended'));
    if (this.state === 'answered') return ok(undefined);
    if (!this.answerLine()) {
      this.finish({
        cause: 'normal-unspecified',
        by: 'system',
        sipStatus: 500,
        detail: 'line gone before answer',
      });
      return err(callFailure('EDGE_ERR_CALL_LEG_ENDED', 'normal-unspecified', 'the line no longer rings'));
    }
    this.progress?.input({ type: 'answered' });
    if (remote !== undefined || !this.starting) this.startFrames(remote);
    return this.machine.transition('answered');
  }

  hangup(cause: HangupCause): Promise<void> {
    if (this.state === 'ended') return Promise.resolve();
    const done = new Promise<void>((resolve) => this.endWaiters.push(resolve));
    const answered = this.state === 'answered';
    const status = sipStatusOfCause(cause);
    // A failed call hears busy or congestion first (early answer), then the line is released.
    if (!answered && status >= 300 && this.progress && this.o.progress?.failureToneMs) {
      if (this.progress.input({ type: 'failed', status })) this.answerLine();
      if (this.progress.state === 'failure-tone' && this.lineAnswered) this.toneAfterEnd = true;
    }
    this.finish({ cause, by: 'local', sipStatus: answered ? 200 : status >= 300 ? status : 480 });
    return done;
  }

  play(prompts: readonly PromptRef[], opts: PlayOptions = {}): Promise<PlayOutcome> {
    if (this.state === 'ended') return Promise.resolve({ outcome: 'ended', positionMs: 0 });
    const handle = this.handle;
    if (!handle || this.state !== 'answered')
      return Promise.resolve({
        outcome: 'failed',
        positionMs: 0,
        failure: callFailure(
          'EDGE_ERR_CALL_LEG_STATE',
          'interworking',
          'play needs a leg answered by an app',
        ),
      });
    return this.playback.play(handle, prompts, opts);
  }

  record(opts: RecordOptions = {}): Result<RecordingHandle, CallFailure> {
    if (this.state !== 'answered')
      return err(callFailure('EDGE_ERR_CALL_LEG_STATE', 'interworking', 'record needs an answered leg'));
    // The app's media leg hears the line: the caller's words on the left, what it hears right.
    return this.recordings.start(this.handle, opts);
  }

  hold(): Promise<Result<void, CallFailure>> {
    const handle = this.handle;
    if (!handle || this.state !== 'answered')
      return Promise.resolve(
        err(callFailure('EDGE_ERR_CALL_LEG_STATE', 'interworking', 'hold needs a leg answered by an app')),
      );
    this.playback.hold(handle, this.o.media.musicOnHold());
    return Promise.resolve(ok(undefined));
  }

  unhold(): Promise<Result<void, CallFailure>> {
    if (this.state !== 'answered')
      return Promise.resolve(
        err(callFailure('EDGE_ERR_CALL_LEG_STATE', 'interworking', 'unhold needs an answered leg')),
      );
    this.playback.unhold(this.handle);
    return Promise.resolve(ok(undefined));
  }

  dump(): LegDump {
    const i = this.o.incoming;
    return this.dumpAs(this.technology, 'inbound', {
      technology: this.technology,
      portId: i.portKey,
      lineId: i.lineId,
      channel: i.channel,
    });
  }

  close(): void {
    if (this.state !== 'ended') void this.hangup('normal-clearing');
  }

  // --- internals ----------------------------------------------------------------------------

  /** Off hook, once; false when the line no longer rings. */
  private answerLine(): boolean {
    if (this.lineAnswered) return true;
    const r = this.o.incoming.control.answer();
    if (!r.ok) {
      this.log.warn({ error: r.error.message }, 'the line could not be answered');
      return false;
    }
    this.lineAnswered = true;
    return true;
  }

  /** Start the frame leg towards `remote` once its sockets are bound; or only move it there. */
  private startFrames(remote: RtpAddress | undefined): void {
    const fl = this.frameLeg;
    if (!fl) return;
    if (this.starting) {
      if (remote) fl.setRemote(remote);
      return;
    }
    this.starting = true;
    void fl.opened().then((bound) => {
      if (this.state === 'ended') return;
      if (!bound) {
        void this.hangup('temporary-failure');
        return;
      }
      fl.start({ ...this.plan, remote });
      this.flowing = true;
    });
  }

  private mediaEnded(detail: string): void {
    if (this.state === 'answered') this.events.emit('mediaEnded', detail);
  }

  private failureToneEnded(): void {
    if (this.toneAfterEnd) this.releasePort();
  }

  private releasePort(): void {
    if (this.released) return;
    this.released = true;
    this.toneAfterEnd = false;
    this.progress?.close();
    this.o.incoming.control.release(this.lineAnswered);
  }

  private finish(end: Omit<LegEnd, 'atMs'>): void {
    if (this.state === 'ended') return;
    this.flowing = false;
    this.digits.close();
    this.playback.ended();
    this.recordings.ended();
    const handle = this.handle;
    this.handle = undefined;
    if (handle) void this.closeHandle(handle);
    this.frameLeg?.close().catch((e: unknown) => this.log.error({ err: e }, 'freeing the frame leg failed'));
    if (!this.toneAfterEnd) this.releasePort();
    this.machine.finish(end);
    for (const w of this.endWaiters.splice(0)) w();
  }

  private async closeHandle(handle: LegMediaHandle): Promise<void> {
    try {
      await handle.close();
    } catch (e) {
      this.log.error({ err: e }, 'freeing the media leg failed');
    }
  }
}

function partyOf(i: PstnIncoming): LegParty {
  return {
    kind: i.kind === 'e1' ? 'span' : 'line',
    id: i.lineId,
    number: i.callerNumber,
    ...(i.callerName ? { displayName: i.callerName } : {}),
  };
}
