import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DtmfCallerIdCollector,
  DtmfCallerIdDecoder,
  encodeDtmfCallerId,
  parseDtmfCallerId,
  type DtmfCallerIdVariant,
} from '../../signal/caller-id-dtmf.ts';
import { CallerIdErrors, type CallerIdInfo } from '../../signal/caller-id.ts';
import { toFrames } from '../../signal/line-audio.ts';
import { addNoise, concat, dtmfAudio, silence } from './line-signals.ts';

const variants: { variant: DtmfCallerIdVariant; info: CallerIdInfo; digits: string }[] = [
  { variant: 'A-C', info: { number: '0201234567' }, digits: 'A0201234567C' },
  { variant: 'A-#', info: { number: '33123456' }, digits: 'A33123456#' },
  { variant: 'D-C', info: { number: '075512345678' }, digits: 'D075512345678C' },
  { variant: 'A-C', info: { reason: 'private' }, digits: 'B10C' },
  { variant: 'A-C', info: { reason: 'out-of-area' }, digits: 'B00C' },
  { variant: 'D-C', info: { reason: 'private' }, digits: 'B10C' },
  { variant: 'A-#', info: { reason: 'private' }, digits: 'D1#' },
  { variant: 'A-#', info: { reason: 'out-of-area' }, digits: 'D2#' },
];

describe('DTMF caller ID formats', () => {
  for (const c of variants) {
    test(`MUST encode ${JSON.stringify(c.info)} as ${c.digits} in the ${c.variant} variant and decode it back`, () => {
      assert.equal(encodeDtmfCallerId(c.info, c.variant), c.digits);
      assert.deepEqual(parseDtmfCallerId(c.digits), { ok: true, value: c.info });
    });
  }

  test('Danish D3# (technical reasons) reads as unavailable', () => {
    assert.deepEqual(parseDtmfCallerId('D3#'), { ok: true, value: { reason: 'out-of-area' } });
  });

  test('digits before the start code are ignored', () => {
    assert.deepEqual(parseDtmfCallerId('5#A123C'), { ok: true, value: { number: '123' } });
  });

  const bad: { digits: string; code: string }[] = [
    { digits: 'A12345', code: CallerIdErrors.TRUNCATED },
    { digits: 'AC', code: CallerIdErrors.MALFORMED },
    { digits: 'B99C', code: CallerIdErrors.MALFORMED },
    { digits: 'A' + '1'.repeat(30) + 'C', code: CallerIdErrors.MALFORMED },
    { digits: '12345', code: CallerIdErrors.MALFORMED },
  ];
  for (const c of bad) {
    test(`MUST reject ${c.digits.length > 12 ? c.digits.slice(0, 12) + '…' : c.digits} (${c.code})`, () => {
      const r = parseDtmfCallerId(c.digits);
      assert.equal(r.ok, false);
      if (!r.ok) assert.equal(r.error.code, c.code);
    });
  }

  test('a new start code inside a spill reports the cut-off one and decodes the new one', () => {
    const c = new DtmfCallerIdCollector();
    const outcomes = [...'A12A345C'].map((d) => c.push(d)).filter((r) => r !== undefined);
    assert.equal(outcomes.length, 2);
    assert.equal(outcomes[0]?.ok, false);
    assert.deepEqual(outcomes[1], { ok: true, value: { number: '345' } });
  });
});

describe('DTMF caller ID from line audio (media DTMF detector)', () => {
  const audioCases: {
    name: string;
    digits: string;
    audio: (d: string) => Int16Array;
    expect: CallerIdInfo;
  }[] = [
    {
      name: 'clean, 70/70 ms',
      digits: 'A0201234567C',
      audio: (d) => dtmfAudio(d),
      expect: { number: '0201234567' },
    },
    {
      name: 'fast 50/50 ms',
      digits: 'D075512345678C',
      audio: (d) => dtmfAudio(d, 50, 50),
      expect: { number: '075512345678' },
    },
    {
      name: 'at −25 dBm0 with 20 dB SNR',
      digits: 'A33123456#',
      audio: (d) => addNoise(dtmfAudio(d, 70, 70, -25), 20, 6),
      expect: { number: '33123456' },
    },
    { name: 'private', digits: 'B10C', audio: (d) => dtmfAudio(d), expect: { reason: 'private' } },
  ];
  for (const c of audioCases) {
    test(`MUST decode ${c.digits} from audio: ${c.name}`, () => {
      const decoder = new DtmfCallerIdDecoder();
      const outcomes = toFrames(concat(silence(100), c.audio(c.digits), silence(200)))
        .map((f) => decoder.push(f))
        .filter((r) => r !== undefined);
      assert.deepEqual(outcomes, [{ ok: true, value: c.expect }], JSON.stringify(decoder.dump()));
      decoder.close();
    });
  }

  test('MUST report a spill cut off when the window closes', () => {
    const decoder = new DtmfCallerIdDecoder();
    for (const f of toFrames(dtmfAudio('A0201'))) assert.equal(decoder.push(f), undefined);
    const r = decoder.end();
    assert.equal(r?.ok, false);
    if (r && !r.ok) assert.equal(r.error.code, CallerIdErrors.TRUNCATED);
    decoder.close();
  });
});
