import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../../base/clock.ts';
import { CHINA_TONE_PLAN, ETSI_TONE_PLAN, NANP_TONE_PLAN } from '../../../base/signal/tone-plan.ts';
import { CallerIdErrors } from '../../../base/signal/caller-id.ts';
import { encodeCallerIdMessage } from '../../../base/signal/caller-id.ts';
import { encodeDtmfCallerId } from '../../../base/signal/caller-id-dtmf.ts';
import {
  encodeFskCallerId,
  FSK_STANDARDS,
  fskBitStream,
  modulateFsk,
} from '../../../base/signal/caller-id-fsk.ts';
import { FxoLine, type FxoLineEvent, type FxoLineOptions } from '../../src/pstn/fxo-line.ts';
import { FRAME_MS, toFrames } from '../../../base/signal/line-audio.ts';
import {
  cadencedTone,
  dtmfAudio,
  silence,
  speechLike,
  tone,
} from '../../../base/test/signal/line-signals.ts';

type Logged = { atMs: number } & (
  | { kind: 'event'; ev: FxoLineEvent }
  | { kind: 'hook'; offHook: boolean }
  | { kind: 'dtmf'; digit: string; durationMs: number; gapMs: number }
);

function harness(options: Partial<FxoLineOptions> = {}) {
  const clock = new ManualClock();
  const log: Logged[] = [];
  const line = new FxoLine(
    {
      setHook: (offHook) => log.push({ atMs: clock.now(), kind: 'hook', offHook }),
      sendDtmf: (digit, durationMs, gapMs) =>
        log.push({ atMs: clock.now(), kind: 'dtmf', digit, durationMs, gapMs }),
    },
    clock,
    clock,
    (ev) => log.push({ atMs: clock.now(), kind: 'event', ev }),
    { tonePlan: NANP_TONE_PLAN, ...options },
  );
  const feed = (audio: Int16Array): void => {
    for (const f of toFrames(audio)) {
      line.audio(f);
      clock.advance(FRAME_MS);
    }
  };
  const quiet = (ms: number): void => feed(silence(ms));
  const events = (): FxoLineEvent[] => log.flatMap((l) => (l.kind === 'event' ? [l.ev] : []));
  const eventTypes = (): string[] => events().map((e) => ('reason' in e ? `${e.type}:${e.reason}` : e.type));
  const hooks = (): { atMs: number; offHook: boolean }[] =>
    log.flatMap((l) => (l.kind === 'hook' ? [{ atMs: l.atMs, offHook: l.offHook }] : []));
  const at = (type: string): number | undefined =>
    log.find((l) => l.kind === 'event' && l.ev.type === type)?.atMs;
  return { clock, log, line, feed, quiet, events, eventTypes, hooks, at };
}

const cid = { number: '5551234567', name: 'JOHN DOE', date: { month: 3, day: 14, hour: 9, minute: 26 } };

describe('FXO incoming calls and caller ID', () => {
  test('GR-30: Bell 202 caller ID between the first and second ring is offered with the call, then answer connects', () => {
    const h = harness();
    h.line.input({ type: 'ring', on: true });
    assert.equal(h.line.state, 'ringing');
    h.quiet(2000);
    h.line.input({ type: 'ring', on: false });
    h.quiet(500);
    h.feed(encodeFskCallerId(cid, { standard: 'bell202', format: 'mdmf' }));
    h.quiet(200);
    assert.deepEqual(h.events(), [{ type: 'incoming', callerId: cid, callerIdError: null }]);
    h.quiet(3000);
    h.line.input({ type: 'ring', on: true });
    assert.equal(h.events().length, 1, 'offered once');
    assert.ok(h.line.answer().ok);
    assert.equal(h.line.state, 'connected');
    assert.deepEqual(
      h.hooks().map((x) => x.offHook),
      [true],
    );
    assert.deepEqual(h.eventTypes(), ['incoming', 'answered']);
    h.line.close();
  });

  test('EN 300 659-1: V.23 caller ID after a line reversal, before the first ring', () => {
    const h = harness({ tonePlan: ETSI_TONE_PLAN });
    h.line.input({ type: 'polarity-reversal' });
    assert.equal(h.line.state, 'ringing');
    h.quiet(300);
    h.feed(
      encodeFskCallerId(
        { number: '0201234567' },
        { standard: 'v23', format: 'mdmf', seizureBits: 0, markBits: 80 },
      ),
    );
    h.quiet(300);
    assert.deepEqual(h.events(), [
      { type: 'incoming', callerId: { number: '0201234567' }, callerIdError: null },
    ]);
    h.line.input({ type: 'ring', on: true });
    assert.ok(h.line.answer().ok);
    assert.deepEqual(h.eventTypes(), ['incoming', 'answered']);
    h.line.close();
  });

  // EN 300 659-1 §6.1.4: reversal, data, reversal back, ring. Answered as soon as the data is
  // decoded, the line goes off hook before the reversal back, which the card may hand over after
  // the answer. Stamped no later than the off-hook it belongs to the alerting; later, it is a clear.
  const crossing = [
    { restoredAt: -15, clears: false, rule: 'made before the off-hook' },
    { restoredAt: 0, clears: false, rule: 'made as the loop closed' },
    { restoredAt: 20, clears: true, rule: 'made after the answer' },
  ] as const;
  for (const c of crossing) {
    test(`EN 300 659-1: answered before the first ring, a reversal ${c.rule} ${c.clears ? 'clears' : 'does not clear'} the call`, () => {
      const h = harness({ tonePlan: ETSI_TONE_PLAN });
      h.line.input({ type: 'polarity-reversal', atMs: h.clock.now() });
      h.quiet(300);
      h.feed(encodeFskCallerId({ number: '13800138000' }, { standard: 'v23', format: 'mdmf' }));
      assert.deepEqual(h.eventTypes(), ['incoming']);
      assert.ok(h.line.answer().ok);
      const answeredAt = h.clock.now();
      // The batch with the exchange's reversal arrives with the next frame.
      h.quiet(c.restoredAt > 0 ? c.restoredAt + 20 : 20);
      h.line.input({ type: 'polarity-reversal', atMs: answeredAt + c.restoredAt });
      h.quiet(3000);
      if (c.clears) {
        assert.deepEqual(h.eventTypes(), [
          'incoming',
          'answered',
          'far-end-disconnect:polarity-reversal',
          'released',
        ]);
        h.line.close();
        return;
      }
      assert.equal(h.line.state, 'connected');
      assert.deepEqual(h.eventTypes(), ['incoming', 'answered']);
      // The far end's clear is a reversal relative to the polarity at answer.
      h.line.input({ type: 'polarity-reversal', atMs: h.clock.now() });
      assert.deepEqual(h.eventTypes(), [
        'incoming',
        'answered',
        'far-end-disconnect:polarity-reversal',
        'released',
      ]);
      h.line.close();
    });
  }

  test('DTMF caller ID before the first ring (no reversal) is offered when the line listens on-hook', () => {
    const h = harness({ tonePlan: ETSI_TONE_PLAN, idleCallerId: true });
    h.quiet(200);
    h.feed(dtmfAudio(encodeDtmfCallerId({ number: '33123456' }, 'A-#')));
    h.quiet(200);
    assert.equal(h.line.state, 'ringing');
    assert.deepEqual(h.events(), [
      { type: 'incoming', callerId: { number: '33123456' }, callerIdError: null },
    ]);
    h.line.close();
  });

  test('a call with no caller ID is offered at the second ring', () => {
    const h = harness();
    h.line.input({ type: 'ring', on: true });
    h.quiet(2000);
    h.line.input({ type: 'ring', on: false });
    h.feed(speechLike(4000, 2, -40));
    assert.deepEqual(h.events(), []);
    h.line.input({ type: 'ring', on: true });
    assert.deepEqual(h.events(), [{ type: 'incoming', callerId: null, callerIdError: null }]);
    assert.equal(h.at('incoming'), 6000);
    h.line.close();
  });

  test('a caller ID with a corrupted checksum is dropped whole; the call is offered without it, with the error', () => {
    const h = harness();
    const bytes = encodeCallerIdMessage(cid, 'mdmf');
    bytes[bytes.length - 1] = ((bytes[bytes.length - 1] ?? 0) ^ 0x10) & 0xff;
    h.line.input({ type: 'ring', on: true });
    h.quiet(2000);
    h.line.input({ type: 'ring', on: false });
    h.quiet(500);
    h.feed(modulateFsk(fskBitStream(bytes, 300, 180), FSK_STANDARDS.bell202, -13));
    h.quiet(3000);
    h.line.input({ type: 'ring', on: true });
    const [ev] = h.events();
    assert.equal(ev?.type, 'incoming');
    if (ev?.type === 'incoming') {
      assert.equal(ev.callerId, null);
      assert.equal(ev.callerIdError?.code, CallerIdErrors.CHECKSUM);
    }
    h.line.close();
  });

  test('MUST report a missed call when ringing stops mid-cadence for 6 s, and return to idle', () => {
    const h = harness();
    h.line.input({ type: 'ring', on: true });
    h.clock.advance(2000);
    h.line.input({ type: 'ring', on: false });
    h.clock.advance(4000);
    h.line.input({ type: 'ring', on: true });
    h.clock.advance(1000);
    h.line.input({ type: 'ring', on: false });
    h.clock.advance(5999);
    assert.equal(h.line.state, 'ringing');
    h.clock.advance(1);
    assert.equal(h.line.state, 'idle');
    assert.deepEqual(h.eventTypes(), ['incoming', 'far-end-disconnect:ringing-stopped', 'released']);
    assert.equal(h.line.dump().stats.missed, 1);
    assert.deepEqual(h.clock.armed(), []);
    h.line.close();
  });

  test('a single short ring burst is a glitch: back to idle with no call offered', () => {
    const h = harness();
    h.line.input({ type: 'ring', on: true });
    h.clock.advance(40);
    h.line.input({ type: 'ring', on: false });
    h.clock.advance(6000);
    assert.equal(h.line.state, 'idle');
    assert.deepEqual(h.events(), []);
    h.line.close();
  });

  test('MUST release a line that rings forever with a fault, and not offer it again until the ringing stops', () => {
    const h = harness({ ringingMaxMs: 60_000 });
    let t = 0;
    const ringCycle = (): void => {
      h.line.input({ type: 'ring', on: true });
      h.clock.advance(1000);
      h.line.input({ type: 'ring', on: false });
      h.clock.advance(4000);
      t += 5000;
    };
    while (t < 120_000) ringCycle();
    assert.deepEqual(h.eventTypes(), ['incoming', 'fault:ringing-timeout', 'released']);
    assert.equal(h.at('fault'), 60_000);
    assert.equal(h.line.state, 'idle');
    h.clock.advance(10_000);
    ringCycle();
    ringCycle();
    assert.deepEqual(h.eventTypes().slice(3), ['incoming'], 'a new call after the line went quiet');
    h.line.close();
  });
});

describe('FXO outgoing calls', () => {
  test('MUST seize, wait for dial tone, dial DTMF at 100/100 ms and take the polarity reversal as answer', () => {
    const h = harness();
    assert.ok(h.line.dial('95001').ok);
    assert.equal(h.line.state, 'seized');
    h.quiet(200);
    h.feed(tone([350, 440], 400, -13));
    assert.equal(h.line.state, 'dialling');
    const start = h.log.find((l) => l.kind === 'dtmf')?.atMs ?? -1;
    h.quiet(1200);
    const dtmf = h.log.flatMap((l) => (l.kind === 'dtmf' ? [[l.digit, l.atMs - start, l.durationMs]] : []));
    assert.deepEqual(dtmf, [
      ['9', 0, 100],
      ['5', 200, 100],
      ['0', 400, 100],
      ['0', 600, 100],
      ['1', 800, 100],
    ]);
    assert.equal(h.line.state, 'dialling');
    h.line.input({ type: 'polarity-reversal' });
    assert.equal(h.line.state, 'connected');
    assert.deepEqual(h.events(), [{ type: 'answered', supervision: 'polarity-reversal' }]);
    h.line.close();
  });

  test('Q.24: every DTMF digit is handed to the card with its pause, so two equal digits never run together', () => {
    const h = harness({ waitForDialTone: false, dialPauseMs: 100 });
    h.line.dial('95001');
    h.clock.advance(2000);
    const sent = h.log.flatMap((l) => (l.kind === 'dtmf' ? [`${l.digit}:${l.durationMs}/${l.gapMs}`] : []));
    assert.deepEqual(sent, ['9:100/100', '5:100/100', '0:100/100', '0:100/100', '1:100/100']);
    h.line.close();
  });

  // The card hands over events first, then the frames they precede. After a stall the clock has
  // moved on before the batches covering it arrive: a timer that fires then must not decide that
  // nothing came, when what it waits for is in the batch still to be delivered.
  test('a dial-tone timeout that fires during a stall waits for the stalled audio before failing', () => {
    const h = harness();
    h.quiet(100);
    assert.ok(h.line.dial('95001').ok);
    h.quiet(200);
    // The process stalls for 3.5 s: the dial-tone timer comes due with no frame of it delivered.
    h.clock.advance(3500);
    assert.equal(h.line.state, 'seized');
    assert.deepEqual(h.eventTypes(), []);
    // The delayed frames arrive: the dial tone was there all along.
    h.feed(tone([350, 440], 400, -13));
    assert.equal(h.line.state, 'dialling');
    assert.deepEqual(h.eventTypes(), []);
    h.line.close();
  });

  test('no dial tone in 3 s of line audio still fails the seizure', () => {
    const h = harness();
    h.quiet(100);
    h.line.dial('95001');
    h.quiet(2980);
    assert.deepEqual(h.eventTypes(), []);
    h.quiet(40);
    assert.deepEqual(h.eventTypes(), ['fault:no-dial-tone', 'outgoing-failed:no-dial-tone', 'released']);
    h.line.close();
  });

  test('a loop-current timer that fires during a stall sees the restoring event of the same batch first', () => {
    const h = harness();
    h.quiet(100);
    h.line.dial('95001');
    h.line.input({ type: 'loop-current', present: true });
    h.feed(tone([350, 440], 400, -13));
    h.quiet(1200);
    assert.equal(h.line.state, 'dialling');
    // A 100 ms interruption (a reversal transient), then the process stalls for 600 ms.
    h.line.input({ type: 'loop-current', present: false });
    h.quiet(40);
    h.clock.advance(600);
    assert.deepEqual(h.eventTypes(), [], 'no congestion while the stalled batch is undelivered');
    // The batch: the current came back 60 ms later; then its frames.
    h.line.input({ type: 'loop-current', present: true });
    h.quiet(400);
    assert.equal(h.line.state, 'dialling');
    assert.deepEqual(h.eventTypes(), []);
    // A real clear still ends the call after 350 ms of line time.
    h.line.input({ type: 'loop-current', present: false });
    h.quiet(340);
    assert.deepEqual(h.eventTypes(), []);
    h.quiet(20);
    assert.deepEqual(h.eventTypes(), ['outgoing-failed:congestion', 'released']);
    h.line.close();
  });

  test('without dial tone detection the digits start after the fixed pause', () => {
    const h = harness({ waitForDialTone: false, dialPauseMs: 2000 });
    h.line.dial('12');
    h.clock.advance(1999);
    assert.equal(h.log.filter((l) => l.kind === 'dtmf').length, 0);
    h.clock.advance(1);
    assert.deepEqual(
      h.log.filter((l) => l.kind === 'dtmf').map((l) => l.atMs),
      [2000],
    );
    h.line.close();
  });

  test('post-dial digits are sent as DTMF once the call is answered', () => {
    const h = harness({ waitForDialTone: false, dialPauseMs: 100 });
    h.line.dial('95000', { postDial: '12#' });
    h.clock.advance(2000);
    h.line.input({ type: 'polarity-reversal' });
    h.clock.advance(1000);
    assert.deepEqual(h.log.flatMap((l) => (l.kind === 'dtmf' ? [l.digit] : [])).join(''), '9500012#');
    h.line.close();
  });

  test('a line with no answer supervision is taken as answered once the digits are out', () => {
    const h = harness({ waitForDialTone: false, dialPauseMs: 100, answerSupervision: 'none' });
    h.line.dial('123');
    h.clock.advance(700);
    assert.equal(h.line.state, 'connected');
    assert.deepEqual(h.events(), [{ type: 'answered', supervision: 'assumed' }]);
    h.line.close();
  });

  test('Q.24 decadic dialling: 10 pulses/s, 60 ms break / 40 ms make, 700 ms between digits, 0 = ten pulses', () => {
    const h = harness({ dialMode: 'pulse', waitForDialTone: false, dialPauseMs: 0 });
    h.line.dial('205');
    h.clock.advance(5000);
    const hooks = h.hooks();
    assert.deepEqual(hooks[0], { atMs: 0, offHook: true }, 'seize');
    const expected: { atMs: number; offHook: boolean }[] = [];
    let t = 0;
    for (const [i, pulses] of [2, 10, 5].entries()) {
      if (i > 0) t += 700;
      for (let p = 0; p < pulses; p++) {
        if (p > 0) t += 40;
        expected.push({ atMs: t, offHook: false }, { atMs: t + 60, offHook: true });
        t += 60;
      }
    }
    assert.deepEqual(hooks.slice(1), expected);
    assert.equal(h.line.state, 'dialling');
    h.line.close();
  });

  test('loop current breaks caused by our own pulses are not a disconnect', () => {
    const h = harness({ dialMode: 'pulse', waitForDialTone: false, dialPauseMs: 0 });
    h.line.dial('9');
    for (let i = 0; i < 9; i++) {
      h.line.input({ type: 'loop-current', present: false });
      h.clock.advance(60);
      h.line.input({ type: 'loop-current', present: true });
      h.clock.advance(40);
    }
    h.clock.advance(1000);
    assert.equal(h.line.state, 'dialling');
    assert.deepEqual(h.events(), []);
    h.line.close();
  });

  test('MUST report no dial tone as a fault, fail the attempt over and release', () => {
    const h = harness();
    h.line.dial('95001');
    h.quiet(3000);
    assert.deepEqual(h.eventTypes(), ['fault:no-dial-tone', 'outgoing-failed:no-dial-tone', 'released']);
    assert.deepEqual(
      h.hooks().map((x) => x.offHook),
      [true, false],
    );
    assert.equal(h.line.state, 'disconnecting');
    h.clock.advance(500);
    assert.equal(h.line.state, 'idle');
    h.line.close();
  });

  test('a dead line (no loop current when seized) is reported and released', () => {
    const h = harness();
    h.line.dial('1');
    h.line.input({ type: 'loop-current', present: false });
    h.clock.advance(350);
    assert.deepEqual(h.eventTypes(), ['fault:dead-line', 'outgoing-failed:dead-line', 'released']);
    h.line.close();
  });

  test('glare: a ring while seizing wins; the outgoing attempt fails over and the call is offered', () => {
    const h = harness();
    h.line.dial('95001');
    h.clock.advance(100);
    h.line.input({ type: 'ring', on: true });
    assert.equal(h.line.state, 'ringing');
    assert.deepEqual(h.eventTypes(), ['outgoing-failed:glare']);
    assert.deepEqual(
      h.hooks().map((x) => x.offHook),
      [true, false],
    );
    h.clock.advance(2000);
    h.line.input({ type: 'ring', on: false });
    h.clock.advance(4000);
    h.line.input({ type: 'ring', on: true });
    assert.deepEqual(h.eventTypes(), ['outgoing-failed:glare', 'incoming']);
    assert.ok(h.line.answer().ok);
    h.line.close();
  });

  const failures = [
    {
      name: 'busy tone (95002)',
      audio: () => cadencedTone([480, 620], 500, 500, 3000, -24),
      expect: 'outgoing-failed:busy',
    },
    {
      name: 'reorder tone',
      audio: () => cadencedTone([480, 620], 250, 250, 3000, -24),
      expect: 'outgoing-failed:congestion',
    },
  ];
  for (const f of failures) {
    test(`MUST end an outgoing attempt that meets ${f.name} before answer`, () => {
      const h = harness({ waitForDialTone: false, dialPauseMs: 100 });
      h.line.dial('95002');
      h.quiet(1200);
      h.feed(f.audio());
      assert.deepEqual(h.eventTypes(), [f.expect, 'released']);
      h.line.close();
    });
  }

  test('an outgoing call unanswered for the no-answer time is given up (95003)', () => {
    const h = harness({ waitForDialTone: false, dialPauseMs: 100, noAnswerMs: 60_000 });
    h.line.dial('95003');
    h.clock.advance(60_000 + 1100);
    assert.deepEqual(h.eventTypes(), ['outgoing-failed:no-answer', 'released']);
    h.line.close();
  });

  test('MUST refuse to seize during the 500 ms guard after release: the seizure waits for the guard', () => {
    const h = harness({ waitForDialTone: false, dialPauseMs: 100 });
    h.line.dial('1');
    h.clock.advance(500);
    assert.ok(h.line.hangup().ok);
    const releasedAt = h.clock.now();
    assert.equal(h.line.available, true);
    assert.ok(h.line.dial('2').ok);
    assert.equal(h.line.available, false);
    assert.equal(h.line.dial('3').ok, false, 'only one deferred seizure');
    h.clock.advance(499);
    assert.deepEqual(
      h.hooks().map((x) => x.offHook),
      [true, false],
    );
    h.clock.advance(1);
    assert.deepEqual(h.hooks().at(-1), { atMs: releasedAt + 500, offHook: true });
    assert.equal(h.line.state, 'seized');
    h.line.close();
  });

  test('commands in the wrong state are refused with a code, not a crash', () => {
    const h = harness();
    assert.equal(h.line.answer().ok, false);
    assert.equal(h.line.dial('12x').ok, false);
    assert.equal(h.line.dial('1').ok, true);
    assert.equal(h.line.dial('2').ok, false);
    h.line.input({ type: 'ring', on: true });
    h.line.input({ type: 'ring', on: false });
    assert.equal(h.line.hangup().ok, false, 'an alerting loop-start line cannot be rejected');
    h.line.close();
  });
});

describe('FXO disconnect supervision and stuck lines', () => {
  function connected(options: Partial<FxoLineOptions> = {}) {
    const h = harness({ waitForDialTone: false, dialPauseMs: 100, ...options });
    h.line.dial('95000');
    h.clock.advance(1500);
    h.line.input({ type: 'polarity-reversal' });
    assert.equal(h.line.state, 'connected');
    h.log.length = 0;
    return h;
  }

  test('a second polarity reversal is the far end clearing', () => {
    const h = connected();
    h.line.input({ type: 'polarity-reversal' });
    assert.deepEqual(h.eventTypes(), ['far-end-disconnect:polarity-reversal', 'released']);
    assert.deepEqual(
      h.hooks().map((x) => x.offHook),
      [false],
    );
    h.line.close();
  });

  test('MUST ignore loop current interruptions shorter than 350 ms and clear on longer ones', () => {
    const h = connected();
    h.line.input({ type: 'loop-current', present: false });
    h.clock.advance(300);
    h.line.input({ type: 'loop-current', present: true });
    h.clock.advance(1000);
    assert.equal(h.line.state, 'connected');
    h.line.input({ type: 'loop-current', present: false });
    h.clock.advance(349);
    assert.equal(h.line.state, 'connected');
    h.clock.advance(1);
    assert.deepEqual(h.eventTypes(), ['far-end-disconnect:loop-current-drop', 'released']);
    h.line.close();
  });

  for (const plan of [CHINA_TONE_PLAN, ETSI_TONE_PLAN, NANP_TONE_PLAN]) {
    test(`MUST release within 2 s when the far end leaves only ${plan.id} busy tone`, () => {
      const h = connected({ tonePlan: plan });
      const busy = plan.tones.busy;
      h.feed(speechLike(1000, 3));
      const toneStart = h.clock.now();
      h.feed(
        cadencedTone(
          [...busy.frequenciesHz],
          busy.cadenceMs[0] ?? 0,
          busy.cadenceMs[1] ?? 0,
          3000,
          busy.levelDbm0,
        ),
      );
      assert.deepEqual(h.eventTypes(), ['far-end-disconnect:busy-tone', 'released']);
      const releasedAt = h.at('released') ?? Infinity;
      assert.ok(releasedAt - toneStart <= 2000, `released ${releasedAt - toneStart} ms after the tone began`);
      h.line.close();
    });
  }

  test("a learned busy tone replaces the plan's", () => {
    const profile = {
      name: 'pbx-busy',
      kind: 'busy' as const,
      frequenciesHz: [600],
      onMs: 240,
      offMs: 760,
      toleranceRatio: 0.2,
      frequencyToleranceHz: 15,
      cycles: 2,
      minLevelDbm0: -40,
    };
    const h = connected({ tonePlan: CHINA_TONE_PLAN, busyProfiles: [profile] });
    h.feed(cadencedTone([450], 350, 350, 3000));
    assert.equal(h.line.state, 'connected', 'the plan tone no longer counts');
    h.feed(cadencedTone([600], 240, 760, 3000));
    assert.deepEqual(h.eventTypes(), ['far-end-disconnect:busy-tone', 'released']);
    h.line.close();
  });

  test('speech on a connected line is not a disconnect', () => {
    const h = connected({ tonePlan: CHINA_TONE_PLAN });
    h.feed(speechLike(10_000, 21));
    assert.equal(h.line.state, 'connected');
    h.line.close();
  });

  test('MUST release a seized line with no activity for the stuck-line time, with a fault', () => {
    const h = connected({ stuckLineMs: 10_000 });
    h.feed(speechLike(3000, 1));
    h.quiet(9000);
    assert.equal(h.line.state, 'connected', 'quiet for less than 10 s since the last speech');
    h.quiet(1200);
    assert.deepEqual(h.eventTypes(), ['fault:stuck-line', 'released']);
    h.line.close();
  });

  test('dump is plain JSON and names the armed timers', () => {
    const h = connected();
    const dump = h.line.dump();
    assert.deepEqual(JSON.parse(JSON.stringify(dump)), dump);
    assert.deepEqual(dump.timers, ['inactivity']);
    assert.equal(dump.state, 'connected');
    h.line.close();
  });
});
