/**
 * A call the gateway places on a PSTN port group, as a `Leg`: the PSTN service hunts a port,
 * seizes it and dials (`PstnDialer`); this leg holds the call's frame leg in the media engine and
 * hears the outcome — no SIP. A SIP caller is answered with an answer to its offer that names the
 * frame leg's own port (`answerOffer`), so the two talk through one RTP port pair and nothing is
 * relayed. A caller on another PSTN channel (a tandem call) has its frame leg wired to this one in
 * their worker (`connectWired`): no port pair at all.
 *
 *   offered ── port progressed (dialling) ──► alerting ── answer supervision ──► answered ──► ended
 *      └────────── busy, no answer, every port busy, cancelled ──────────────────────────────► ended
 */
import type { Clock, Timers } from '../../../../base/clock.ts';
import { err, ok, type Result } from '../../../../base/result.ts';
import type { Logger } from '../../core/log.ts';
import type { FrameLegHandle, ServiceLegPlan } from '../../media/engine/engine.ts';
import { answerServiceOffer, serviceOffer } from '../../media/sdp/service-sdp.ts';
import type { PstnDialControl, PstnDialer, PstnDialHandler, PstnPortInfo } from '../../pstn/pstn-calls.ts';
import { causeOfSipStatus, sipStatusOfCause, type HangupCause } from '../hangup-cause.ts';
import type { CallFailure, LegDump, LegEnd, LegParty, PlayOutcome, RecordingHandle } from '../leg.ts';
import { callFailure, LegBase } from '../leg-base.ts';
import type { MediaLeg } from '../call.ts';
import type { PstnFramePort } from './pstn-leg.ts';

export interface OutboundPstnLegOptions {
  interactionId: string;
  legId: string;
  /** The port group to dial on, and the number. */
  group: string;
  number: string;
  party: LegParty;
  dialer: PstnDialer;
  frames: PstnFramePort;
  /** The address our SDP names. */
  host: string;
  /** Aborted when the call is no longer wanted before the answer (the caller left). */
  signal?: AbortSignal;
  /** The frame leg of the caller's channel (a tandem call): this one opens beside it. */
  near?: string;
  clock: Clock;
  timers: Timers;
  logger: Logger;
}

export class OutboundPstnLeg extends LegBase implements MediaLeg, PstnDialHandler {
  readonly direction = 'outbound' as const;
  private readonly frameLeg: FrameLegHandle | undefined;
  private control: PstnDialControl | undefined;
  private port: PstnPortInfo | undefined;
  private flowing = false;
  private settle: ((r: Result<void, CallFailure>) => void) | undefined;
  private started: Promise<Result<void, CallFailure>> | undefined;
  private readonly onAbort = (): void => void this.hangup('originator-cancel');

  /** Undefined when the engine has no port pair for the call's frame leg. */
  static open(o: OutboundPstnLegOptions): OutboundPstnLeg | undefined {
    const leg = new OutboundPstnLeg(o);
    return leg.frameLeg ? leg : undefined;
  }

  private constructor(private readonly o: OutboundPstnLegOptions) {
    super(o.legId, o.interactionId, o.party, o);
    // No `onFrame`: received frames wait in the leg's playout buffer for the card's ticks.
    this.frameLeg = o.frames.openFrameLeg(
      o.legId,
      {
        // RFC 4733 digits from the near party are generated in band on the line.
        onDigit: (digit, durationMs) => {
          if (this.state === 'answered') this.control?.sendDigit(digit, durationMs);
        },
      },
      { recordingId: o.interactionId, line: 'callee', ...(o.near === undefined ? {} : { near: o.near }) },
    );
  }

  get technology(): 'fxo' | 'e1' {
    return this.port?.kind ?? 'fxo';
  }

  /** The port that carried the call (`fxo2`, `e1-1/5`), once one was seized. */
  get portKey(): string | undefined {
    return this.port?.portKey;
  }

  get mediaKey(): string {
    return this.o.legId;
  }

  /** Nothing plays on a placed leg. */
  stopMedia(): void {}

  /** Dial; resolves once the far end answers, or with the failure (its SIP status and cause). */
  start(): Promise<Result<void, CallFailure>> {
    this.started ??= new Promise<Result<void, CallFailure>>((resolve) => {
      this.settle = resolve;
      if (this.o.signal?.aborted) return this.onAbort();
      this.o.signal?.addEventListener('abort', this.onAbort, { once: true });
      this.control = this.o.dialer.dial(this.o.group, this.o.number, this);
    });
    return this.started;
  }

  /**
   * Our answer to the near party's offer, naming the frame leg's port (RFC 3264 §6: the first
   * audio stream we share a codec with); the frames start towards where that party receives. No
   * offer (RFC 3261 §13.2.1): our offer, the party found by latching.
   */
  answerOffer(offer: Buffer | undefined): Result<Buffer, CallFailure> {
    const fl = this.frameLeg;
    if (!fl || this.state === 'ended')
      return err(callFailure('EDGE_ERR_CALL_LEG_ENDED', 'normal-clearing', 'the leg has ended'));
    // The near party is on the network: the frame leg needs its port pair now.
    const rtpPort = fl.bind();
    if (rtpPort === undefined)
      return err(
        callFailure('EDGE_ERR_CALL_MEDIA', 'switching-equipment-congestion', 'no RTP port pair is free'),
      );
    const local = { address: this.o.host, rtpPort };
    let plan: ServiceLegPlan;
    let sdp: Buffer;
    if (offer && offer.length > 0) {
      const answered = answerServiceOffer(offer, local);
      if (!answered.ok)
        return err({
          code: 'EDGE_ERR_CALL_MEDIA',
          sipStatus: answered.error.status,
          cause: 'bearer-capability-not-available',
          message: answered.error.reason,
        });
      plan = answered.value.plan;
      sdp = answered.value.sdp;
    } else {
      const offered = serviceOffer(local);
      plan = offered.plan;
      sdp = offered.sdp;
    }
    const start = {
      remote: plan.remote,
      law: plan.law,
      audioPayloadType: plan.audioPayloadType,
      telephoneEventPayloadType: plan.telephoneEventPayloadType,
    };
    void fl.opened().then((bound) => {
      if (this.state === 'ended') return;
      if (!bound) return void this.hangup('temporary-failure');
      fl.start(start);
      this.flowing = true;
    });
    return ok(sdp);
  }

  /**
   * The far end answered a tandem call whose two frame legs are wired (`wireFrameLegs`): the
   * frames flow, with no address between the two legs.
   */
  connectWired(): Result<void, CallFailure> {
    const fl = this.frameLeg;
    if (!fl || this.state !== 'answered')
      return err(callFailure('EDGE_ERR_CALL_LEG_STATE', 'interworking', 'connect needs an answered leg'));
    if (this.flowing) return ok(undefined);
    const plan = serviceOffer({ address: this.o.host, rtpPort: 0 }).plan;
    void fl.opened().then((open) => {
      if (this.state === 'ended') return;
      if (!open) return void this.hangup('temporary-failure');
      fl.start({ ...plan, remote: undefined });
      this.flowing = true;
    });
    return ok(undefined);
  }

  // --- the dialer's side (PstnDialHandler) ---------------------------------------------------

  frame(): Int16Array | undefined {
    return this.flowing ? this.frameLeg?.pull() : undefined;
  }

  audio(frame: Int16Array): void {
    if (this.flowing) this.frameLeg?.send(frame);
  }

  progressed(port: PstnPortInfo): void {
    this.port = port;
    if (this.state === 'offered') this.machine.transition('alerting');
  }

  answered(port: PstnPortInfo): void {
    this.port = port;
    if (this.state === 'ended') return;
    this.o.signal?.removeEventListener('abort', this.onAbort);
    this.machine.transition('answered');
    this.settle?.(ok(undefined));
  }

  failed(status: number, reason: string): void {
    const cause = causeOfSipStatus(status);
    this.finish({ cause, by: 'remote', sipStatus: status, detail: reason });
    this.settle?.(err({ code: 'EDGE_ERR_CALL_ORIGINATE_FAILED', sipStatus: status, cause, message: reason }));
  }

  disconnected(reason: string): void {
    this.finish({ cause: 'normal-clearing', by: 'remote', sipStatus: 200, detail: reason });
  }

  // --- the Leg ------------------------------------------------------------------------------

  ring(): Promise<Result<void, CallFailure>> {
    return Promise.resolve(this.notForOutbound('ring'));
  }

  answer(): Promise<Result<void, CallFailure>> {
    return Promise.resolve(this.notForOutbound('answer'));
  }

  hangup(cause: HangupCause): Promise<void> {
    if (this.state === 'ended') return Promise.resolve();
    const answered = this.state === 'answered';
    this.control?.hangup();
    const status = sipStatusOfCause(cause);
    this.finish({ cause, by: 'local', sipStatus: answered ? 200 : status >= 300 ? status : 487 });
    if (!answered)
      this.settle?.(err(callFailure('EDGE_ERR_CALL_CANCELLED', cause, 'hung up before the answer')));
    return Promise.resolve();
  }

  play(): Promise<PlayOutcome> {
    if (this.state === 'ended') return Promise.resolve({ outcome: 'ended', positionMs: 0 });
    return Promise.resolve({
      outcome: 'failed',
      positionMs: 0,
      failure: callFailure(
        'EDGE_ERR_CALL_LEG_STATE',
        'interworking',
        'prompts are not played to a placed leg',
      ),
    });
  }

  record(): Result<RecordingHandle, CallFailure> {
    return err(
      callFailure('EDGE_ERR_CALL_MEDIA', 'facility-rejected', 'recording is not available on a PSTN leg yet'),
    );
  }

  hold(): Promise<Result<void, CallFailure>> {
    return Promise.resolve(this.notForOutbound('hold'));
  }

  unhold(): Promise<Result<void, CallFailure>> {
    return Promise.resolve(this.notForOutbound('unhold'));
  }

  dump(): LegDump {
    return this.dumpAs(this.technology, 'outbound', {
      technology: this.technology,
      portId: this.port?.portKey ?? '',
      lineId: this.port?.lineId ?? this.o.group,
      channel: this.port?.channel ?? '',
    });
  }

  close(): void {
    if (this.state !== 'ended') void this.hangup('normal-clearing');
  }

  private notForOutbound(op: string): Result<void, CallFailure> {
    return err(
      callFailure(
        'EDGE_ERR_CALL_LEG_STATE',
        'interworking',
        `${op}: a placed leg is answered by the far end`,
      ),
    );
  }

  private finish(end: Omit<LegEnd, 'atMs'>): void {
    if (this.state === 'ended') return;
    this.flowing = false;
    this.o.signal?.removeEventListener('abort', this.onAbort);
    this.digits.close();
    this.frameLeg?.close().catch((e: unknown) => this.log.error({ err: e }, 'freeing the frame leg failed'));
    this.machine.finish(end);
  }
}
