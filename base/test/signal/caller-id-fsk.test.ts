import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  encodeFskCallerId,
  FskCallerIdDecoder,
  fskBitStream,
  modulateFsk,
  FSK_STANDARDS,
  type FskEncodeOptions,
  type FskStandard,
} from '../../signal/caller-id-fsk.ts';
import {
  CallerIdErrors,
  checksum,
  encodeCallerIdMessage,
  parseCallerIdMessage,
  type CallerIdFormat,
  type CallerIdInfo,
} from '../../signal/caller-id.ts';
import type { Result } from '../../result.ts';
import { toFrames } from '../../signal/line-audio.ts';
import { addNoise, concat, silence, speechLike } from './line-signals.ts';

const date = { month: 3, day: 14, hour: 9, minute: 26 };

function decodeAll(audio: Int16Array): Result<CallerIdInfo>[] {
  const decoder = new FskCallerIdDecoder();
  const out: Result<CallerIdInfo>[] = [];
  for (const frame of toFrames(concat(audio, silence(100)))) {
    const r = decoder.push(frame);
    if (r) out.push(r);
  }
  decoder.close();
  return out;
}

function expectedFor(info: CallerIdInfo, format: CallerIdFormat): CallerIdInfo {
  if (format === 'mdmf') return info;
  const out: CallerIdInfo = { date: info.date ?? { month: 1, day: 1, hour: 0, minute: 0 } };
  if (info.number !== undefined) out.number = info.number;
  else out.reason = info.reason ?? 'out-of-area';
  return out;
}

describe('caller ID messages (GR-30-CORE §3, EN 300 659-3 §5)', () => {
  test('checksum is the twos complement of the modulo-256 sum: message bytes sum to 0', () => {
    const cases: CallerIdInfo[] = [
      { number: '1234' },
      { number: '5551234567', name: 'A B', date },
      { reason: 'private' },
    ];
    for (const info of cases) {
      for (const format of ['sdmf', 'mdmf'] as const) {
        const bytes = encodeCallerIdMessage(info, format);
        assert.equal(
          bytes.reduce((s, b) => (s + b) & 0xff, 0),
          0,
        );
        assert.equal(checksum(bytes.subarray(0, bytes.length - 1)), bytes[bytes.length - 1]);
      }
    }
  });

  test('reasons for absence round-trip: SDMF "P"/"O" in the number field, MDMF parameters 0x04 and 0x08', () => {
    const table: { info: CallerIdInfo; format: CallerIdFormat }[] = [
      { info: { reason: 'private', date }, format: 'sdmf' },
      { info: { reason: 'out-of-area', date }, format: 'sdmf' },
      { info: { reason: 'private', nameReason: 'private' }, format: 'mdmf' },
      { info: { number: '0755123', nameReason: 'out-of-area' }, format: 'mdmf' },
    ];
    for (const { info, format } of table) {
      assert.deepEqual(parseCallerIdMessage(encodeCallerIdMessage(info, format)), { ok: true, value: info });
    }
  });

  test('bad messages are rejected with a code, never returned in part', () => {
    const good = encodeCallerIdMessage({ number: '5551234', name: 'X', date }, 'mdmf');
    const flipped = Uint8Array.from(good);
    flipped[5] = (flipped[5] ?? 0) ^ 0x01;
    const badDate = encodeCallerIdMessage({ number: '1' }, 'sdmf');
    const table: { name: string; bytes: Uint8Array; code: string }[] = [
      { name: 'one bit flipped', bytes: flipped, code: CallerIdErrors.CHECKSUM },
      { name: 'last byte missing', bytes: good.subarray(0, good.length - 1), code: CallerIdErrors.TRUNCATED },
      { name: 'header only', bytes: good.subarray(0, 2), code: CallerIdErrors.TRUNCATED },
      {
        name: 'unknown message type',
        bytes: fixChecksum(Uint8Array.from([0x82, 1, 0x0b, 0])),
        code: CallerIdErrors.UNSUPPORTED,
      },
      {
        name: 'parameter overruns the message',
        bytes: fixChecksum(Uint8Array.from([0x80, 3, 0x02, 9, 0x31, 0])),
        code: CallerIdErrors.MALFORMED,
      },
      {
        name: 'SDMF date month 00',
        bytes: fixChecksum(Uint8Array.from([...badDate.subarray(0, 2), 0x30, 0x30, ...badDate.subarray(4)])),
        code: CallerIdErrors.MALFORMED,
      },
    ];
    for (const c of table) {
      const r = parseCallerIdMessage(c.bytes);
      assert.equal(r.ok, false, c.name);
      if (!r.ok) assert.equal(r.error.code, c.code, c.name);
    }
  });
});

function fixChecksum(bytes: Uint8Array): Uint8Array {
  bytes[bytes.length - 1] = checksum(bytes.subarray(0, bytes.length - 1));
  return bytes;
}

describe('FSK caller ID round trip (Bell 202, V.23)', () => {
  const infos: CallerIdInfo[] = [
    { number: '5551234567', name: 'JOHN DOE', date },
    { number: '+8675512345678', date },
    { reason: 'private', nameReason: 'private', date },
    { reason: 'out-of-area', date },
  ];
  type Impair = { name: string; apply: (a: Int16Array) => Int16Array; opts?: Partial<FskEncodeOptions> };
  const impairments: Impair[] = [
    { name: 'clean', apply: (a) => a },
    { name: 'white noise at 20 dB SNR', apply: (a) => addNoise(a, 20, 11) },
    {
      name: 'level stepping down 15 dB mid-message',
      apply: (a) => {
        const out = Int16Array.from(a);
        for (let i = Math.floor(out.length * 0.8); i < out.length; i++)
          out[i] = Math.round((out[i] ?? 0) * 10 ** (-15 / 20));
        return out;
      },
    },
    { name: 'at −40 dBm0', apply: (a) => a, opts: { levelDbm0: -40 } },
    { name: 'at 0 dBm0', apply: (a) => a, opts: { levelDbm0: 0 } },
    { name: 'bit rate 1 % slow', apply: (a) => a, opts: { baud: 1188 } },
    { name: 'bit rate 1 % fast', apply: (a) => a, opts: { baud: 1212 } },
    {
      name: 'no channel seizure, short mark (line reversal first)',
      apply: (a) => a,
      opts: { seizureBits: 0, markBits: 55 },
    },
  ];
  for (const standard of ['bell202', 'v23'] as FskStandard[]) {
    for (const format of ['sdmf', 'mdmf'] as CallerIdFormat[]) {
      for (const imp of impairments) {
        test(`MUST decode ${standard} ${format.toUpperCase()} ${imp.name}`, () => {
          for (const info of infos) {
            const audio = imp.apply(encodeFskCallerId(info, { standard, format, ...imp.opts }));
            const got = decodeAll(audio);
            assert.deepEqual(got, [{ ok: true, value: expectedFor(info, format) }], JSON.stringify(info));
          }
        });
      }
    }
  }

  test('MUST decode at every sample offset within a frame (the message is not frame-aligned)', () => {
    const info = { number: '0123456789', name: 'OFFSET', date };
    const audio = encodeFskCallerId(info, { standard: 'v23', format: 'mdmf' });
    for (let offset = 0; offset < 160; offset += 7) {
      const got = decodeAll(concat(silence(0), new Int16Array(offset), audio));
      assert.deepEqual(got, [{ ok: true, value: info }], `offset ${offset}`);
    }
  });

  test('MUST decode after speech-like audio and ignore the audio itself', () => {
    const info = { number: '2125551212', date };
    const audio = concat(
      speechLike(1500, 3),
      silence(200),
      encodeFskCallerId(info, { standard: 'bell202', format: 'sdmf' }),
    );
    assert.deepEqual(decodeAll(audio), [{ ok: true, value: info }]);
  });

  test('speech-like audio and noise alone produce no caller ID', () => {
    assert.deepEqual(decodeAll(speechLike(3000, 5)), []);
    assert.deepEqual(decodeAll(addNoise(new Int16Array(16000).fill(1), 0, 3)), []);
  });
});

describe('FSK caller ID rejection', () => {
  const info = { number: '5551234567', name: 'JOHN DOE', date };
  for (const standard of ['bell202', 'v23'] as FskStandard[]) {
    test(`MUST reject a ${standard} message whose checksum is corrupted`, () => {
      const bytes = encodeCallerIdMessage(info, 'mdmf');
      bytes[bytes.length - 1] = ((bytes[bytes.length - 1] ?? 0) + 1) & 0xff;
      const audio = modulateFsk(fskBitStream(bytes, 300, 180), FSK_STANDARDS[standard], -13);
      const got = decodeAll(audio);
      assert.equal(got.length, 1);
      assert.equal(got[0]?.ok, false);
      if (got[0] && !got[0].ok) assert.equal(got[0].error.code, CallerIdErrors.CHECKSUM);
    });

    test(`MUST reject a ${standard} message cut off by loss of carrier (truncated)`, () => {
      const audio = encodeFskCallerId(info, { standard, format: 'mdmf' });
      const cut = audio.subarray(0, audio.length - Math.round(12 * (8000 / 1200)) * 5);
      const got = decodeAll(cut);
      assert.equal(got.length, 1);
      assert.equal(got[0]?.ok, false);
      if (got[0] && !got[0].ok) assert.equal(got[0].error.code, CallerIdErrors.TRUNCATED);
    });

    test(`MUST reject a ${standard} message with a data bit flipped in the air`, () => {
      const bytes = encodeCallerIdMessage(info, 'mdmf');
      const bits = fskBitStream(bytes, 300, 180);
      // Flip the first data bit of the sixth character of the message.
      bits[300 + 180 + 5 * 10 + 1] = (bits[300 + 180 + 5 * 10 + 1] ?? 0) ^ 1;
      const got = decodeAll(modulateFsk(bits, FSK_STANDARDS[standard], -13));
      assert.equal(got.length, 1);
      assert.equal(got[0]?.ok, false);
    });
  }
});
