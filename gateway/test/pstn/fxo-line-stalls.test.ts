/**
 * The FXO line on the simulated card and exchange when the process stalls: timers come due late,
 * in due order, and the exchange's frame clock catches up only a few frames (the rest are lost, as
 * on a card overrun). Dialling must still deliver every digit, and the line must still answer a
 * call whose caller ID came before the first ring.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Clock, TimerHandle, Timers } from '../../../base/clock.ts';
import { CHINA_TONE_PLAN } from '../../../base/signal/tone-plan.ts';
import { FxoLine, type FxoLineEvent } from '../../src/pstn/fxo-line.ts';
import { createSimulation, type Simulation } from '../../../drivers/sim/sim-card.ts';
import type { Channel } from '../../../drivers/api/types.ts';

/** A manual clock whose `stall` moves time on without running timers: they run late, in due order. */
class StallingClock implements Clock, Timers {
  private t = 0;
  private seq = 0;
  private pending: { dueMs: number; seq: number; fire: () => void; cancelled: boolean }[] = [];

  now(): number {
    return this.t;
  }

  wallNow(): number {
    return Date.UTC(2026, 0, 1) + this.t;
  }

  start(_name: string, delayMs: number, fire: () => void): TimerHandle {
    const timer = { dueMs: this.t + Math.max(0, delayMs), seq: this.seq++, fire, cancelled: false };
    this.pending.push(timer);
    return { cancel: () => void (timer.cancelled = true) };
  }

  advance(ms: number): void {
    const target = this.t + ms;
    for (;;) {
      const next = this.pending
        .filter((p) => !p.cancelled && p.dueMs <= target)
        .sort((a, b) => a.dueMs - b.dueMs || a.seq - b.seq)[0];
      if (!next) break;
      this.t = Math.max(this.t, next.dueMs);
      next.cancelled = true;
      next.fire();
    }
    this.t = target;
    this.pending = this.pending.filter((p) => !p.cancelled);
  }

  stall(ms: number): void {
    this.t += ms;
  }
}

function setup(onEvent: (ev: FxoLineEvent) => void = () => undefined): {
  clock: StallingClock;
  sim: Simulation;
  line: FxoLine;
  events: FxoLineEvent[];
  channel: Channel;
} {
  const clock = new StallingClock();
  const sim = createSimulation({}, { clock, timers: clock });
  const channel = sim.card.channel('sim0/fxo-1');
  if (!channel) throw new Error('no channel fxo-1');
  const events: FxoLineEvent[] = [];
  const line = new FxoLine(
    {
      setHook: (offHook) => void channel.setHook(offHook),
      sendDtmf: (digit, toneMs, gapMs) => void channel.dialDtmf(digit, { toneMs, gapMs }),
    },
    clock,
    clock,
    (ev) => {
      events.push(ev);
      onEvent(ev);
    },
    { tonePlan: CHINA_TONE_PLAN },
  );
  channel.onEvent((ev) => {
    if (ev.type === 'ring-on' || ev.type === 'ring-off')
      line.input({ type: 'ring', on: ev.type === 'ring-on', atMs: ev.atMs });
    else if (ev.type === 'polarity-reversal') line.input({ type: 'polarity-reversal', atMs: ev.atMs });
    else if (ev.type === 'loop-current')
      line.input({ type: 'loop-current', present: ev.present, atMs: ev.atMs });
  });
  channel.onAudio((frame) => line.audio(frame));
  return { clock, sim, line, events, channel };
}

describe('FXO line under event-loop stalls (simulated card)', () => {
  // Stalls at every point of dialling 95001 (digits every 200 ms from the dial tone): the pause
  // between the two zeros must survive a late digit timer, or the exchange hears 9501.
  const stalls = [0, 100, 250, 410, 450, 610, 810].flatMap((atMs) =>
    [150, 300, 1000].map((stallMs) => ({ atMs, stallMs })),
  );
  test('MUST dial every digit of 95001 and be answered whatever the stall during dialling', () => {
    for (const s of stalls) {
      const { clock, sim, line, events } = setup();
      assert.ok(line.dial('95001').ok);
      for (let t = 0; line.state === 'seized' && t < 5000; t += 10) clock.advance(10);
      assert.equal(line.state, 'dialling');
      clock.advance(s.atMs);
      clock.stall(s.stallMs);
      clock.advance(8000);
      assert.deepEqual(
        events.map((e) => e.type),
        ['answered'],
        `stall of ${s.stallMs} ms at ${s.atMs} ms into dialling`,
      );
      line.close();
      sim.close();
    }
  });

  // Caller ID before the first ring, answered the moment it is decoded (or up to a frame later):
  // the exchange's return to normal polarity may cross the off-hook; the call stays up.
  for (const cidMode of ['fsk-v23', 'fsk-bell202', 'dtmf'] as const) {
    test(`${cidMode} caller ID before the first ring, answered at once: the call stays up`, () => {
      for (const answerDelayMs of [0, 5, 10, 15, 20, 40, 100]) {
        // The extension answers from the event itself, or a few milliseconds later.
        const { clock, sim, line, events, channel } = setup((ev) => {
          if (ev.type === 'incoming') clock.start('answer', answerDelayMs, answer);
        });
        const polarityAcrossAnswer: string[] = [];
        function answer(): void {
          polarityAcrossAnswer.push(channel.status().polarity);
          void line.answer();
          polarityAcrossAnswer.push(channel.status().polarity);
        }
        const r = sim.office.originate({
          line: 1,
          callerId: { number: '13800138000' },
          cidMode,
          cidTiming: 'before-ring',
        });
        assert.ok(r.ok);
        clock.advance(8000);
        assert.deepEqual(
          events.map((e) => e.type),
          ['incoming', 'answered'],
          `answered ${answerDelayMs} ms after the caller ID`,
        );
        assert.equal(r.value.state, 'answered');
        assert.equal(line.state, 'connected');
        // EN 300 659-1: the office reverses back before the first ring; closing the loop leaves
        // the polarity as it is (a reversal then would mean the call was cleared).
        assert.equal(polarityAcrossAnswer.length, 2);
        assert.equal(
          polarityAcrossAnswer[0],
          polarityAcrossAnswer[1],
          `answered ${answerDelayMs} ms after the caller ID: no reversal at the answer`,
        );
        // The far end hangs up: one reversal relative to the polarity at answer clears the call.
        assert.ok(r.value.hangup().ok);
        clock.advance(100);
        assert.deepEqual(
          events.map((e) => (e.type === 'far-end-disconnect' ? `${e.type}:${e.reason}` : e.type)),
          ['incoming', 'answered', 'far-end-disconnect:polarity-reversal', 'released'],
        );
        line.close();
        sim.close();
      }
    });
  }
});
