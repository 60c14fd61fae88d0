/**
 * The gateway's FXO line state machine driven by a simulated card channel, wired the way the
 * gateway wires them: channel events → `FxoLine.input`, channel audio → `FxoLine.audio`, the line's
 * hook and DTMF requests → the channel's commands.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CHINA_TONE_PLAN } from '../../../base/signal/tone-plan.ts';
import { FxoLine, type FxoLineEvent } from '../../src/pstn/fxo-line.ts';
import type { Channel } from '../../../drivers/api/types.ts';
import type { CidMode, CidTiming } from '../../../drivers/sim/co-types.ts';
import { harness, type Harness } from '../../../drivers/test/sim/harness.ts';

function wire(h: Harness, ch: Channel): { line: FxoLine; events: Array<FxoLineEvent & { atMs: number }> } {
  const events: Array<FxoLineEvent & { atMs: number }> = [];
  const line = new FxoLine(
    {
      setHook: (offHook) => void ch.setHook(offHook),
      sendDtmf: (digit, durationMs) => void ch.dialDtmf(digit, { toneMs: durationMs, gapMs: 0 }),
    },
    h.clock,
    h.clock,
    (ev) => events.push({ ...ev, atMs: h.clock.now() }),
    { tonePlan: CHINA_TONE_PLAN },
  );
  ch.onEvent((ev) => {
    if (ev.type === 'ring-on' || ev.type === 'ring-off')
      line.input({ type: 'ring', on: ev.type === 'ring-on' });
    else if (ev.type === 'polarity-reversal') line.input({ type: 'polarity-reversal' });
    else if (ev.type === 'loop-current') line.input({ type: 'loop-current', present: ev.present });
  });
  ch.onAudio((frame) => line.audio(frame));
  return { line, events };
}

describe('gateway FXO line on the simulated card', () => {
  const cases: Array<{ mode: CidMode; timing: CidTiming }> = [
    { mode: 'fsk-bell202', timing: 'after-first-ring' },
    { mode: 'fsk-v23', timing: 'before-ring' },
    { mode: 'dtmf', timing: 'before-ring' },
    { mode: 'dtmf', timing: 'after-first-ring' },
  ];
  for (const c of cases) {
    test(`an incoming call is announced with the ${c.mode} caller ID sent ${c.timing}`, () => {
      const h = harness();
      const { line, events } = wire(h, h.channel('fxo-1'));
      const r = h.office.originate({
        line: 1,
        callerId: { number: '13800138000' },
        cidMode: c.mode,
        cidTiming: c.timing,
      });
      assert.ok(r.ok);
      h.advance(7000);
      const incoming = events.find((e) => e.type === 'incoming');
      assert.ok(incoming && incoming.type === 'incoming');
      assert.equal(incoming.callerId?.number, '13800138000');
      assert.ok(line.answer().ok);
      h.advance(100);
      assert.equal(r.value.state, 'answered');
      line.close();
      h.close();
    });
  }

  test('dialling 95001 is answered by polarity reversal', () => {
    const h = harness();
    const { line, events } = wire(h, h.channel('fxo-1'));
    assert.ok(line.dial('95001').ok);
    h.advance(5000);
    assert.deepEqual(
      events.map((e) => e.type),
      ['answered'],
    );
    assert.equal(line.state, 'connected');
    line.close();
    h.close();
  });

  test('dialling 95004 ends with busy tone only and the port is free within 2 s of the clear', () => {
    const h = harness();
    const { line, events } = wire(h, h.channel('fxo-1'));
    assert.ok(line.dial('95004').ok);
    h.advance(3000);
    const answeredAt = events.find((e) => e.type === 'answered')?.atMs;
    assert.ok(answeredAt !== undefined);
    h.advance(9000);
    const gone = events.find((e) => e.type === 'far-end-disconnect');
    assert.ok(gone && gone.type === 'far-end-disconnect');
    assert.equal(gone.reason, 'busy-tone');
    // The office cleared 5 s after answer; the line is released within 2 s of that.
    assert.ok(
      gone.atMs - (answeredAt + 5000) <= 2000,
      `released ${gone.atMs - answeredAt - 5000} ms after clear`,
    );
    assert.equal(line.state, 'idle');
    assert.equal(h.office.port(1)?.state, 'idle');
    line.close();
    h.close();
  });

  test('dialling 95002 fails as busy', () => {
    const h = harness();
    const { line, events } = wire(h, h.channel('fxo-1'));
    assert.ok(line.dial('95002').ok);
    h.advance(6000);
    const failed = events.find((e) => e.type === 'outgoing-failed');
    assert.ok(failed && failed.type === 'outgoing-failed');
    assert.equal(failed.reason, 'busy');
    line.close();
    h.close();
  });

  test('a line with no dial tone fails the outgoing call with a fault', () => {
    const h = harness();
    assert.ok(h.office.setFaults(1, ['no-dial-tone']).ok);
    const { line, events } = wire(h, h.channel('fxo-1'));
    assert.ok(line.dial('95001').ok);
    h.advance(5000);
    assert.ok(events.some((e) => e.type === 'fault' && e.reason === 'no-dial-tone'));
    line.close();
    h.close();
  });

  test('a dead line fails the outgoing call as dead', () => {
    const h = harness();
    assert.ok(h.office.setFaults(1, ['dead-line']).ok);
    const { line, events } = wire(h, h.channel('fxo-1'));
    assert.ok(line.dial('95001').ok);
    h.advance(5000);
    assert.ok(events.some((e) => e.type === 'fault' && e.reason === 'dead-line'));
    line.close();
    h.close();
  });

  test('pulse dialling by the line state machine reaches the office', () => {
    const h = harness();
    const ch = h.channel('fxo-1');
    const events: FxoLineEvent[] = [];
    const line = new FxoLine(
      { setHook: (v) => void ch.setHook(v), sendDtmf: () => undefined },
      h.clock,
      h.clock,
      (ev) => events.push(ev),
      { tonePlan: CHINA_TONE_PLAN, dialMode: 'pulse' },
    );
    ch.onEvent((ev) => {
      if (ev.type === 'polarity-reversal') line.input({ type: 'polarity-reversal' });
      if (ev.type === 'loop-current') line.input({ type: 'loop-current', present: ev.present });
    });
    ch.onAudio((f) => line.audio(f));
    assert.ok(line.dial('95001').ok);
    h.advance(15_000);
    assert.equal(h.office.port(1)?.summary().dialled, '95001');
    assert.ok(events.some((e) => e.type === 'answered'));
    line.close();
    h.close();
  });
});
