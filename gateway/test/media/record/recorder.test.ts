import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { RecorderTap } from '../../../src/media/record/recorder.ts';
import { markedFrame } from '../recording-fixtures.ts';

/** A tap whose batches are concatenated into per-channel frame lists (first sample of each frame). */
function capture(batchFrames = 10): { tap: RecorderTap; left: number[]; right: number[]; batches: number[] } {
  const left: number[] = [];
  const right: number[] = [];
  const batches: number[] = [];
  const tap = new RecorderTap({
    interactionId: 'i-1',
    batchFrames,
    sink: (_id, stereo) => {
      batches.push(stereo.length / 320);
      for (let f = 0; f < stereo.length; f += 320) {
        left.push(stereo[f] ?? NaN);
        right.push(stereo[f + 1] ?? NaN);
        // Each frame is flat on both channels in these tests.
        for (let i = 0; i < 160; i++) assert.equal(stereo[f + 2 * i], stereo[f], 'left channel flat');
      }
    },
  });
  return { tap, left, right, batches };
}

describe('RecorderTap', () => {
  test('caller on the left, the other party on the right, frame for frame', () => {
    const { tap, left, right } = capture();
    tap.attach('caller-leg', 'caller');
    tap.attach('agent-leg', 'other');
    for (let k = 0; k < 20; k++) {
      tap.put('caller-leg', markedFrame(1000, k));
      tap.put('agent-leg', markedFrame(2000, k));
      tap.tick();
    }
    assert.deepEqual(
      left,
      Array.from({ length: 20 }, (_, k) => 1000 + k),
    );
    assert.deepEqual(
      right,
      Array.from({ length: 20 }, (_, k) => 2000 + k),
    );
  });

  test('a missing frame from one side is silence and the channels stay aligned', () => {
    const { tap, left, right } = capture(5);
    tap.attach('c', 'caller');
    tap.attach('a', 'other');
    for (let k = 0; k < 30; k++) {
      tap.put('c', markedFrame(1000, k));
      if (k % 3 !== 1 && (k < 10 || k >= 20)) tap.put('a', markedFrame(2000, k)); // loss, then 200 ms of nothing
      tap.tick();
    }
    tap.close();
    assert.equal(left.length, 30);
    for (let k = 0; k < 30; k++) {
      assert.equal(left[k], 1000 + k);
      const expected = k % 3 !== 1 && (k < 10 || k >= 20) ? 2000 + k : 0;
      assert.equal(right[k], expected, `frame ${k}`);
    }
    assert.equal(tap.stats.otherSilentFrames, 30 - 14);
  });

  test('a side that is entirely silent still advances with the clock', () => {
    const { tap, left, right } = capture();
    tap.attach('c', 'caller');
    for (let k = 0; k < 12; k++) {
      tap.put('c', markedFrame(10, k));
      tap.tick();
    }
    tap.close();
    assert.deepEqual([left.length, right.length], [12, 12]);
    assert.ok(right.every((v) => v === 0));
  });

  test('continues across a transfer: the agent leg detaches, another attaches, one stream', () => {
    const { tap, left, right } = capture();
    tap.attach('c', 'caller');
    tap.attach('agent1', 'other');
    for (let k = 0; k < 5; k++) {
      tap.put('c', markedFrame(100, k));
      tap.put('agent1', markedFrame(500, k));
      tap.tick();
    }
    tap.detach('agent1');
    tap.put('agent1', markedFrame(9000, 0)); // a straggler from the detached leg is ignored
    tap.tick();
    tap.attach('agent2', 'other');
    for (let k = 6; k < 10; k++) {
      tap.put('c', markedFrame(100, k));
      tap.put('agent2', markedFrame(700, k));
      tap.tick();
    }
    tap.close();
    assert.deepEqual(left, [100, 101, 102, 103, 104, 0, 106, 107, 108, 109]);
    assert.deepEqual(right, [500, 501, 502, 503, 504, 0, 706, 707, 708, 709]);
  });

  test('several other parties are mixed with saturation on the right channel', () => {
    const { tap, right } = capture(1);
    tap.attach('c', 'caller');
    tap.attach('agent', 'other');
    tap.attach('supervisor', 'other');
    tap.put('agent', new Int16Array(160).fill(300));
    tap.put('supervisor', new Int16Array(160).fill(-100));
    tap.tick();
    tap.put('agent', new Int16Array(160).fill(30000));
    tap.put('supervisor', new Int16Array(160).fill(30000));
    tap.tick();
    assert.deepEqual(right, [200, 32767]);
  });

  test('frames queued ahead of the clock are bounded: the oldest is dropped and counted', () => {
    const { tap, left } = capture(1);
    tap.attach('c', 'caller');
    for (let k = 0; k < 5; k++) tap.put('c', markedFrame(0, k + 1));
    tap.tick();
    tap.tick();
    tap.tick();
    tap.tick();
    assert.deepEqual(left, [3, 4, 5, 0]);
    assert.equal(tap.stats.overflowDropped, 2);
  });

  test('batches of batchFrames, the remainder on close; each batch is a fresh array', () => {
    const seen: Int16Array[] = [];
    const tap = new RecorderTap({ interactionId: 'x', batchFrames: 4, sink: (_i, s) => seen.push(s) });
    for (let k = 0; k < 10; k++) tap.tick();
    assert.deepEqual(tap.close(), { frames: 10, durationMs: 200 });
    assert.deepEqual(
      seen.map((s) => s.length / 320),
      [4, 4, 2],
    );
    assert.notEqual(seen[0]?.buffer, seen[1]?.buffer);
    tap.tick();
    assert.equal(tap.stats.frames, 10, 'a closed tap writes nothing');
  });
});
