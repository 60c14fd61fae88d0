import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  alawToLinear,
  decodeG711,
  encodeG711,
  linearToAlaw,
  linearToUlaw,
  silenceCode,
  ulawToLinear,
} from '../../signal/g711.ts';

describe('G.711 µ-law (ITU-T G.711 Tables 2a/2b)', () => {
  const decodeCases: Array<[number, number, string]> = [
    [0xff, 0, 'positive zero'],
    [0x7f, 0, 'negative zero'],
    [0x80, 32124, 'positive peak (8031 on the 14-bit scale)'],
    [0x00, -32124, 'negative peak'],
    [0xfe, 8, 'smallest positive step (2 on the 14-bit scale)'],
    [0x7e, -8, 'smallest negative step'],
    [0xef, 132, 'first code of segment 1'],
    // The 1 kHz digital milliwatt sequence 1E 0B 0B 1E 9E 8B 8B 9E (G.711 Table 5): sin(π/8), sin(3π/8).
    [0x9e, 8828, 'milliwatt sequence, low sample'],
    [0x8b, 20860, 'milliwatt sequence, high sample'],
    [0x1e, -8828, 'milliwatt sequence, negative low sample'],
  ];
  for (const [code, linear, what] of decodeCases) {
    test(`MUST decode 0x${code.toString(16).padStart(2, '0')} to ${linear} (${what})`, () => {
      assert.equal(ulawToLinear(code), linear);
    });
  }

  test('MUST round-trip every code word except negative zero, which encodes as positive zero', () => {
    for (let c = 0; c < 256; c++)
      assert.equal(linearToUlaw(ulawToLinear(c)), c === 0x7f ? 0xff : c, `code 0x${c.toString(16)}`);
  });

  test('MUST clip beyond the largest magnitude (8159 on the 14-bit scale) to the peak codes', () => {
    assert.equal(linearToUlaw(32767), 0x80);
    assert.equal(linearToUlaw(-32768), 0x00);
    assert.equal(linearToUlaw(1e9), 0x80);
  });

  test('MUST be monotonic: a larger sample never gets a smaller decoded value', () => {
    let prev = -Infinity;
    for (let s = -32768; s <= 32767; s += 7) {
      const d = ulawToLinear(linearToUlaw(s));
      assert.ok(d >= prev, `at ${s}`);
      prev = d;
    }
  });

  test('MUST quantise with an error no larger than half a step of the segment', () => {
    for (let s = -32000; s <= 32000; s += 13) {
      const d = ulawToLinear(linearToUlaw(s));
      // Steps double per segment: 8 (16-bit scale) in segment 0 up to 1024 in segment 7.
      assert.ok(Math.abs(d - s) <= Math.max(8, Math.abs(s) / 16 + 8), `at ${s}: ${d}`);
    }
  });
});

describe('G.711 A-law (ITU-T G.711 Tables 1a/1b)', () => {
  const decodeCases: Array<[number, number, string]> = [
    [0xd5, 8, 'smallest positive level'],
    [0x55, -8, 'smallest negative level'],
    [0xaa, 32256, 'positive peak (4032 on the 13-bit scale)'],
    [0x2a, -32256, 'negative peak'],
    [0xd4, 24, 'second step of segment 0'],
    [0xc5, 264, 'first code of segment 1'],
  ];
  for (const [code, linear, what] of decodeCases) {
    test(`MUST decode 0x${code.toString(16).padStart(2, '0')} to ${linear} (${what})`, () => {
      assert.equal(alawToLinear(code), linear);
    });
  }

  test('MUST round-trip all 256 code words', () => {
    for (let c = 0; c < 256; c++) assert.equal(linearToAlaw(alawToLinear(c)), c, `code 0x${c.toString(16)}`);
  });

  test('MUST encode 0 as 0xD5 and clip beyond the peak', () => {
    assert.equal(linearToAlaw(0), 0xd5);
    assert.equal(linearToAlaw(32767), 0xaa);
    assert.equal(linearToAlaw(-32768), 0x2a);
  });
});

describe('G.711 buffers', () => {
  const table: Array<['pcmu' | 'pcma', number]> = [
    ['pcmu', 0xff],
    ['pcma', 0xd5],
  ];
  for (const [law, silence] of table) {
    test(`${law}: encode then decode a buffer, silence is 0x${silence.toString(16)}`, () => {
      const samples = Int16Array.from([0, 1000, -1000, 20000, -20000]);
      const codes = new Uint8Array(5);
      assert.equal(encodeG711(law, samples, codes), 5);
      assert.equal(codes[0], silence);
      assert.equal(silenceCode(law), silence);
      const back = new Int16Array(5);
      assert.equal(decodeG711(law, codes, back), 5);
      for (let i = 0; i < 5; i++) assert.ok(Math.abs((back[i] ?? 0) - (samples[i] ?? 0)) <= 1024);
    });
  }
});
