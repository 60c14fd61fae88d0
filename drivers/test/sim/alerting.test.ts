import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DtmfCallerIdDecoder } from '../../../base/signal/caller-id-dtmf.ts';
import { FskCallerIdDecoder } from '../../../base/signal/caller-id-fsk.ts';
import type { CallerIdInfo } from '../../../base/signal/caller-id.ts';
import type { Result } from '../../../base/result.ts';
import type { CidMode, CidTiming } from '../../sim/co-types.ts';
import { eventsOf, harness, heard, levelDbm0, onRuns } from './harness.ts';

describe('ringing cadence', () => {
  const cases: Array<{ name: string; cadence?: [number, number]; on: number; off: number }> = [
    { name: 'China 1 s on / 4 s off (default)', on: 1000, off: 4000 },
    { name: 'North America 2 s on / 4 s off (configured)', cadence: [2000, 4000], on: 2000, off: 4000 },
  ];
  for (const c of cases) {
    test(`rings the line with the country cadence: ${c.name}`, () => {
      const h = harness({ office: c.cadence ? { timing: { ringCadenceMs: c.cadence } } : {} });
      const tap = h.tap('fxo-1');
      const r = h.office.originate({ line: 1, callerId: { number: '13800138000' } });
      assert.ok(r.ok);
      h.advance(3 * (c.on + c.off) + 100);
      const ons = eventsOf(tap, 'ring-on').map((e) => e.atMs);
      const offs = eventsOf(tap, 'ring-off').map((e) => e.atMs);
      const cycle = c.on + c.off;
      assert.deepEqual(ons, [0, cycle, 2 * cycle, 3 * cycle]);
      assert.deepEqual(offs, [c.on, cycle + c.on, 2 * cycle + c.on]);
      h.close();
    });
  }
});

type Decoded = { info: CallerIdInfo | null; firstAudioMs: number | null; lastAudioMs: number | null };

function decode(mode: CidMode, frames: { atMs: number; frame: Int16Array }[]): Decoded {
  const fsk = new FskCallerIdDecoder();
  const dtmf = new DtmfCallerIdDecoder();
  let info: CallerIdInfo | null = null;
  let first: number | null = null;
  let last: number | null = null;
  for (const { atMs, frame } of frames) {
    if (levelDbm0(frame) > -40) {
      first ??= atMs;
      last = atMs;
    }
    const r: Result<CallerIdInfo> | undefined = mode === 'dtmf' ? dtmf.push(frame) : fsk.push(frame);
    if (r?.ok) info = r.value;
  }
  return { info, firstAudioMs: first, lastAudioMs: last };
}

describe('caller ID', () => {
  const modes: CidMode[] = ['fsk-bell202', 'fsk-v23', 'dtmf'];
  const timings: CidTiming[] = ['before-ring', 'after-first-ring'];
  for (const mode of modes) {
    for (const timing of timings) {
      test(`sends ${mode} caller ID ${timing} and the gateway's decoder reads it`, () => {
        const h = harness();
        const tap = h.tap('fxo-1');
        const r = h.office.originate({
          line: 1,
          callerId: { number: '13800138000', name: 'ZHANG WEI' },
          cidMode: mode,
          cidTiming: timing,
        });
        assert.ok(r.ok);
        h.advance(8000);
        const d = decode(mode, tap.frames);
        assert.equal(d.info?.number, '13800138000');
        if (mode !== 'dtmf') assert.equal(d.info?.name, 'ZHANG WEI');
        assert.ok(d.firstAudioMs !== null && d.lastAudioMs !== null);
        const ons = eventsOf(tap, 'ring-on').map((e) => e.atMs);
        const offs = eventsOf(tap, 'ring-off').map((e) => e.atMs);
        const reversals = eventsOf(tap, 'polarity-reversal').map((e) => e.atMs);
        if (timing === 'before-ring') {
          // EN 300 659-1: line reversal, then the data, then the first ring.
          assert.equal(reversals.length, 2);
          assert.ok((reversals[0] ?? Infinity) < d.firstAudioMs);
          assert.ok(d.lastAudioMs < (ons[0] ?? 0) - 200, 'data ends ≥ 200 ms before the first ring');
        } else {
          // GR-30-CORE: between the first and second ring, ≥ 500 ms after the first.
          assert.equal(reversals.length, 0);
          assert.equal(ons[0], 0);
          assert.ok(d.firstAudioMs >= (offs[0] ?? Infinity) + 500);
          assert.ok(d.lastAudioMs < (ons[1] ?? 0));
        }
        h.close();
      });
    }
  }

  test('a withheld number is sent as the reason for its absence', () => {
    const h = harness();
    const tap = h.tap('fxo-1');
    assert.ok(h.office.originate({ line: 1, callerId: { withheld: 'private' } }).ok);
    h.advance(3000);
    const d = decode('fsk-bell202', tap.frames);
    assert.equal(d.info?.reason, 'private');
    assert.equal(d.info?.number, undefined);
    h.close();
  });

  test('the line keeps its configured caller ID mode when the call does not name one', () => {
    const h = harness({ lines: { 2: { cidMode: 'dtmf', cidTiming: 'before-ring' } } });
    const tap = h.tap('fxo-2');
    assert.ok(h.office.originate({ line: 2, callerId: { number: '5551234' } }).ok);
    h.advance(4000);
    assert.equal(decode('dtmf', tap.frames).info?.number, '5551234');
    h.close();
  });
});

describe('answering an incoming call', () => {
  test('MUST trip the ring at once and connect the caller when the line goes off hook', () => {
    const h = harness();
    const tap = h.tap('fxo-1');
    const r = h.office.originate({ line: 1, callerId: { number: '13800138000' } });
    assert.ok(r.ok);
    const caller = r.value;
    h.advance(500);
    assert.ok(tap.channel.answer().ok);
    h.advance(20);
    assert.equal(eventsOf(tap, 'ring-off').at(-1)?.atMs, 500);
    assert.equal(caller.state, 'answered');
    assert.deepEqual(eventsOf(tap, 'loop-current').at(-1)?.present, true);
    // The caller is heard on the line.
    assert.ok(caller.playTone([1000], -10, 400).ok);
    h.advance(400);
    const lvl = levelDbm0(heard(tap, 560, 900));
    assert.ok(Math.abs(lvl - -10) < 0.5, `level ${lvl}`);
    assert.ok(onRuns(tap, 520, 1000).length === 1);
    h.close();
  });
});
