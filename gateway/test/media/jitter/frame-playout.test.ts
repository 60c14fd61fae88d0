import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FramePlayout } from '../../../src/media/jitter/frame-playout.ts';

const frame = (v: number): Int16Array => new Int16Array(160).fill(v);

describe('FramePlayout: a frame leg paced out by the card clock', () => {
  test('MUST hold playout until the start depth is queued, then play frames in order', () => {
    const p = new FramePlayout({ startFrames: 2 });
    p.push(frame(1));
    assert.equal(p.pull(), undefined);
    p.push(frame(2));
    assert.equal(p.pull()?.[0], 1);
    assert.equal(p.pull()?.[0], 2);
    assert.equal(p.dump().prefillTicks, 1);
  });

  test('an underrun MUST be counted and deepen the target by one frame per run of empty ticks', () => {
    const p = new FramePlayout({ startFrames: 2, maxTargetFrames: 4 });
    p.push(frame(1));
    p.push(frame(2));
    p.pull();
    p.pull();
    assert.equal(p.pull(), undefined);
    assert.equal(p.pull(), undefined);
    const d = p.dump();
    assert.equal(d.underruns, 2);
    assert.equal(d.targetFrames, 3);
    assert.equal(d.playing, true);
  });

  test('after an underrun playout MUST hold its place: the owed frames play next, one silent tick only', () => {
    const p = new FramePlayout({ startFrames: 2, maxTargetFrames: 4 });
    let n = 0;
    p.push(frame(n++));
    p.push(frame(n++));
    // One frame per tick, except a batch three ticks late (one more than the cushion covers).
    const arrivals = [1, 0, 0, 0, 4, 1, 1];
    const heard: Array<number | undefined> = [];
    for (const a of arrivals) {
      for (let i = 0; i < a; i++) p.push(frame(n++));
      heard.push(p.pull()?.[0]);
    }
    assert.deepEqual(heard, [0, 1, 2, undefined, 3, 4, 5]);
    assert.equal(p.dump().underruns, 1);
    assert.equal(p.queued, 3, 'the cushion is one frame deeper');
  });

  test('a late batch within the cushion MUST NOT underrun', () => {
    const p = new FramePlayout({ startFrames: 2 });
    let n = 0;
    p.push(frame(n++));
    p.push(frame(n++));
    // Ticks: one frame per tick, except a batch two ticks late carrying three frames.
    const arrivals = [1, 1, 0, 3, 1, 1, 1];
    for (const a of arrivals) {
      for (let i = 0; i < a; i++) p.push(frame(n++));
      assert.notEqual(p.pull(), undefined);
    }
    assert.equal(p.dump().underruns, 0);
  });

  test('a standing surplus over a window MUST be drained one frame at a time', () => {
    const p = new FramePlayout({ startFrames: 2, drainWindowTicks: 10 });
    for (let i = 0; i < 6; i++) p.push(frame(i));
    for (let t = 0; t < 10; t++) {
      p.push(frame(100 + t));
      p.pull();
    }
    assert.equal(p.dump().drained, 1);
    assert.equal(p.queued, 5);
  });

  test('arrivals beyond capacity MUST drop the oldest frame (overrun)', () => {
    const p = new FramePlayout({ startFrames: 1, maxTargetFrames: 2, capacityFrames: 4 });
    for (let i = 0; i < 6; i++) p.push(frame(i));
    assert.equal(p.dump().overruns, 2);
    assert.equal(p.pull()?.[0], 2);
  });
});
