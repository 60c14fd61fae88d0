import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeWavToFrames,
  parseRecordingHeader,
  parseWavHeader,
  wavSizeFixups,
  writeWavHeader,
  WAV_HEADER_BYTES,
} from '../../signal/wav.ts';
import { linearToAlaw, linearToUlaw, alawToLinear, ulawToLinear } from '../../signal/g711.ts';

interface FmtFields {
  tag: number;
  channels: number;
  rate: number;
  byteRate?: number;
  blockAlign?: number;
  bits: number;
}

function chunk(id: string, body: Uint8Array, declaredSize = body.length): Uint8Array {
  const pad = body.length & 1;
  const out = new Uint8Array(8 + body.length + pad);
  out.set(Buffer.from(id, 'latin1'), 0);
  new DataView(out.buffer).setUint32(4, declaredSize, true);
  out.set(body, 8);
  return out;
}

function fmtBody(f: FmtFields): Uint8Array {
  const b = new Uint8Array(16);
  const v = new DataView(b.buffer);
  const blockAlign = f.blockAlign ?? (f.channels * f.bits) / 8;
  v.setUint16(0, f.tag, true);
  v.setUint16(2, f.channels, true);
  v.setUint32(4, f.rate, true);
  v.setUint32(8, f.byteRate ?? f.rate * blockAlign, true);
  v.setUint16(12, blockAlign, true);
  v.setUint16(14, f.bits, true);
  return b;
}

function riff(chunks: Uint8Array[], declaredSize?: number): Uint8Array {
  const body = Buffer.concat([Buffer.from('WAVE', 'latin1'), ...chunks]);
  const out = new Uint8Array(8 + body.length);
  out.set(Buffer.from('RIFF', 'latin1'), 0);
  new DataView(out.buffer).setUint32(4, declaredSize ?? body.length, true);
  out.set(body, 8);
  return out;
}

function pcm16(samples: number[]): Uint8Array {
  const b = new Uint8Array(samples.length * 2);
  const v = new DataView(b.buffer);
  samples.forEach((s, i) => v.setInt16(i * 2, s, true));
  return b;
}

const PCM8K: FmtFields = { tag: 1, channels: 1, rate: 8000, bits: 16 };

describe('WAV header parsing', () => {
  test('accepts PCM 16-bit 8 kHz mono and reports the data location', () => {
    const file = riff([chunk('fmt ', fmtBody(PCM8K)), chunk('data', pcm16([1, 2, 3]))]);
    const r = parseWavHeader(file);
    assert.ok(r.ok);
    assert.deepEqual(
      { enc: r.value.encoding, rate: r.value.sampleRateHz, at: r.value.dataOffset, n: r.value.samples },
      { enc: 'pcm16', rate: 8000, at: 44, n: 3 },
    );
  });

  test('skips LIST and odd-sized chunks (with their pad byte) before data', () => {
    const list = chunk('LIST', Buffer.from('INFOISFT\x05\x00\x00\x00edge\x00', 'latin1'));
    const odd = chunk('junk', new Uint8Array([1, 2, 3]));
    const file = riff([chunk('fmt ', fmtBody(PCM8K)), list, odd, chunk('data', pcm16([7, -7]))]);
    const r = decodeWavToFrames(file);
    assert.ok(r.ok);
    assert.deepEqual(Array.from(r.value.frames[0]?.subarray(0, 3) ?? []), [7, -7, 0]);
  });

  test('reads WAVE_FORMAT_EXTENSIBLE with a PCM sub-format', () => {
    const body = new Uint8Array(40);
    body.set(fmtBody(PCM8K));
    const v = new DataView(body.buffer);
    v.setUint16(0, 0xfffe, true);
    v.setUint16(16, 22, true);
    v.setUint16(24, 1, true);
    const r = parseWavHeader(riff([chunk('fmt ', body), chunk('data', pcm16([1]))]));
    assert.ok(r.ok);
    assert.equal(r.value.encoding, 'pcm16');
  });

  const bad: { name: string; file: Uint8Array; field: string }[] = [
    { name: 'too short for a RIFF header', file: new Uint8Array(10), field: 'RIFF' },
    { name: 'not RIFF', file: Buffer.from('RIFX\x04\x00\x00\x00WAVE', 'latin1'), field: 'RIFF' },
    {
      name: 'form type not WAVE',
      file: Buffer.from('RIFF\x04\x00\x00\x00AVI ', 'latin1'),
      field: 'RIFF.formType',
    },
    {
      name: 'RIFF size larger than the file (truncated file)',
      file: riff([chunk('fmt ', fmtBody(PCM8K)), chunk('data', pcm16([1, 2]))], 9999),
      field: 'RIFF.size',
    },
    {
      name: 'data size lies past the end',
      file: riff([chunk('fmt ', fmtBody(PCM8K)), chunk('data', pcm16([1, 2]), 400)]),
      field: 'data.size',
    },
    {
      name: 'LIST size lies past the end',
      file: riff([chunk('fmt ', fmtBody(PCM8K)), chunk('LIST', new Uint8Array(4), 1000)]),
      field: 'LIST.size',
    },
    {
      name: 'fmt chunk shorter than WAVEFORMAT',
      file: riff([chunk('fmt ', new Uint8Array(10))]),
      field: 'fmt.size',
    },
    { name: 'data before fmt', file: riff([chunk('data', pcm16([1]))]), field: 'fmt' },
    { name: 'no data chunk', file: riff([chunk('fmt ', fmtBody(PCM8K))]), field: 'data' },
    {
      name: 'IEEE float format tag 3',
      file: riff([
        chunk('fmt ', fmtBody({ tag: 3, channels: 1, rate: 8000, bits: 32 })),
        chunk('data', new Uint8Array(4)),
      ]),
      field: 'fmt.formatTag',
    },
    {
      name: 'stereo prompt',
      file: riff([chunk('fmt ', fmtBody({ ...PCM8K, channels: 2 })), chunk('data', pcm16([1, 2]))]),
      field: 'fmt.channels',
    },
    {
      name: '44.1 kHz PCM',
      file: riff([chunk('fmt ', fmtBody({ ...PCM8K, rate: 44100 })), chunk('data', pcm16([1]))]),
      field: 'fmt.sampleRate',
    },
    {
      name: 'A-law at 16 kHz',
      file: riff([
        chunk('fmt ', fmtBody({ tag: 6, channels: 1, rate: 16000, bits: 8 })),
        chunk('data', new Uint8Array(2)),
      ]),
      field: 'fmt.sampleRate',
    },
    {
      name: '8-bit PCM',
      file: riff([chunk('fmt ', fmtBody({ ...PCM8K, bits: 8 })), chunk('data', new Uint8Array(2))]),
      field: 'fmt.bitsPerSample',
    },
    {
      name: 'byte rate that lies',
      file: riff([chunk('fmt ', fmtBody({ ...PCM8K, byteRate: 8000 })), chunk('data', pcm16([1]))]),
      field: 'fmt.byteRate',
    },
    {
      name: 'block align that lies',
      file: riff([chunk('fmt ', fmtBody({ ...PCM8K, blockAlign: 4 })), chunk('data', pcm16([1]))]),
      field: 'fmt.blockAlign',
    },
    {
      name: 'PCM data of an odd number of bytes',
      file: riff([chunk('fmt ', fmtBody(PCM8K)), chunk('data', new Uint8Array(3))]),
      field: 'data.size',
    },
  ];
  for (const c of bad) {
    test(`rejects ${c.name}, naming ${c.field}`, () => {
      const r = parseWavHeader(c.file);
      assert.equal(r.ok, false);
      if (!r.ok) assert.equal(r.error.field, c.field, r.error.message);
    });
  }
});

describe('WAV decoding to 20 ms frames at 8 kHz', () => {
  test('µ-law and A-law decode through the G.711 tables, padded to whole frames', () => {
    const linear = Array.from({ length: 200 }, (_, i) => Math.round(8000 * Math.sin(i / 5)));
    for (const [tag, enc, dec] of [
      [7, linearToUlaw, ulawToLinear],
      [6, linearToAlaw, alawToLinear],
    ] as const) {
      const codes = Uint8Array.from(linear, (s) => enc(s));
      const file = riff([
        chunk('fmt ', fmtBody({ tag, channels: 1, rate: 8000, bits: 8 })),
        chunk('data', codes),
      ]);
      const r = decodeWavToFrames(file);
      assert.ok(r.ok);
      assert.equal(r.value.frames.length, 2);
      const got = [...(r.value.frames[0] ?? []), ...(r.value.frames[1] ?? [])];
      assert.deepEqual(
        got.slice(0, 200),
        Array.from(codes, (c) => dec(c)),
      );
      assert.ok(
        got.slice(200).every((s) => s === 0),
        'padding is silence',
      );
    }
  });

  test('16 kHz PCM becomes half as many 8 kHz samples', () => {
    const samples = Array.from({ length: 3200 }, (_, i) =>
      Math.round(5000 * Math.sin((2 * Math.PI * 1000 * i) / 16000)),
    );
    const file = riff([chunk('fmt ', fmtBody({ ...PCM8K, rate: 16000 })), chunk('data', pcm16(samples))]);
    const r = decodeWavToFrames(file);
    assert.ok(r.ok);
    assert.equal(r.value.info.durationMs, 200);
    assert.equal(r.value.frames.length, 10);
    assert.ok(r.value.frames.every((f) => f.length === 160));
  });
});

describe('WAV header writing', () => {
  test('writes a canonical stereo 16-bit PCM header that parses back', () => {
    const header = writeWavHeader({ channels: 2, sampleRateHz: 8000, dataBytes: 640 });
    assert.equal(header.length, WAV_HEADER_BYTES);
    const file = new Uint8Array(44 + 640);
    file.set(header);
    const parsed = parseRecordingHeader(file);
    assert.ok(parsed.ok);
    assert.deepEqual(parsed.value, { channels: 2, sampleRateHz: 8000 });
    const v = new DataView(file.buffer);
    assert.deepEqual(
      [v.getUint32(4, true), v.getUint32(28, true), v.getUint16(32, true), v.getUint32(40, true)],
      [676, 32000, 4, 640],
    );
  });

  test('size fix-ups patch RIFF size (36 + data) and data size', () => {
    const header = writeWavHeader({ channels: 2, sampleRateHz: 8000, dataBytes: 0 });
    for (const f of wavSizeFixups(1280)) header.set(f.bytes, f.offset);
    assert.deepEqual(header, writeWavHeader({ channels: 2, sampleRateHz: 8000, dataBytes: 1280 }));
  });
});
