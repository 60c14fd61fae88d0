/**
 * The PSTN service: owns the telephony cards and their ports.
 *
 *   inbound   a line rings, caller ID decoded ──► call control (`PstnCallControl.incoming`) gets
 *             the port's facts and a control of it, and makes the call a PSTN leg of its own: no
 *             SIP in between. The port then plays what the leg's sink gives it, tick by tick.
 *   outbound  call control dials a number on a port group (`dial`): hunt a free port of the
 *             group, seize, wait for dial tone, dial, moving on to the next port when one cannot
 *             carry the call; `progressed` while the far end rings, `answered` on answer
 *             supervision, `failed` with 486 busy, 480 no answer, 503 when every port of the
 *             group is busy or faulty.
 * Each call's audio runs through a frame leg of the media engine: the channel's 20 ms frames
 * cross to and from a relay worker in one batch per tick for all channels.
 */
import type { Card, Channel } from '../../../drivers/api/types.ts';
import { openDriver } from '../../../drivers/index.ts';
import type { CentralOffice } from '../../../drivers/sim/central-office.ts';
import type { Clock, TimerHandle, Timers } from '../../../base/clock.ts';
import type { Logger } from '../core/log.ts';
import type { MetricsRegistry } from '../core/metrics.ts';
import type { ErrorCode } from '../../../base/error-codes.ts';
import { err, type Result } from '../../../base/result.ts';
import { ETSI_TONE_PLAN, NANP_TONE_PLAN, type TonePlan } from '../../../base/signal/tone-plan.ts';
import { attemptKey, nextAttempt, nextRoundRobin, parseChannelList } from '../routing/hunt.ts';
import type { CardConfig, Config, LineConfig } from '../store/config-schema.ts';
import { tonePlanOf } from './call-progress.ts';
import { CadenceLearner, disconnectProfiles, type CadenceProfile } from './cadence.ts';
import { E1Port, FxoPort, PORT_STATES, type PortEvent, type PstnPort } from './pstn-port.ts';
import type {
  PstnCallControl,
  PstnCallSink,
  PstnDialControl,
  PstnDialer,
  PstnDialHandler,
  PstnIncoming,
  PstnPortInfo,
} from './pstn-calls.ts';

/** What the service needs of the media engine: the frames of every call's leg leave once per tick. */
export interface PstnMediaPort {
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
  /** Call control: takes the calls that ring on the ports. Without it every line rings unanswered. */
  calls: () => PstnCallControl | undefined;
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

/** An outgoing call call control placed on a port group (`dial`). */
interface OutCall {
  id: number;
  direction: 'out';
  state: CallState;
  number: string;
  group: string;
  port: PstnPort | undefined;
  handler: PstnDialHandler;
  startedMs: number;
  tried: Set<string>;
  progressed: boolean;
}

/** A call that rang on the port, now call control's. */
interface InboundCall {
  sink: PstnCallSink;
  number: string;
  startedMs: number;
}

interface PortSlot {
  port: PstnPort;
  call: OutCall | undefined;
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

export class PstnService implements PstnDialer {
  private readonly cards = new Map<string, Card>();
  private readonly slots = new Map<string, PortSlot>();
  private readonly calls = new Map<number, OutCall>();
  private readonly usage: Record<string, number> = {};
  private readonly rrNext: Record<string, number> = {};
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
      svc.open();
      return svc;
    } catch (e) {
      await svc.close();
      throw e;
    }
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

  private open(): void {
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
                ? slot.call.handler.frame()
                : undefined;
            if (!frame) continue;
            void slot.port.channel.sendAudio(frame);
            slot.port.noteActivity();
          }
        }),
      );
    }

    this.o.logger.info({ ports: this.slots.size, cards: [...this.cards.keys()] }, 'PSTN ports ready');
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
        if (call?.state === 'connected') call.handler.audio(frame);
        else if (call && !call.progressed) this.progressIfAny(call);
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
        if (call && call.state !== 'ended') this.outboundAnswered(call);
        return;
      case 'outgoing-failed':
        if (slot.learner) return this.finishLearning(slot);
        if (!call || call.state === 'ended') return;
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

  private unbind(call: OutCall): void {
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
  // Outgoing calls.

  /**
   * Dial `number` on a port of `group`. Outcomes come to `handler` (never from within this call):
   * a number no line can dial or an unknown group is 404, every port busy or faulty 503.
   */
  dial(group: string, number: string, handler: PstnDialHandler): PstnDialControl {
    const call: OutCall = {
      id: this.nextId++,
      direction: 'out',
      state: 'hunting',
      number,
      group,
      port: undefined,
      handler,
      startedMs: this.o.clock.now(),
      tried: new Set(),
      progressed: false,
    };
    const control: PstnDialControl = {
      hangup: () => this.endCall(call, 'hung up by call control'),
      sendDigit: (digit, durationMs) => {
        if (call.state !== 'connected' || !call.port) return;
        void call.port.channel.dialDtmf(digit, {
          toneMs: Math.max(60, Math.min(durationMs, 200)),
          gapMs: 60,
        });
      },
    };
    this.calls.set(call.id, call);
    queueMicrotask(() => {
      if (call.state !== 'hunting') return;
      if (!/^[0-9*#]+$/.test(number)) return this.finishOutbound(call, 404, 'Not Found');
      if (this.closed || !this.o.config().pstn.groups.some((g) => g.id === group))
        return this.finishOutbound(call, 404, 'Not Found (no such port group)');
      this.hunt(call);
    });
    return control;
  }

  /** Seize the next free port of the call's group in hunt order; 503 when none is left. */
  private hunt(call: OutCall): void {
    const cfg = this.o.config();
    for (;;) {
      const step = nextAttempt(cfg.pstn, [{ type: 'group', id: call.group }], {
        busy: this.busyKeys(),
        usage: this.usage,
        rrNext: this.rrNext,
        tried: call.tried,
      });
      if (step.kind === 'exhausted') {
        // RFC 3261 §21.5.4 as call control reads it: 503 lets it move on to the route's next target.
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
   * `progressed` once the port has made progress (dial tone heard and digits going out, or the E1
   * seizure acknowledged), not when it is seized: until then a port that turns out dead or without
   * dial tone still ends in a 503 that call control may take to the route's next target, which it
   * would not do once the far end rings.
   */
  private progressIfAny(call: OutCall): void {
    const port = call.port;
    if (call.progressed || call.state !== 'alerting' || !port?.progressed) return;
    call.progressed = true;
    call.handler.progressed(portInfo(port));
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

  private outboundAnswered(call: OutCall): void {
    const port = call.port;
    if (!port || call.state === 'ended') return;
    call.state = 'connected';
    this.callsTotal.inc({ direction: 'out', outcome: 'answered' });
    call.handler.answered(portInfo(port));
  }

  private finishOutbound(call: OutCall, status: number, reason: string): void {
    if (call.state === 'ended') return;
    this.callsTotal.inc({ direction: 'out', outcome: String(status) });
    this.endCall(call, `status ${status}`);
    call.handler.failed(status, reason);
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

  private farEndGone(call: OutCall, reason: string): void {
    this.o.logger.info({ line: call.port?.key, reason }, 'PSTN far end disconnected');
    if (call.state !== 'connected') return this.finishOutbound(call, 487, 'Request Terminated');
    this.endCall(call, reason);
    call.handler.disconnected(reason);
  }

  /** Every ending of an outgoing call comes here: the port is released and returns to the pool. */
  private endCall(call: OutCall, cause: string): void {
    if (call.state === 'ended') return;
    call.state = 'ended';
    this.calls.delete(call.id);
    if (call.port) {
      const slot = this.slots.get(call.port.key);
      call.port.hangup();
      if (slot?.call === call) slot.call = undefined;
      call.port = undefined;
    }
    this.o.logger.debug({ call: call.id, cause }, 'PSTN call ended');
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

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    for (const call of [...this.calls.values()]) {
      this.endCall(call, 'shutdown');
      call.handler.disconnected('shutdown');
    }
    for (const slot of this.slots.values()) {
      if (!slot.inbound) continue;
      slot.inbound = undefined;
      slot.port.hangup();
    }
    for (const off of this.offs) off();
    for (const s of this.slots.values()) s.port.close();
    for (const l of this.learning.values()) l.timer.cancel();
    for (const c of this.cards.values()) {
      c.close();
      (c as Card & { office?: CentralOffice }).office?.close();
    }
    return Promise.resolve();
  }

  dump(): Record<string, unknown> {
    return {
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

function portInfo(port: PstnPort): PstnPortInfo {
  return {
    portKey: port.key,
    lineId: port.lineId,
    kind: port.channel.kind === 'e1' ? 'e1' : 'fxo',
    channel: port.channel.id,
  };
}
