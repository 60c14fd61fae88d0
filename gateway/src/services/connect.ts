/**
 * Connect services (`services: [{ type: 'connect', number: '*48', file }]`): answer first, bridge
 * later. The gateway answers the caller, plays "please hold while we connect you", rings the
 * extension (dialled after the number, `*481002`, or fixed by the service's `extension`) with
 * ringback in the caller's ear, and bridges the two when it answers. When the extension cannot be
 * reached the caller keeps the call: it hears the busy or congestion tone of the country's plan for
 * a few seconds, then the gateway hangs up — never silence.
 *
 * An app on the Leg/Call interface: it answers, plays, originates and bridges, and never sees SIP.
 */
import type { Timers } from '../../../base/clock.ts';
import type { Result } from '../../../base/result.ts';
import type { TonePlan } from '../../../base/signal/tone-plan.ts';
import type { Call } from '../call/call.ts';
import type { Leg, PromptRef } from '../call/leg.ts';
import { waitOnLeg } from '../call/leg-app.ts';
import type { Logger } from '../core/log.ts';
import type { PromptSource } from '../media/play/prompt-library.ts';
import { tonePrompt } from './tone-prompts.ts';

export interface ConnectConfig {
  number: string;
  file?: string;
  extension?: string;
}

export interface ConnectOptions {
  config(number: string): ConnectConfig | undefined;
  prompts: { load(file: string): Promise<Result<PromptSource>> };
  tonePlan(): TonePlan;
  timers: Timers;
  logger: Logger;
  /** Pause between the 200 OK and the first frame, so the caller's ACK and media set-up come first. */
  startDelayMs?: number;
  /** How long the caller hears busy or congestion before the gateway hangs up. */
  failureToneMs?: number;
}

export type ConnectOutcome = 'bridged' | 'failed' | 'caller-left';

export interface ConnectDump {
  running: Array<{ callKey: string; number: string; extension: string; phase: string }>;
  totals: Record<ConnectOutcome, number>;
}

export class ConnectService {
  private readonly running = new Map<
    string,
    { number: string; extension: string; phase: string; leg: Leg }
  >();
  private readonly totals: Record<ConnectOutcome, number> = { bridged: 0, failed: 0, 'caller-left': 0 };

  constructor(private readonly o: ConnectOptions) {}

  async run(leg: Leg, call: Call, number: string, dialledExtension: string | undefined): Promise<void> {
    const cfg = this.o.config(number);
    const extension = cfg?.extension ?? dialledExtension;
    if (!cfg || !extension) {
      this.o.logger.warn({ number }, 'connect service without an extension');
      await leg.hangup('unallocated-number');
      return;
    }
    let hold: PromptRef | undefined;
    if (cfg.file) {
      const loaded = await this.o.prompts.load(cfg.file);
      if (loaded.ok) hold = { kind: 'audio', ...loaded.value };
      else this.o.logger.warn({ number, file: cfg.file, error: loaded.error }, 'connect prompt not playable');
    }
    if (!(await leg.answer()).ok) return;
    const key = leg.interactionId;
    const run = { number, extension, phase: 'announcing', leg };
    this.running.set(key, run);
    try {
      const outcome = await this.connect(leg, call, extension, hold, run);
      this.totals[outcome]++;
      this.o.logger.info({ callKey: key, number, extension, outcome }, 'connect service ended');
    } finally {
      this.running.delete(key);
    }
  }

  private async connect(
    leg: Leg,
    call: Call,
    extension: string,
    hold: PromptRef | undefined,
    run: { phase: string },
  ): Promise<ConnectOutcome> {
    if ((await waitOnLeg(leg, this.o.timers, 'connect-start', this.o.startDelayMs ?? 200)) === 'ended') {
      return 'caller-left';
    }
    if (hold && (await leg.play([hold], { bargeIn: false })).outcome === 'ended') return 'caller-left';
    run.phase = 'ringing';
    const plan = this.o.tonePlan();
    const ringback = new AbortController();
    const ringing = leg.play([tonePrompt(plan, 'ringback')], {
      loop: true,
      bargeIn: false,
      signal: ringback.signal,
    });
    const placed = await call.originate({ kind: 'extension', number: extension });
    ringback.abort();
    await ringing;
    if (!placed.ok) {
      if (leg.state === 'ended') return 'caller-left';
      run.phase = 'failed';
      this.o.logger.info({ extension, failure: placed.error }, 'connect: the extension was not reached');
      const tone = placed.error.cause === 'user-busy' ? 'busy' : 'congestion';
      const ac = new AbortController();
      const playing = leg.play([tonePrompt(plan, tone)], { loop: true, bargeIn: false, signal: ac.signal });
      await waitOnLeg(leg, this.o.timers, 'connect-failure-tone', this.o.failureToneMs ?? 4000);
      ac.abort();
      await playing;
      await leg.hangup(placed.error.cause);
      return 'failed';
    }
    const bridged = call.bridge(leg, placed.value);
    if (!bridged.ok) {
      this.o.logger.error({ failure: bridged.error }, 'connect: bridge failed');
      await placed.value.hangup('temporary-failure');
      await leg.hangup('temporary-failure');
      return 'failed';
    }
    run.phase = 'bridged';
    await bridged.value.ended;
    return 'bridged';
  }

  dump(): ConnectDump {
    return {
      running: [...this.running.entries()].map(([callKey, r]) => ({
        callKey,
        number: r.number,
        extension: r.extension,
        phase: r.phase,
      })),
      totals: { ...this.totals },
    };
  }

  /** Hang up every caller still in the service (shutdown). */
  close(): void {
    for (const r of [...this.running.values()]) void r.leg.hangup('normal-clearing');
  }
}
