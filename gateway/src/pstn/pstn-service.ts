/**
 * The PSTN service: owns the telephony cards and their ports.
 *
 *   inbound   a line rings, caller ID decoded ──► call control (`PstnCallControl.incoming`) gets
 *             the port's facts and a control of it, and makes the call a PSTN leg of its own: no
 *             SIP in between. The port then plays what the leg's sink gives it, tick by tick.
 *   outbound  for now still an internal SIP trunk on loopback: B2BUA ──INVITE
 *             sip:<digits>@127.0.0.1:P;group=<id>──► hunt a free port of the group, seize, wait
 *             for dial tone, dial; 180 while the far end rings; 200 on answer supervision; 486
 *             busy; 503 when every port of the group is busy or faulty.
 * Each call's audio runs through a frame leg of the media engine: the channel's 20 ms frames
 * cross to and from a relay worker in one batch per tick for all channels.
 */
import type { Card, Channel } from '../../../drivers/api/types.ts';
import { openDriver } from '../../../drivers/index.ts';
import type { CentralOffice } from '../../../drivers/sim/central-office.ts';
import { viaFor } from '../call/sip-call.ts';
import type { Clock, TimerHandle, Timers } from '../../../base/clock.ts';
import type { Logger } from '../core/log.ts';
import type { MetricsRegistry } from '../core/metrics.ts';
import type { ErrorCode } from '../../../base/error-codes.ts';
import { err, type Result } from '../../../base/result.ts';
import type { FrameLegHandle, FrameLegSink } from '../media/engine/engine.ts';
import type { RtpAddress } from '../media/rtp/rtp-latch.ts';
import { answerServiceOffer, type MediaPlan } from '../media/sdp/service-sdp.ts';
import { ETSI_TONE_PLAN, NANP_TONE_PLAN, type TonePlan } from '../../../base/signal/tone-plan.ts';
import { attemptKey, nextAttempt, nextRoundRobin, parseChannelList } from '../routing/hunt.ts';
import { Dialog } from '../sip/dialog/dialog.ts';
import { createResponse, generateTag, getTag, parseUri } from '../sip/message/index.ts';
import type { SipEndpoint, SipRequest, SipResponse } from '../sip/message/types.ts';
import { parseSdp, connectionOf } from '../media/sdp/sdp.ts';
import { TransactionLayer } from '../sip/transaction/index.ts';
import { SipTransports } from '../sip/transport/index.ts';
import type { CardConfig, Config, LineConfig } from '../store/config-schema.ts';
import { tonePlanOf } from './call-progress.ts';
import { CadenceLearner, disconnectProfiles, type CadenceProfile } from './cadence.ts';
import { E1Port, FxoPort, PORT_STATES, type PortEvent, type PstnPort } from './pstn-port.ts';
import type { PstnCallControl, PstnCallSink, PstnIncoming } from './pstn-incoming.ts';

/** What the service needs of the media engine. */
export interface PstnMediaPort {
  openFrameLeg(callKey: string, sink: FrameLegSink, peer?: RtpAddress): FrameLegHandle | undefined;
  flushFrames(): void;
}

/** The cards' frame counters as the dump shows them (totals, and the channels that had any). */
export interface PstnFrameStats {
  channels: number;
  framesIn: number;
  framesOut: number;
  txOverruns: number;
  txUnderruns: number;
  channelsOverrun: number;
  channelsUnderrun: number;
  /** Per channel, only those with overruns or underruns: channel id → counters. */
  byChannel: Record<string, { txOverruns: number; txUnderruns: number }>;
}

export interface PstnServiceOptions {
  config: () => Config;
  /** Without configured cards, the demo runs one simulated card of 4 FXO ports and one E1 span. */
  demo: boolean;
  clock: Clock;
  timers: Timers;
  logger: Logger;
  metrics: MetricsRegistry;
  media: PstnMediaPort | undefined;
  /** Where the B2BUA receives SIP over UDP. */
  b2bua: () => SipEndpoint;
  /** Call control: takes the calls that ring on the ports. Without it every line rings unanswered. */
  calls: () => PstnCallControl | undefined;
  userAgent: () => string;
}

export interface PstnLineView {
  id: string;
  key: string;
  kind: 'fxo' | 'e1';
  channel: string;
  number: string | null;
  state: string;
  call: { direction: 'in' | 'out'; number: string; sinceMs: number } | null;
  lastFault: { reason: string; atMs: number } | null;
  faults: number;
  calls: number;
  /** The line matches a busy tone learned on it (`learned`) or only its country plan's. */
  busyTone: 'learned' | 'plan' | null;
}

export const PstnErrors = {
  NO_SUCH_LINE: 'EDGE_ERR_PSTN_NO_SUCH_LINE',
  LINE_BUSY: 'EDGE_ERR_PSTN_LINE_BUSY',
  LEARN_FAILED: 'EDGE_ERR_PSTN_LEARN_FAILED',
} as const satisfies Record<string, ErrorCode>;

type CallState = 'hunting' | 'alerting' | 'connected' | 'ended';

/** An outgoing call of the internal trunk (we are the UAS of the B2BUA's INVITE). */
interface UaCall {
  id: number;
  direction: 'out';
  state: CallState;
  callId: string;
  number: string;
  port: PstnPort | undefined;
  leg: FrameLegHandle | undefined;
  plan: MediaPlan | undefined;
  localSdp: Buffer | undefined;
  dialog: Dialog | undefined;
  startedMs: number;
  invite?: SipRequest;
  respond?: (res: SipResponse) => void;
  toTag?: string;
  group?: string;
  tried: Set<string>;
  ringingSent: boolean;
}

/** A call that rang on the port, now call control's. */
interface InboundCall {
  sink: PstnCallSink;
  number: string;
  startedMs: number;
}

interface PortSlot {
  port: PstnPort;
  call: UaCall | undefined;
  inbound: InboundCall | undefined;
  lastFault: { reason: string; atMs: number } | null;
  faults: number;
  calls: number;
  /** The line rang and call control declined: no new INVITE until it stops ringing. */
  declined: boolean;
  learner: CadenceLearner | undefined;
  /** The learned busy tone the port's line matches (as configured when it was last applied). */
  learnedKey: string;
}

const LOOPBACK = '127.0.0.1';

export class PstnService {
  private readonly cards = new Map<string, Card>();
  private readonly slots = new Map<string, PortSlot>();
  private readonly calls = new Map<string, UaCall>();
  private readonly usage: Record<string, number> = {};
  private readonly rrNext: Record<string, number> = {};
  private transports!: SipTransports;
  private tx!: TransactionLayer;
  private nextId = 1;
  private closed = false;
  private readonly offs: Array<() => void> = [];
  private readonly faultsTotal;
  private readonly callsTotal;

  private constructor(private readonly o: PstnServiceOptions) {
    this.faultsTotal = o.metrics.counter(
      'edgeline_pstn_faults_total',
      'PSTN line faults, by line and reason',
    );
    this.callsTotal = o.metrics.counter('edgeline_pstn_calls_total', 'PSTN calls, by direction and outcome');
    o.metrics
      .gauge('edgeline_pstn_line_state', 'PSTN ports by state (1 = the port is in that state)')
      .collect(() => {
        const out: Array<{ labels: Record<string, string>; value: number }> = [];
        for (const s of this.slots.values())
          for (const state of PORT_STATES)
            out.push({ labels: { line: s.port.key, state }, value: s.port.state === state ? 1 : 0 });
        return out;
      });
  }

  static async start(o: PstnServiceOptions): Promise<PstnService> {
    const svc = new PstnService(o);
    try {
      await svc.open();
      return svc;
    } catch (e) {
      await svc.close();
      throw e;
    }
  }

  /** The loopback address of the PSTN user agent: the internal trunk's only member. */
  get endpoint(): SipEndpoint {
    return { transport: 'udp', address: LOOPBACK, port: this.transports.localSentBy('udp').port };
  }

  /** The simulated exchange behind the first simulated card, when there is one. */
  get office(): CentralOffice | undefined {
    for (const c of this.cards.values()) {
      const office = (c as Card & { office?: CentralOffice }).office;
      if (office) return office;
    }
    return undefined;
  }

  private tonePlan(): TonePlan {
    return tonePlanOf(this.o.config().system);
  }

  private async open(): Promise<void> {
    const cfg = this.o.config();
    const cards: CardConfig[] =
      cfg.pstn.cards.length > 0
        ? [...cfg.pstn.cards]
        : this.o.demo
          ? [{ id: 'sim0', driver: 'sim', fxo: 4, e1Spans: 1 }]
          : [];
    const plan = this.tonePlan();
    for (const c of cards) {
      if (c.driver !== 'sim') {
        this.o.logger.warn(
          { card: c.id, driver: c.driver },
          'no driver for this card family yet: card skipped',
        );
        continue;
      }
      const opened = openDriver(
        { family: 'sim', id: c.id, fxo: c.fxo, e1Spans: c.e1Spans, tonePlan: planId(plan) },
        { clock: this.o.clock, timers: this.o.timers },
      );
      if (!opened.ok) {
        this.o.logger.error({ card: c.id, error: opened.error }, 'card failed to open');
        continue;
      }
      for (const card of opened.value) this.cards.set(c.id, card);
    }
    for (const line of cfg.pstn.lines) this.addFxo(line, plan);
    for (const span of cfg.pstn.spans) {
      const card = this.cards.get(span.card);
      const e1 = card?.spans.filter((s) => s.kind === 'e1')[span.span - 1];
      const list = parseChannelList(span.channels);
      if (!e1 || !list.ok) {
        this.o.logger.warn({ span: span.id }, 'span names a card span that does not exist: skipped');
        continue;
      }
      for (const ts of list.value) {
        // G.704: timeslots 1-15 and 17-31 are bearer channels 1-30.
        const ch = e1.channels[(ts < 16 ? ts : ts - 1) - 1];
        if (!ch) continue;
        const key = `${span.id}/${ts}`;
        this.addSlot(new E1Port(key, span.id, ch, this.o.timers, (ev) => this.onPortEvent(key, ev)), ch);
      }
    }
    for (const card of this.cards.values()) {
      const office = (card as Card & { office?: CentralOffice }).office;
      if (!office) continue;
      const mine = new Set<Channel>(card.channels());
      const slots = [...this.slots.values()].filter((s) => mine.has(s.port.channel));
      // Once per tick of the card, after its speech paths: the line frames of this tick go to the
      // media workers in one batch, and each connected channel gets exactly one frame from its
      // leg's playout buffer. The card's clock paces the SIP → PSTN direction, so the workers' own
      // timing (and this thread's) only has to stay within the playout buffer's cushion.
      this.offs.push(
        office.onTick(() => {
          this.o.media?.flushFrames();
          for (const slot of slots) {
            const frame = slot.inbound
              ? slot.inbound.sink.frame()
              : slot.call?.state === 'connected'
                ? slot.call.leg?.pull()
                : undefined;
            if (!frame) continue;
            void slot.port.channel.sendAudio(frame);
            slot.port.noteActivity();
          }
        }),
      );
    }

    this.transports = await SipTransports.listen({
      host: LOOPBACK,
      udpPort: 0,
      tcpPort: 0,
      tlsPort: 0,
      logger: this.o.logger,
      clock: this.o.clock,
      timers: this.o.timers,
    });
    this.tx = new TransactionLayer({
      clock: this.o.clock,
      timers: this.o.timers,
      send: (msg, dest) => this.transports.send(msg, dest),
      onRequest: (req, stx) => this.onRequest(req, (res) => void stx.respond(res)),
      onCancel: (cancel, inviteTx, cancelTx) => {
        cancelTx.respond(createResponse(cancel, 200, 'OK'));
        const call = this.calls.get(cancel.headers.get('call-id') ?? '');
        if (call && call.direction === 'out' && call.state !== 'connected' && call.state !== 'ended') {
          this.finishOutbound(call, 487, 'Request Terminated');
        }
        void inviteTx;
      },
      onAck: () => undefined,
      logger: this.o.logger,
    });
    this.transports.onMessage = (msg, source) => this.tx.receive(msg, source);
    this.o.logger.info(
      { ports: this.slots.size, cards: [...this.cards.keys()], sip: this.endpoint.port },
      'PSTN user agent ready',
    );
  }

  private addFxo(line: LineConfig, plan: TonePlan): void {
    const card = this.cards.get(line.card);
    const analog = card?.spans.find((s) => s.kind === 'analog');
    const ch = analog?.channels[line.port - 1];
    if (!ch) {
      this.o.logger.warn({ line: line.id }, 'line names a card port that does not exist: skipped');
      return;
    }
    const profiles = learnedProfiles(plan, line.learnedBusyTone);
    const port = new FxoPort(
      line.id,
      line.id,
      ch,
      this.o.clock,
      this.o.timers,
      (ev) => this.onPortEvent(line.id, ev),
      {
        tonePlan: plan,
        dialMode: line.dialMode,
        waitForDialTone: line.waitDialTone,
        dialPauseMs: line.dialPauseMs,
        callerId: line.callerIdMode,
        ...(profiles ? { busyProfiles: profiles } : {}),
      },
    );
    this.addSlot(port, ch);
    const slot = this.slots.get(port.key);
    if (slot) slot.learnedKey = JSON.stringify(line.learnedBusyTone ?? null);
  }

  /**
   * A busy tone learned (or changed) in the configuration applies to the line from its next
   * call, without reopening the card.
   */
  private syncLearned(slot: PortSlot): void {
    if (!(slot.port instanceof FxoPort)) return;
    const line = this.o.config().pstn.lines.find((l) => l.id === slot.port.lineId);
    const key = JSON.stringify(line?.learnedBusyTone ?? null);
    if (key === slot.learnedKey) return;
    slot.learnedKey = key;
    const plan = this.tonePlan();
    slot.port.line.setBusyProfiles(learnedProfiles(plan, line?.learnedBusyTone) ?? disconnectProfiles(plan));
  }

  /** Apply configuration that lines take between calls (learned busy tones) to every idle line. */
  refreshLines(): void {
    for (const slot of this.slots.values()) if (!slot.call && !slot.learner) this.syncLearned(slot);
  }

  private addSlot(port: PstnPort, ch: Channel): void {
    const slot: PortSlot = {
      port,
      call: undefined,
      lastFault: null,
      faults: 0,
      calls: 0,
      inbound: undefined,
      declined: false,
      learner: undefined,
      learnedKey: '',
    };
    this.slots.set(port.key, slot);
    this.offs.push(
      ch.onAudio((frame) => {
        port.audio(frame);
        slot.learner?.push(frame);
        slot.inbound?.sink.audio(frame);
        const call = slot.call;
        if (call?.state === 'connected') call.leg?.send(frame);
        else if (call && !call.ringingSent) this.ringingIfProgressed(call);
      }),
    );
  }

  // ---------------------------------------------------------------------------------------------
  // Port events.

  private onPortEvent(key: string, ev: PortEvent): void {
    const slot = this.slots.get(key);
    if (!slot) return;
    const call = slot.call;
    if (ev.type === 'far-end-disconnect' || ev.type === 'released') slot.declined = false;
    if (ev.type === 'fault') {
      slot.lastFault = { reason: ev.reason, atMs: this.o.clock.wallNow() };
      slot.faults++;
      this.faultsTotal.inc({ line: key, reason: ev.reason });
      this.o.logger.warn({ line: key, reason: ev.reason }, 'PSTN line fault');
    }
    // A call that rang on the port is call control's: so are the port's events while it lasts.
    if (slot.inbound && ev.type !== 'incoming') {
      slot.inbound.sink.portEvent(ev);
      return;
    }
    switch (ev.type) {
      case 'fault':
        return;
      case 'incoming':
        if (call || slot.inbound || slot.declined || slot.learner || this.closed) return;
        this.startInbound(slot, ev.callerNumber, ev.callerName, ev.did);
        return;
      case 'answered':
        if (call?.direction === 'out') this.outboundAnswered(call);
        return;
      case 'outgoing-failed':
        if (slot.learner) return this.finishLearning(slot);
        if (call?.direction !== 'out' || call.state === 'ended') return;
        this.unbind(call);
        switch (ev.reason) {
          case 'glare':
          case 'no-dial-tone':
          case 'dead-line':
            // This port could not carry the call: the next one of the group may.
            this.hunt(call);
            return;
          case 'busy':
            this.finishOutbound(call, 486, 'Busy Here');
            return;
          case 'no-answer':
            this.finishOutbound(call, 480, 'Temporarily Unavailable');
            return;
          default:
            this.finishOutbound(call, 503, 'Service Unavailable (congestion)');
            return;
        }
      case 'far-end-disconnect':
        if (!call) return;
        this.farEndGone(call, ev.reason);
        return;
      case 'released':
        return;
      default: {
        const never: never = ev;
        throw new Error(`unknown port event ${JSON.stringify(never)}`);
      }
    }
  }

  private unbind(call: UaCall): void {
    const port = call.port;
    if (!port) return;
    const slot = this.slots.get(port.key);
    if (slot?.call === call) slot.call = undefined;
    call.port = undefined;
  }

  private busyKeys(): Set<string> {
    const busy = new Set<string>();
    for (const [key, s] of this.slots)
      if (s.call || s.inbound || s.learner || !s.port.available) busy.add(key);
    return busy;
  }

  // ---------------------------------------------------------------------------------------------
  // SIP requests from the B2BUA.

  private onRequest(req: SipRequest, respond: (res: SipResponse) => void): void {
    const callId = req.headers.get('call-id') ?? '';
    const call = this.calls.get(callId);
    switch (req.method) {
      case 'INVITE':
        if (call) {
          // RFC 3261 §14.2: a re-INVITE (session refresh) is answered with the unchanged session.
          respond(this.inDialogResponse(call, req, 200, call.localSdp));
          return;
        }
        this.onInvite(req, respond);
        return;
      case 'UPDATE':
        if (!call)
          return respond(
            createResponse(req, 481, 'Call/Transaction Does Not Exist', { toTag: generateTag() }),
          );
        respond(this.inDialogResponse(call, req, 200, req.body.length > 0 ? call.localSdp : undefined));
        return;
      case 'BYE':
        if (!call)
          return respond(
            createResponse(req, 481, 'Call/Transaction Does Not Exist', { toTag: generateTag() }),
          );
        respond(this.inDialogResponse(call, req, 200));
        this.endCall(call, 'bye');
        return;
      case 'OPTIONS':
        respond(
          createResponse(req, 200, 'OK', {
            toTag: generateTag(),
            headers: [['allow', 'INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE']],
          }),
        );
        return;
      case 'INFO':
        respond(
          createResponse(req, call ? 200 : 481, call ? 'OK' : 'Call/Transaction Does Not Exist', {
            toTag: generateTag(),
          }),
        );
        return;
      default:
        respond(
          createResponse(req, 405, 'Method Not Allowed', {
            toTag: generateTag(),
            headers: [['allow', 'INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE']],
          }),
        );
    }
  }

  private inDialogResponse(call: UaCall, req: SipRequest, status: number, sdp?: Buffer): SipResponse {
    const headers: Array<[string, string]> = [['contact', this.contact(call.port?.key)]];
    if (sdp) headers.push(['content-type', 'application/sdp']);
    const toTag = getTag(req.headers.get('to') ?? '') ?? call.toTag ?? generateTag();
    return createResponse(req, status, undefined, { toTag, headers, ...(sdp ? { body: sdp } : {}) });
  }

  /**
   * The user agent's Contact. The user part names the port that carries the call (`fxo1`,
   * `e1-1/5`; RFC 3261 §25.1 allows `/` in a user part): call control reads it from the dialog's
   * remote target to name the line in the call's records.
   */
  private contact(portKey?: string): string {
    return `<sip:${portKey ?? 'pstn'}@${LOOPBACK}:${this.endpoint.port}>`;
  }

  private onInvite(req: SipRequest, respond: (res: SipResponse) => void): void {
    const toTag = generateTag();
    const reply = (status: number, reason: string) => respond(createResponse(req, status, reason, { toTag }));
    const uri = parseUri(req.uri);
    const number = uri.ok && 'user' in uri.value ? (uri.value.user ?? '') : '';
    const group = /;group=([^;?>]+)/.exec(req.uri)?.[1];
    if (!number || !/^[0-9*#]+$/.test(number)) return reply(404, 'Not Found');
    if (!group || !this.o.config().pstn.groups.some((g) => g.id === group))
      return reply(404, 'Not Found (no such port group)');
    const callId = req.headers.get('call-id') ?? '';
    const call: UaCall = {
      id: this.nextId++,
      direction: 'out',
      state: 'hunting',
      callId,
      number,
      port: undefined,
      leg: undefined,
      plan: undefined,
      localSdp: undefined,
      dialog: undefined,
      startedMs: this.o.clock.now(),
      invite: req,
      respond,
      toTag,
      group,
      tried: new Set(),
      ringingSent: false,
    };
    const media = this.openLeg(call, remoteOf(req.body));
    if (!media) return reply(503, 'Service Unavailable (no media port)');
    const answer = answerServiceOffer(req.body, { address: LOOPBACK, rtpPort: media.rtpPort });
    if (!answer.ok) {
      void media.close();
      return reply(answer.error.status, answer.error.reason);
    }
    call.leg = media;
    call.plan = answer.value.plan;
    call.localSdp = answer.value.sdp;
    this.calls.set(callId, call);
    this.hunt(call);
  }

  /** Seize the next free port of the call's group in hunt order; 503 when none is left. */
  private hunt(call: UaCall): void {
    const cfg = this.o.config();
    for (;;) {
      const step = nextAttempt(cfg.pstn, [{ type: 'group', id: call.group ?? '' }], {
        busy: this.busyKeys(),
        usage: this.usage,
        rrNext: this.rrNext,
        tried: call.tried,
      });
      if (step.kind === 'exhausted') {
        // RFC 3261 §21.5.4: 503 lets call control move on to the route's next target.
        this.finishOutbound(call, 503, 'Service Unavailable (all channels busy)');
        return;
      }
      const a = step.attempt;
      call.tried.add(attemptKey(a));
      if (a.kind !== 'channel') continue;
      const slot = this.slots.get(a.channel.key);
      if (!slot) continue;
      this.syncLearned(slot);
      const r = slot.port.dial(call.number);
      if (!r.ok) continue;
      this.rrNext[a.group] = this.roundRobinNext(a.group, a.channel.key);
      this.usage[a.channel.key] = (this.usage[a.channel.key] ?? 0) + 1;
      slot.call = call;
      slot.calls++;
      call.port = slot.port;
      call.state = 'alerting';
      this.o.logger.info(
        { line: a.channel.key, number: call.number },
        'PSTN port seized for an outgoing call',
      );
      return;
    }
  }

  /**
   * 180 once the port has made progress (dial tone heard and digits going out, or the E1 seizure
   * acknowledged), not when it is seized: until then a port that turns out dead or without dial
   * tone still ends in a 503 that call control may take to the route's next group or trunk, which
   * it would not do after a provisional response.
   */
  private ringingIfProgressed(call: UaCall): void {
    const port = call.port;
    if (call.ringingSent || call.direction !== 'out' || call.state !== 'alerting' || !port?.progressed)
      return;
    call.ringingSent = true;
    call.respond?.(
      createResponse(call.invite as SipRequest, 180, 'Ringing', {
        toTag: call.toTag,
        headers: [['contact', this.contact(port.key)]],
      }),
    );
  }

  private roundRobinNext(groupId: string, key: string): number {
    const cfg = this.o.config();
    const keys: string[] = [];
    const group = cfg.pstn.groups.find((g) => g.id === groupId);
    for (const m of group?.members ?? []) {
      if (cfg.pstn.lines.some((l) => l.id === m)) keys.push(m);
      const span = cfg.pstn.spans.find((s) => s.id === m);
      const list = span ? parseChannelList(span.channels) : undefined;
      if (list?.ok) for (const ts of list.value) keys.push(`${m}/${ts}`);
    }
    return nextRoundRobin(
      { id: groupId, hunt: 'round-robin', channels: keys.map((k) => ({ key: k, line: k })) },
      { key, line: key },
    );
  }

  private outboundAnswered(call: UaCall): void {
    const leg = call.leg;
    const invite = call.invite;
    if (!leg || !invite || call.state === 'ended') return;
    void leg.opened().then((bound) => {
      if (call.state === 'ended') return;
      if (!bound) {
        this.unbindAndRelease(call);
        this.finishOutbound(call, 503, 'Service Unavailable (media port)');
        return;
      }
      if (call.plan) leg.start(call.plan);
      const res = createResponse(invite, 200, 'OK', {
        toTag: call.toTag,
        headers: [
          ['contact', this.contact(call.port?.key)],
          ['content-type', 'application/sdp'],
        ],
        body: call.localSdp,
      });
      const d = Dialog.fromUasResponse(invite, res);
      if (d.ok) call.dialog = d.value;
      call.state = 'connected';
      call.respond?.(res);
      this.callsTotal.inc({ direction: 'out', outcome: 'answered' });
    });
  }

  private unbindAndRelease(call: UaCall): void {
    call.port?.hangup();
    this.unbind(call);
  }

  private finishOutbound(call: UaCall, status: number, reason: string): void {
    if (call.state === 'ended') return;
    const invite = call.invite;
    if (invite && call.state !== 'connected')
      call.respond?.(createResponse(invite, status, reason, { toTag: call.toTag }));
    this.callsTotal.inc({ direction: 'out', outcome: String(status) });
    this.endCall(call, `status ${status}`);
  }

  // ---------------------------------------------------------------------------------------------
  // Inbound: a line rang.

  /** Hand the call to call control; a line nobody takes rings on unanswered (an E1 call is cleared). */
  private startInbound(
    slot: PortSlot,
    callerNumber: string,
    callerName: string | null,
    did: string | null,
  ): void {
    const cfg = this.o.config();
    const port = slot.port;
    const lineNumber =
      cfg.pstn.lines.find((l) => l.id === port.lineId)?.number ??
      cfg.pstn.spans.find((s) => s.id === port.lineId)?.number ??
      '';
    const incoming: PstnIncoming = {
      portKey: port.key,
      lineId: port.lineId,
      kind: port.channel.kind === 'e1' ? 'e1' : 'fxo',
      channel: port.channel.id,
      callerNumber,
      callerName,
      called: did ?? lineNumber,
      control: {
        answer: () => {
          this.syncLearned(slot);
          return port.answer();
        },
        release: (answered) => {
          if (!slot.inbound) return;
          slot.inbound = undefined;
          // An analog line cannot refuse a call: it rings until the caller gives up, unanswered.
          if (!answered && port.channel.kind === 'fxo') {
            if (port.state === 'ringing') slot.declined = true;
            return;
          }
          port.hangup();
        },
        sendDigit: (digit, durationMs) =>
          void port.channel.dialDtmf(digit, { toneMs: Math.max(60, Math.min(durationMs, 200)), gapMs: 60 }),
      },
    };
    this.o.logger.info(
      { line: port.key, caller: callerNumber, called: incoming.called },
      'incoming PSTN call',
    );
    const sink = this.o.calls()?.incoming(incoming);
    if (!sink) {
      slot.declined = true;
      if (port.channel.kind === 'e1') port.hangup();
      this.callsTotal.inc({ direction: 'in', outcome: 'declined' });
      return;
    }
    slot.inbound = { sink, number: callerNumber, startedMs: this.o.clock.now() };
    slot.calls++;
    this.callsTotal.inc({ direction: 'in', outcome: 'offered' });
  }

  // ---------------------------------------------------------------------------------------------
  // Endings.

  private farEndGone(call: UaCall, reason: string): void {
    this.o.logger.info({ line: call.port?.key, reason }, 'PSTN far end disconnected');
    if (call.state === 'connected') this.sendBye(call);
    else this.finishOutbound(call, 487, 'Request Terminated');
    this.unbind(call);
    this.endCall(call, reason);
  }

  private sendBye(call: UaCall): void {
    const d = call.dialog;
    if (!d || d.state === 'terminated') return;
    try {
      const bye = d.createRequest('BYE');
      bye.request.headers.prepend(
        'via',
        viaFor({ localSentBy: (t) => this.transports.localSentBy(t) }, 'udp'),
      );
      this.tx.sendRequest(bye.request, this.o.b2bua(), {
        onResponse: () => undefined,
        onTimeout: () => undefined,
      });
      d.terminate();
    } catch (e) {
      this.o.logger.warn({ err: e }, 'BYE could not be built');
    }
  }

  /** Every ending comes here: the port is released and returns to the pool, the media leg closes. */
  private endCall(call: UaCall, cause: string): void {
    if (call.state === 'ended') return;
    call.state = 'ended';
    this.calls.delete(call.callId);
    if (call.port) {
      const slot = this.slots.get(call.port.key);
      call.port.hangup();
      if (slot?.call === call) slot.call = undefined;
      call.port = undefined;
    }
    void call.leg?.close();
    call.leg = undefined;
    this.o.logger.debug({ callId: call.callId, cause }, 'PSTN call ended');
  }

  /** `peer`: where the leg's RTP goes, when the offer being answered says so already. */
  private openLeg(call: UaCall, peer?: RtpAddress): FrameLegHandle | undefined {
    const media = this.o.media;
    if (!media) return undefined;
    // No `onFrame`: received frames wait in the leg's playout buffer for the card's ticks.
    return media.openFrameLeg(
      `pstn-${call.id}`,
      {
        // RFC 4733 digits from the SIP side are regenerated in band on the line (Q.23/Q.24 timing).
        onDigit: (digit, durationMs) => {
          const port = call.port;
          if (!port || call.state !== 'connected') return;
          void port.channel.dialDtmf(digit, { toneMs: Math.max(60, Math.min(durationMs, 200)), gapMs: 60 });
        },
      },
      peer,
    );
  }

  /** The cards' transmit/receive frame counters and the office's frame clock. */
  frameStats(): { cards: PstnFrameStats; office: Record<string, number> | null } {
    const out: PstnFrameStats = {
      channels: 0,
      framesIn: 0,
      framesOut: 0,
      txOverruns: 0,
      txUnderruns: 0,
      channelsOverrun: 0,
      channelsUnderrun: 0,
      byChannel: {},
    };
    for (const card of this.cards.values()) {
      for (const ch of card.channels()) {
        const st = ch.dump().stats;
        out.channels++;
        out.framesIn += st.framesIn;
        out.framesOut += st.framesOut;
        out.txOverruns += st.txOverruns;
        out.txUnderruns += st.txUnderruns;
        if (st.txOverruns > 0) out.channelsOverrun++;
        if (st.txUnderruns > 0) out.channelsUnderrun++;
        if (st.txOverruns > 0 || st.txUnderruns > 0)
          out.byChannel[`${card.id}/${ch.id}`] = { txOverruns: st.txOverruns, txUnderruns: st.txUnderruns };
      }
    }
    const office = this.office?.dump().stats;
    return { cards: out, office: office ? { ...office } : null };
  }

  // ---------------------------------------------------------------------------------------------
  // Operations.

  lines(): PstnLineView[] {
    const cfg = this.o.config();
    const now = this.o.clock.now();
    return [...this.slots.values()].map((s) => ({
      id: s.port.lineId,
      key: s.port.key,
      kind: s.port.channel.kind,
      channel: s.port.channel.id,
      number:
        cfg.pstn.lines.find((l) => l.id === s.port.lineId)?.number ??
        cfg.pstn.spans.find((x) => x.id === s.port.lineId)?.number ??
        null,
      state: s.learner ? 'seized' : s.port.state,
      call: s.inbound
        ? {
            direction: 'in' as const,
            number: s.inbound.number,
            sinceMs: Math.round(now - s.inbound.startedMs),
          }
        : s.call
          ? {
              direction: s.call.direction,
              number: s.call.number,
              sinceMs: Math.round(now - s.call.startedMs),
            }
          : null,
      lastFault: s.lastFault,
      faults: s.faults,
      calls: s.calls,
      busyTone:
        s.port instanceof FxoPort
          ? s.learnedKey !== 'null' && s.learnedKey !== ''
            ? 'learned'
            : 'plan'
          : null,
    }));
  }

  private learning = new Map<string, { resolve: (r: Result<CadenceProfile>) => void; timer: TimerHandle }>();

  /**
   * Learn a line's busy tone: dial the office's busy test number on the idle line and analyse
   * what comes back (`CadenceLearner`). The result is not stored here; the caller writes it to
   * the line's configuration.
   */
  learnBusyTone(lineKey: string, number = '95002', maxMs = 10_000): Promise<Result<CadenceProfile>> {
    const slot = this.slots.get(lineKey);
    if (!slot || slot.port.channel.kind !== 'fxo')
      return Promise.resolve(
        err({ code: PstnErrors.NO_SUCH_LINE, message: `no FXO line ${lineKey}`, field: 'id' }),
      );
    if (slot.call || slot.learner || !slot.port.available)
      return Promise.resolve(err({ code: PstnErrors.LINE_BUSY, message: `line ${lineKey} is in use` }));
    // The line must not hang up on the very tone it is learning: it listens for the whole time.
    if (slot.port instanceof FxoPort) {
      slot.port.line.setBusyProfiles([]);
      slot.learnedKey = '';
    }
    const r = slot.port.dial(number);
    if (!r.ok) {
      this.syncLearned(slot);
      return Promise.resolve(err({ code: PstnErrors.LINE_BUSY, message: r.error.message }));
    }
    slot.learner = new CadenceLearner({ maxMs });
    return new Promise((resolve) => {
      const timer = this.o.timers.start('learn-busy', maxMs, () => this.finishLearning(slot));
      this.learning.set(lineKey, { resolve, timer });
    });
  }

  private finishLearning(slot: PortSlot): void {
    const learner = slot.learner;
    slot.learner = undefined;
    slot.port.hangup();
    this.syncLearned(slot);
    const pending = this.learning.get(slot.port.key);
    this.learning.delete(slot.port.key);
    pending?.timer.cancel();
    if (!learner || !pending) return;
    const r = learner.finish();
    pending.resolve(r.ok ? r : err({ code: PstnErrors.LEARN_FAILED, message: r.error.message }));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const call of [...this.calls.values()]) {
      if (call.state === 'connected') this.sendBye(call);
      this.endCall(call, 'shutdown');
    }
    for (const slot of this.slots.values()) {
      if (!slot.inbound) continue;
      slot.inbound = undefined;
      slot.port.hangup();
    }
    for (const off of this.offs) off();
    for (const s of this.slots.values()) s.port.close();
    for (const l of this.learning.values()) l.timer.cancel();
    this.tx?.close();
    await this.transports?.close().catch(() => undefined);
    for (const c of this.cards.values()) {
      c.close();
      (c as Card & { office?: CentralOffice }).office?.close();
    }
  }

  dump(): Record<string, unknown> {
    return {
      endpoint: this.transports ? this.endpoint : null,
      cards: [...this.cards.keys()],
      frames: this.frameStats(),
      lines: this.lines(),
      calls: [...this.calls.values()].map((c) => ({
        id: c.id,
        direction: c.direction,
        state: c.state,
        number: c.number,
        line: c.port?.key ?? null,
        group: c.group ?? null,
      })),
    };
  }
}

function planId(plan: TonePlan): string {
  return plan === NANP_TONE_PLAN ? 'nanp' : plan === ETSI_TONE_PLAN ? 'etsi' : 'cn';
}

/** The plan's disconnect tones plus the line's learned busy tone, when there is one. */
function learnedProfiles(
  plan: TonePlan,
  learned: LineConfig['learnedBusyTone'],
): CadenceProfile[] | undefined {
  if (!learned) return undefined;
  const base = disconnectProfiles(plan);
  const template = base[0];
  if (!template) return undefined;
  // The line's own cadence first: it is the most specific description of what this line hears.
  return [
    {
      ...template,
      name: 'learned-busy',
      kind: 'busy',
      frequenciesHz: [...learned.frequenciesHz],
      onMs: learned.onMs,
      offMs: learned.offMs,
    },
    ...base,
  ];
}

/** Where the peer of an SDP answer receives RTP (RFC 8866 c=/m=). */
function remoteOf(body: Buffer): { address: string; port: number } | undefined {
  if (body.length === 0) return undefined;
  const s = parseSdp(body);
  if (!s.ok) return undefined;
  const m = s.value.media.find((x) => x.type === 'audio');
  if (!m || m.port === 0) return undefined;
  const c = connectionOf(s.value, m);
  if (!c || c.address === '0.0.0.0') return undefined;
  return { address: c.address, port: m.port };
}
