import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Player, type PlayerEvent, type Prompt } from '../../../src/media/play/player.ts';

/** A prompt whose frame i is filled with the value base + i, so each frame is recognisable. */
function prompt(id: string, frames: number, base: number, interruptible = false): Prompt {
  return {
    id,
    interruptible,
    frames: Array.from({ length: frames }, (_, i) => new Int16Array(160).fill(base + i)),
  };
}

function drain(player: Player, max = 1000): number[] {
  const out: number[] = [];
  for (let i = 0; i < max; i++) {
    const f = player.next();
    if (!f) break;
    out.push(f[0] ?? NaN);
  }
  return out;
}

describe('Player', () => {
  test('plays a prompt frame by frame, then reports finished and returns undefined', () => {
    const events: PlayerEvent[] = [];
    const p = new Player((e) => events.push(e));
    p.play(prompt('hello', 3, 100));
    assert.deepEqual(drain(p), [100, 101, 102]);
    assert.equal(p.next(), undefined);
    assert.equal(p.state, 'finished');
    assert.deepEqual(events, [
      { type: 'prompt-started', promptId: 'hello', promptIndex: 0 },
      { type: 'finished', totalFrames: 3 },
    ]);
  });

  test('plays a playlist in order, skipping empty prompts', () => {
    const p = new Player();
    p.play([prompt('a', 2, 10), prompt('empty', 0, 0), prompt('b', 2, 20)]);
    assert.deepEqual(drain(p), [10, 11, 20, 21]);
  });

  test('loop mode (music on hold) starts over after the last prompt', () => {
    const p = new Player();
    p.play([prompt('moh1', 2, 1), prompt('moh2', 1, 5)], { loop: true });
    assert.deepEqual(drain(p, 7), [1, 2, 5, 1, 2, 5, 1]);
    assert.equal(p.state, 'playing');
  });

  test('a looping playlist with no audio finishes instead of spinning', () => {
    const p = new Player();
    p.play([prompt('empty', 0, 0)], { loop: true });
    assert.equal(p.next(), undefined);
    assert.equal(p.state, 'finished');
  });

  test('barge-in: a digit stops an interruptible prompt and reports where', () => {
    const events: PlayerEvent[] = [];
    const p = new Player((e) => events.push(e));
    p.play([prompt('welcome', 2, 0), prompt('menu', 50, 100, true), prompt('after', 5, 200)]);
    drain(p, 2 + 7);
    const at = p.onDigit('3');
    assert.deepEqual(at, { promptId: 'menu', promptIndex: 1, frameIndex: 7, offsetMs: 140, totalFrames: 9 });
    assert.equal(p.next(), undefined, 'the rest of the playlist is dropped too');
    assert.equal(p.state, 'interrupted');
    assert.deepEqual(events.at(-1), { type: 'interrupted', digit: '3', at });
  });

  test('a digit during a prompt not marked interruptible is ignored and playing goes on', () => {
    const p = new Player();
    p.play([prompt('legal', 3, 0), prompt('menu', 3, 10, true)]);
    drain(p, 1);
    assert.equal(p.onDigit('1'), undefined);
    assert.deepEqual(drain(p), [1, 2, 10, 11, 12]);
  });

  test('stop() reports the position; play() afterwards starts a new playlist', () => {
    const p = new Player();
    p.play(prompt('x', 10, 0));
    drain(p, 4);
    assert.equal(p.stop()?.frameIndex, 4);
    assert.equal(p.next(), undefined);
    assert.ok(p.play(prompt('y', 1, 9)));
    assert.deepEqual(drain(p), [9]);
  });

  test('enqueue appends to the playing playlist; after close() nothing plays', () => {
    const p = new Player();
    p.enqueue(prompt('a', 1, 1));
    p.enqueue(prompt('b', 1, 2));
    assert.deepEqual(drain(p), [1, 2]);
    p.close();
    assert.equal(p.play(prompt('c', 1, 3)), false);
    assert.equal(p.next(), undefined);
    assert.equal(p.dump().state, 'closed');
  });
});
