import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  PlainWavWriter,
  type FileOps,
  type RecordingWriterError,
} from '../../../src/media/record/recording-writer.ts';
import { RecorderTap } from '../../../src/media/record/recorder.ts';
import { markedFrame, readStereoWav } from '../recording-fixtures.ts';

let dir = '';
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'edgeline-rec-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Interleaved stereo frames where left sample i of frame k is k·1000 + i and right is its negative. */
function stereoFrames(from: number, count: number): Int16Array {
  const out = new Int16Array(count * 320);
  for (let f = 0; f < count; f++)
    for (let i = 0; i < 160; i++) {
      out[f * 320 + 2 * i] = ((from + f) * 7 + i) % 30000;
      out[f * 320 + 2 * i + 1] = -(((from + f) * 7 + i) % 30000);
    }
  return out;
}

describe('PlainWavWriter', () => {
  test('a written file parses back with the exact samples on both channels', () => {
    const w = new PlainWavWriter({ dir, interactionId: 'int-42' });
    const all = stereoFrames(0, 123);
    for (let f = 0; f < 123; f += 7) w.write(all.subarray(f * 320, Math.min(123, f + 7) * 320));
    const summary = w.close();
    assert.deepEqual(summary, { path: join(dir, 'int-42.wav'), bytes: 44 + 123 * 640, durationMs: 2460 });
    const file = readStereoWav(summary.path);
    assert.equal(file.riffSize, 36 + 123 * 640);
    assert.equal(file.fileBytes, summary.bytes);
    for (let i = 0; i < 123 * 160; i++) {
      assert.equal(file.left[i], all[2 * i]);
      assert.equal(file.right[i], all[2 * i + 1]);
    }
  });

  for (const frames of [1, 39, 40, 41, 49, 50, 51, 99, 137, 250, 401]) {
    test(`crash after ${frames} frames through the tap: the file reads back and at most 1 s is missing`, () => {
      const w = new PlainWavWriter({ dir, interactionId: `crash-${frames}` });
      const tap = new RecorderTap({ interactionId: `crash-${frames}`, sink: (_i, s) => w.write(s) });
      tap.attach('c', 'caller');
      for (let k = 0; k < frames; k++) {
        tap.put('c', markedFrame(1, k));
        tap.tick();
      }
      // No close: read the file as found after the process died here.
      const file = readStereoWav(w.path);
      const onDisk = file.left.length / 160;
      assert.ok(frames - onDisk <= 50, `${frames - onDisk} frames (${(frames - onDisk) * 20} ms) missing`);
      for (let k = 0; k < onDisk; k++) assert.equal(file.left[k * 160], 1 + k);
      w.close();
    });
  }

  test('disk full when the file is created: reported as ENOSPC, never thrown', () => {
    symlinkSync('/dev/full', join(dir, 'full-1.wav'));
    const errors: RecordingWriterError[] = [];
    const w = new PlainWavWriter({ dir, interactionId: 'full-1', onError: (e) => errors.push(e) });
    w.write(stereoFrames(0, 100));
    w.flush();
    const summary = w.close();
    assert.deepEqual(
      errors.map((e) => e.code),
      ['ENOSPC'],
    );
    assert.match(summary.error ?? '', /ENOSPC/);
    assert.equal(w.droppedBytes, 100 * 640);
  });

  test('disk full in the middle of a recording: one error, the audio before it stays readable', () => {
    // The filesystem fills up after 40 frames of samples: later sample writes fail as the kernel would.
    const limitBytes = 44 + 40 * 640;
    const limited: FileOps = {
      ...(fs as unknown as FileOps),
      writeSync(fd, buffer, offset, length, position) {
        if (position + length > limitBytes)
          throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
        return fs.writeSync(fd, buffer, offset, length, position);
      },
    };
    const errors: RecordingWriterError[] = [];
    const w = new PlainWavWriter({
      dir,
      interactionId: 'full-2',
      fs: limited,
      onError: (e) => errors.push(e),
    });
    for (let f = 0; f < 200; f += 10) w.write(stereoFrames(f, 10));
    const summary = w.close();
    assert.equal(errors.length, 1);
    assert.equal(errors[0]?.code, 'ENOSPC');
    assert.equal(summary.durationMs, 800);
    const file = readStereoWav(summary.path);
    assert.equal(file.left.length, 40 * 160);
  });

  test('an existing recording of the interaction is continued after its last whole sample', () => {
    const first = new PlainWavWriter({ dir, interactionId: 'again' });
    first.write(stereoFrames(0, 10));
    first.flush();
    // Simulate a crash mid-write: a partial stereo sample after the flushed data, sizes not updated.
    fs.appendFileSync(first.path, Buffer.from([1, 2, 3]));
    const second = new PlainWavWriter({ dir, interactionId: 'again' });
    second.write(stereoFrames(10, 5));
    const summary = second.close();
    assert.equal(summary.durationMs, 300);
    const file = readStereoWav(summary.path);
    const expected = stereoFrames(0, 15);
    for (let i = 0; i < 15 * 160; i++) assert.equal(file.left[i], expected[2 * i]);
  });

  test('a file that is not one of our recordings is not overwritten', () => {
    writeFileSync(join(dir, 'other.wav'), Buffer.alloc(100, 7));
    const errors: RecordingWriterError[] = [];
    const w = new PlainWavWriter({ dir, interactionId: 'other', onError: (e) => errors.push(e) });
    w.write(stereoFrames(0, 1));
    w.close();
    assert.equal(errors[0]?.code, 'EDGE_ERR_RECORDING_EXISTS');
    assert.deepEqual(fs.readFileSync(join(dir, 'other.wav')), Buffer.alloc(100, 7));
  });

  for (const id of ['../escape', 'a/b', '', '.hidden']) {
    test(`an interaction id that is not a safe file name (${JSON.stringify(id)}) is refused`, () => {
      const errors: RecordingWriterError[] = [];
      new PlainWavWriter({ dir, interactionId: id, onError: (e) => errors.push(e) }).close();
      assert.equal(errors[0]?.code, 'EDGE_ERR_RECORDING_ID');
    });
  }
});
