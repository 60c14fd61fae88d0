import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DriverErrors } from '../../api/types.ts';
import {
  eventsOf,
  harness,
  heard,
  levelDbm0,
  onRuns,
  purity,
  sendTone,
  type Harness,
  type Tap,
} from './harness.ts';

/** Seize fxo-1, wait for dial tone, dial `number` in DTMF; returns when the digits are out. */
function dial(h: Harness, number: string, mode: 'dtmf' | 'pulse' = 'dtmf'): Tap {
  const tap = h.tap('fxo-1');
  assert.ok(tap.channel.seize().ok);
  h.advance(500);
  const r = mode === 'dtmf' ? tap.channel.dialDtmf(number) : tap.channel.dialPulse(number);
  assert.ok(r.ok);
  h.advance(mode === 'dtmf' ? number.length * 200 + 100 : 12_000);
  return tap;
}

describe('dial tone and digit collection', () => {
  test('MUST give China dial tone (450 Hz, −10 dBm0, steady) when the line is seized', () => {
    const h = harness();
    const tap = h.tap('fxo-1');
    assert.ok(tap.channel.seize().ok);
    h.advance(1000);
    const s = heard(tap, 100, 1000);
    assert.ok(purity(s, 450) > 0.95);
    assert.ok(Math.abs(levelDbm0(s) - -10) < 0.5);
    assert.equal(onRuns(tap, 100, 1000).length, 1);
    h.close();
  });

  test('MUST stop dial tone at the first digit', () => {
    const h = harness();
    const tap = dial(h, '9');
    const after = heard(tap, tap.events.find((e) => e.type === 'dial-complete')?.atMs ?? 0, h.clock.now());
    assert.ok(levelDbm0(after) < -60);
    assert.equal(h.office.port('fxo-1')?.state, 'collecting');
    h.close();
  });

  test('collects decadic pulses from the loop breaks as well as DTMF', () => {
    const h = harness();
    const tap = dial(h, '95001', 'pulse');
    assert.equal(h.office.port('fxo-1')?.summary().dialled, '95001');
    assert.equal(eventsOf(tap, 'dial-complete').length, 1);
    h.close();
  });

  test('an unknown number gets congestion tone (450 Hz 700/700)', () => {
    const h = harness();
    const tap = dial(h, '12');
    h.advance(4000 + 3000);
    const end = h.clock.now();
    const runs = onRuns(tap, end - 2800, end);
    const inner = runs.filter(([a, b]) => a > end - 2800 && b < end);
    assert.ok(inner.length >= 1);
    for (const [a, b] of inner) assert.ok(Math.abs(b - a - 700) <= 20, `on ${b - a}`);
    h.close();
  });
});

describe('test numbers', () => {
  test('95000 answers (polarity reversal) and echoes what it hears', () => {
    const h = harness();
    const tap = dial(h, '95000');
    h.advance(1200);
    assert.equal(eventsOf(tap, 'polarity-reversal').length, 1);
    const t0 = h.clock.now();
    sendTone(h, tap.channel, 700, -15, 600);
    const back = heard(tap, t0 + 100, t0 + 600);
    assert.ok(purity(back, 700) > 0.95);
    assert.ok(Math.abs(levelDbm0(back) - -15) < 0.5);
    h.close();
  });

  test('95001 answers with 1004 Hz at 0 dBm0', () => {
    const h = harness();
    const tap = dial(h, '95001');
    h.advance(2000);
    const answeredAt = eventsOf(tap, 'polarity-reversal')[0]?.atMs;
    assert.ok(answeredAt !== undefined);
    const s = heard(tap, answeredAt + 40, answeredAt + 1040);
    assert.ok(purity(s, 1004) > 0.99, `purity ${purity(s, 1004)}`);
    const lvl = levelDbm0(s);
    assert.ok(Math.abs(lvl) < 0.2, `level ${lvl} dBm0`);
    h.close();
  });

  test('95002 is busy: busy tone 450 Hz 350/350 and no answer signal', () => {
    const h = harness();
    const tap = dial(h, '95002');
    h.advance(3000);
    const end = h.clock.now();
    assert.equal(eventsOf(tap, 'polarity-reversal').length, 0);
    const s = heard(tap, end - 3000, end);
    assert.ok(Math.abs(levelDbm0(s) - -13) < 1, 'half on at −10 dBm0');
    const inner = onRuns(tap, end - 3000, end).filter(([a, b]) => a > end - 3000 && b < end);
    assert.ok(inner.length >= 3);
    for (const [a, b] of inner) assert.ok(Math.abs(b - a - 350) <= 20, `on ${b - a}`);
    h.close();
  });

  test('95003 rings (ringback 1 s / 4 s) and never answers', () => {
    const h = harness();
    const tap = dial(h, '95003');
    const t0 = h.clock.now();
    h.advance(30_000);
    assert.equal(eventsOf(tap, 'polarity-reversal').length, 0);
    const runs = onRuns(tap, t0, h.clock.now()).filter(([a]) => a > t0);
    assert.ok(runs.length >= 5);
    for (const [a, b] of runs.slice(0, -1)) assert.ok(Math.abs(b - a - 1000) <= 20);
    assert.equal(h.office.port('fxo-1')?.state, 'calling');
    h.close();
  });

  test('95004 answers, then after 5 s leaves only busy tone: no reversal, no loop drop', () => {
    const h = harness();
    const tap = dial(h, '95004');
    h.advance(1500);
    const answered = eventsOf(tap, 'polarity-reversal');
    assert.equal(answered.length, 1);
    const loopEventsBefore = eventsOf(tap, 'loop-current').length;
    h.advance(8000);
    assert.equal(eventsOf(tap, 'polarity-reversal').length, 1, 'no reversal at the far-end clear');
    assert.equal(eventsOf(tap, 'loop-current').length, loopEventsBefore, 'no loop-current change');
    const clearAt = (answered[0]?.atMs ?? 0) + 5000;
    const quiet = heard(tap, (answered[0]?.atMs ?? 0) + 40, clearAt - 20);
    assert.ok(levelDbm0(quiet) < -60);
    const busy = heard(tap, clearAt + 20, clearAt + 2820, true);
    assert.ok(purity(busy, 450) > 0.9);
    const inner = onRuns(tap, clearAt + 20, clearAt + 2820).filter(([a]) => a > clearAt + 20);
    for (const [a, b] of inner.slice(0, -1)) assert.ok(Math.abs(b - a - 350) <= 20);
    h.close();
  });
});

describe('calls between lines', () => {
  test('line 1 calls line 2: ring with caller ID, answer by reversal, audio crosses both ways', () => {
    const h = harness();
    const b = h.tap('fxo-2');
    const a = dial(h, '5550002');
    h.advance(200);
    assert.equal(eventsOf(b, 'ring-on').length, 1);
    assert.equal(h.office.port('fxo-2')?.state, 'alerting');
    h.advance(2000);
    assert.ok(b.channel.answer().ok);
    h.advance(40);
    assert.equal(eventsOf(a, 'polarity-reversal').length, 1);
    const t0 = h.clock.now();
    for (let i = 0; i < 30; i++) {
      // Both send at once: 600 Hz one way, 900 Hz the other.
      const fa = new Int16Array(160);
      const fb = new Int16Array(160);
      for (let k = 0; k < 160; k++) {
        const n = i * 160 + k;
        fa[k] = Math.round(8000 * Math.sin((2 * Math.PI * 600 * n) / 8000));
        fb[k] = Math.round(8000 * Math.sin((2 * Math.PI * 900 * n) / 8000));
      }
      a.channel.sendAudio(fa);
      b.channel.sendAudio(fb);
      h.advance(20);
    }
    assert.ok(purity(heard(b, t0 + 40, t0 + 600), 600) > 0.95);
    assert.ok(purity(heard(a, t0 + 40, t0 + 600), 900) > 0.95);
    h.close();
  });

  test('calling a line that is off hook gets busy tone', () => {
    const h = harness();
    assert.ok(h.channel('fxo-2').seize().ok);
    const a = dial(h, '5550002');
    h.advance(1000);
    assert.ok(purity(heard(a, h.clock.now() - 1000, h.clock.now(), true), 450) > 0.9);
    assert.equal(h.office.port('fxo-1')?.state, 'clearing');
    h.close();
  });
});

describe('far-end disconnect', () => {
  const modes = ['loop-drop', 'polarity-reversal', 'busy-tone'] as const;
  for (const mode of modes) {
    test(`a far-end clear in ${mode} mode is signalled that way, then busy tone`, () => {
      const h = harness({ lines: { 1: { disconnect: mode } } });
      const tap = h.tap('fxo-1');
      const r = h.office.originate({ line: 1, callerId: { number: '13800138000' } });
      assert.ok(r.ok);
      h.advance(7000);
      assert.ok(tap.channel.answer().ok);
      h.advance(1000);
      const before = tap.events.length;
      const clearAt = h.clock.now();
      assert.ok(r.value.hangup().ok);
      h.advance(3000);
      const after = tap.events
        .slice(before)
        .map((e) => e.type + ('present' in e ? `:${String(e.present)}` : ''));
      switch (mode) {
        case 'loop-drop':
          assert.deepEqual(after, ['loop-current:false', 'loop-current:true']);
          {
            const drops = eventsOf(tap, 'loop-current').slice(-2);
            assert.equal((drops[1]?.atMs ?? 0) - (drops[0]?.atMs ?? 0), 800);
          }
          break;
        case 'polarity-reversal':
          assert.deepEqual(after, ['polarity-reversal']);
          break;
        case 'busy-tone':
          assert.deepEqual(after, []);
          break;
      }
      const busy = heard(tap, clearAt + 1000, clearAt + 3000, true);
      assert.ok(purity(busy, 450) > 0.9);
      assert.equal(r.value.summary().endedBy, 'caller');
      h.close();
    });
  }

  test('the gateway hanging up ends the simulated call and restores normal polarity', () => {
    const h = harness();
    const tap = h.tap('fxo-1');
    const r = dial(h, '95001');
    h.advance(2000);
    assert.equal(r.channel.status().polarity, 'reversed');
    assert.ok(tap.channel.release().ok);
    h.advance(400);
    assert.equal(tap.channel.status().polarity, 'normal');
    assert.equal(h.office.port('fxo-1')?.state, 'idle');
    h.close();
  });
});

describe('commands in the wrong state', () => {
  test('MUST refuse to dial on an idle (on-hook) line', () => {
    const h = harness();
    const r = h.channel('fxo-1').dialDtmf('123');
    assert.equal(r.ok, false);
    if (!r.ok) assert.equal(r.error.code, DriverErrors.ON_HOOK);
    const p = h.channel('fxo-1').dialPulse('1');
    assert.equal(p.ok ? null : p.error.code, DriverErrors.ON_HOOK);
    h.close();
  });

  const bad: Array<{
    name: string;
    run: (h: Harness) => { ok: boolean; error?: { code: string } };
    code: string;
  }> = [
    {
      name: 'non-DTMF digits',
      run: (h) => h.channel('fxo-1').dialDtmf('12x'),
      code: DriverErrors.BAD_DIGITS,
    },
    {
      name: 'pulse dialling a letter',
      run: (h) => h.channel('fxo-1').dialPulse('1A'),
      code: DriverErrors.BAD_DIGITS,
    },
    {
      name: 'a frame of the wrong size',
      run: (h) => h.channel('fxo-1').sendAudio(new Int16Array(80)),
      code: DriverErrors.BAD_FRAME,
    },
    {
      name: 'seizing an off-hook line',
      run: (h) => (h.channel('fxo-1').seize(), h.channel('fxo-1').seize()),
      code: DriverErrors.OFF_HOOK,
    },
    {
      name: 'a digit list on an analog line',
      run: (h) => h.channel('fxo-1').sendDigits('1'),
      code: DriverErrors.UNSUPPORTED,
    },
    {
      name: 'pulse dialling on E1',
      run: (h) => h.channel('e1-1-1').dialPulse('1'),
      code: DriverErrors.UNSUPPORTED,
    },
    {
      name: 'hook control on E1',
      run: (h) => h.channel('e1-1-1').setHook(true),
      code: DriverErrors.UNSUPPORTED,
    },
    {
      name: 'answering an idle E1 timeslot',
      run: (h) => h.channel('e1-1-1').answer(),
      code: DriverErrors.STATE,
    },
  ];
  for (const c of bad) {
    test(`answers ${c.name} with ${c.code}`, () => {
      const h = harness();
      const r = c.run(h);
      assert.equal(r.ok, false);
      assert.equal(r.error?.code, c.code);
      h.close();
    });
  }

  test('a transmit buffer overrun drops the oldest frame and counts it', () => {
    const h = harness();
    const ch = h.channel('fxo-1');
    for (let i = 0; i < 10; i++) assert.ok(ch.sendAudio(new Int16Array(160)).ok);
    assert.equal(ch.dump().stats.txOverruns, 2);
    h.close();
  });
});
