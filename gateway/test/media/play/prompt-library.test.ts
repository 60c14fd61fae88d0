import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../../src/core/log.ts';
import { linearToAlaw, linearToUlaw } from '../../../../base/signal/g711.ts';
import { BUILTIN_MOH_ID } from '../../../src/media/play/moh-music.ts';
import { PromptLibrary } from '../../../src/media/play/prompt-library.ts';

/** A mono WAV: `tag` 1 (PCM, 16 bit), 6 (A-law) or 7 (µ-law), 8 bit. */
function wav(tag: 1 | 6 | 7, rate: number, samples: Int16Array): Buffer {
  const bytesPer = tag === 1 ? 2 : 1;
  const data = Buffer.alloc(samples.length * bytesPer);
  samples.forEach((v, i) => {
    if (tag === 1) data.writeInt16LE(v, i * 2);
    else data[i] = tag === 6 ? linearToAlaw(v) : linearToUlaw(v);
  });
  const h = Buffer.alloc(44);
  h.write('RIFF', 0);
  h.writeUInt32LE(36 + data.length, 4);
  h.write('WAVEfmt ', 8);
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(tag, 20);
  h.writeUInt16LE(1, 22);
  h.writeUInt32LE(rate, 24);
  h.writeUInt32LE(rate * bytesPer, 28);
  h.writeUInt16LE(bytesPer, 32);
  h.writeUInt16LE(bytesPer * 8, 34);
  h.write('data', 36);
  h.writeUInt32LE(data.length, 40);
  return Buffer.concat([h, data]);
}

const sine = (rate: number, n: number, f = 440): Int16Array =>
  Int16Array.from({ length: n }, (_, i) => Math.round(8000 * Math.sin((2 * Math.PI * f * i) / rate)));

describe('PromptLibrary (prompt files decoded once on the signalling thread)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'edgeline-prompts-'));
  const lib = new PromptLibrary({ dataDir: dir, logger: silentLogger });
  const files: Array<[string, Buffer, number]> = [
    ['µ-law 8 kHz', wav(7, 8000, sine(8000, 8000)), 8000],
    ['A-law 8 kHz', wav(6, 8000, sine(8000, 8000)), 8000],
    ['PCM 8 kHz', wav(1, 8000, sine(8000, 8000)), 8000],
    ['PCM 16 kHz (decimated to 8 kHz)', wav(1, 16000, sine(16000, 16000)), 8000],
    ['PCM 8 kHz, 130 samples (padded to a frame)', wav(1, 8000, sine(8000, 130)), 160],
  ];
  for (const [i, [name, bytes, samples]] of files.entries())
    test(`loads ${name} as whole 20 ms frames at 8 kHz`, async () => {
      writeFileSync(join(dir, `p${i}.wav`), bytes);
      const r = await lib.load(`p${i}.wav`);
      assert.ok(r.ok, JSON.stringify(!r.ok && r.error));
      assert.equal(r.value.samples.length, samples);
    });

  test('refuses a missing file and a file that is not a supported WAV, naming the file', async () => {
    const missing = await lib.load('nope.wav');
    assert.equal(!missing.ok && missing.error.code, 'EDGE_ERR_PROMPT_FILE_MISSING');
    writeFileSync(join(dir, 'bad.wav'), wav(1, 22050, sine(22050, 100)));
    const bad = await lib.load('bad.wav');
    assert.equal(!bad.ok && bad.error.code, 'EDGE_ERR_WAV_RATE_UNSUPPORTED');
    assert.ok(!bad.ok && bad.error.message.includes('bad.wav'));
  });

  const moh: Array<[string, { enabled: boolean; file?: string }, string | null, boolean]> = [
    ['enabled without a file: the built-in music', { enabled: true }, BUILTIN_MOH_ID, false],
    ['a file that loads: that file', { enabled: true, file: 'p0.wav' }, 'file', false],
    [
      'a missing file: the built-in music, and the error is kept',
      { enabled: true, file: 'gone.wav' },
      BUILTIN_MOH_ID,
      true,
    ],
    ['disabled: no music', { enabled: false }, null, false],
  ];
  for (const [name, cfg, want, error] of moh)
    test(`music on hold ${name}`, async () => {
      await lib.configureMusicOnHold(cfg);
      const id = lib.musicOnHold()?.id ?? null;
      if (want === 'file') assert.ok(id?.startsWith('file:'), String(id));
      else assert.equal(id, want);
      const d = lib.dump().musicOnHold as { error: string | null };
      assert.equal(d.error !== null, error);
    });

  test('cleanup', () => rmSync(dir, { recursive: true, force: true }));
});
