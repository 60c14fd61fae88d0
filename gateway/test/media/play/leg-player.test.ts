import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  LegPlayers,
  type FrameTicker,
  type PlayEnded,
  type PlayerLeg,
} from '../../../src/media/play/leg-player.ts';
import type { PacketHook } from '../../../src/media/rtp/relay-leg.ts';
import type { LegPlayRequest } from '../../../src/media/worker/worker-protocol.ts';

/** A leg that keeps the first sample of every frame sent, and a bridged peer with a hook. */
function fakeLeg(): PlayerLeg & { sent: number[]; peer: { onPacket: PacketHook | undefined } } {
  const sent: number[] = [];
  return { sent, sendFrame: (f) => (sent.push(f[0] ?? NaN), true), peer: { onPacket: undefined } };
}

/** Samples whose frame i is filled with base + i. */
function samples(frames: number, base: number): Int16Array {
  const s = new Int16Array(frames * 160);
  for (let i = 0; i < frames; i++) s.fill(base + i, i * 160, (i + 1) * 160);
  return s;
}

function rig() {
  const legs = new Map<number, ReturnType<typeof fakeLeg>>([[1, fakeLeg()]]);
  const tickers = new Set<FrameTicker>();
  const ended: PlayEnded[] = [];
  const players = new LegPlayers({
    leg: (id) => legs.get(id),
    addTicker: (t) => tickers.add(t),
    removeTicker: (t) => tickers.delete(t),
    onEnded: (e) => ended.push(e),
  });
  players.store('hello', samples(3, 100));
  players.store('music', samples(2, 500));
  const tick = (n: number): void => {
    for (let i = 0; i < n; i++) for (const t of [...tickers]) t.tick();
  };
  const leg = legs.get(1) as ReturnType<typeof fakeLeg>;
  return { players, tickers, ended, tick, leg };
}

const req = (o: Partial<LegPlayRequest>): LegPlayRequest => ({
  playId: 1,
  promptIds: ['hello'],
  loop: false,
  bargeIn: true,
  muteBridge: false,
  ...o,
});

describe('LegPlayers (one player per leg on the frame clock)', () => {
  test('sends one frame per tick on the leg, then reports finished with the position and stops ticking', () => {
    const r = rig();
    assert.equal(r.players.play(1, req({})), true);
    r.tick(5);
    assert.deepEqual(r.leg.sent, [100, 101, 102]);
    assert.deepEqual(r.ended, [{ legId: 1, playId: 1, outcome: 'finished', positionMs: 60 }]);
    assert.equal(r.tickers.size, 0);
  });

  test('music on hold loops until stopped, and is reported stopped with its position', () => {
    const r = rig();
    r.players.play(1, req({ promptIds: ['music'], loop: true, bargeIn: false }));
    r.tick(5);
    assert.deepEqual(r.leg.sent, [500, 501, 500, 501, 500]);
    r.players.stop(1);
    assert.deepEqual(r.ended, [{ legId: 1, playId: 1, outcome: 'stopped', positionMs: 100 }]);
  });

  const digits: Array<[string, boolean, 'interrupted' | undefined]> = [
    ['a digit interrupts a play with barge-in', true, 'interrupted'],
    ['a digit leaves a play without barge-in alone', false, undefined],
  ];
  for (const [name, bargeIn, want] of digits)
    test(name, () => {
      const r = rig();
      r.players.play(1, req({ bargeIn }));
      r.tick(2);
      assert.equal(r.players.onDigit(1, '5'), want !== undefined);
      assert.deepEqual(
        r.ended.map((e) => e.outcome),
        want ? [want] : [],
      );
      if (want)
        assert.deepEqual(r.ended[0], {
          legId: 1,
          playId: 1,
          outcome: 'interrupted',
          positionMs: 40,
          digit: '5',
        });
    });

  test('a digit signalled in SIP (play-stop with digit) barges in like one in RTP', () => {
    const r = rig();
    r.players.play(1, req({}));
    r.tick(1);
    r.players.stop(1, '#');
    assert.deepEqual(r.ended, [{ legId: 1, playId: 1, outcome: 'interrupted', positionMs: 20, digit: '#' }]);
  });

  test('muting the bridge consumes what the peer forwards while playing, and restores the hook after', () => {
    const r = rig();
    let seen = 0;
    const own: PacketHook = () => (seen++, true);
    r.leg.peer.onPacket = own;
    r.players.play(1, req({ promptIds: ['music'], loop: true, muteBridge: true }));
    const hook = r.leg.peer.onPacket as unknown as (...a: unknown[]) => boolean;
    assert.equal(hook(undefined, undefined, undefined), false, 'consumed, not forwarded');
    assert.equal(seen, 1, "the peer's own processing still runs");
    r.players.stop(1);
    assert.equal(r.leg.peer.onPacket, own);
  });

  test('a new play replaces the one playing, which is reported stopped under its own play id', () => {
    const r = rig();
    r.players.play(1, req({ playId: 7 }));
    r.tick(1);
    r.players.play(1, req({ playId: 8, promptIds: ['music'] }));
    // Two frames, and the end is seen on the tick after the last.
    r.tick(3);
    assert.deepEqual(r.ended, [
      { legId: 1, playId: 7, outcome: 'stopped', positionMs: 20 },
      { legId: 1, playId: 8, outcome: 'finished', positionMs: 40 },
    ]);
    assert.deepEqual(r.leg.sent, [100, 500, 501]);
  });

  const refused: Array<[string, number, string[]]> = [
    ['an unknown leg', 9, ['hello']],
    ['a prompt not cached in the worker', 1, ['nope']],
  ];
  for (const [name, legId, promptIds] of refused)
    test(`refuses ${name}: finished at 0 ms at once, nothing ticks`, () => {
      const r = rig();
      assert.equal(r.players.play(legId, req({ promptIds })), false);
      assert.deepEqual(r.ended, [{ legId, playId: 1, outcome: 'finished', positionMs: 0 }]);
      assert.equal(r.tickers.size, 0);
    });

  test('a prompt not a whole number of frames is padded with silence; close ends the play', () => {
    const r = rig();
    r.players.store('odd', new Int16Array(200).fill(9));
    r.players.play(1, req({ promptIds: ['odd'] }));
    r.tick(1);
    r.players.close(1);
    assert.deepEqual(
      r.ended.map((e) => e.outcome),
      ['stopped'],
    );
    assert.equal(
      (r.players.dump().prompts as Array<{ id: string; frames: number }>).find((p) => p.id === 'odd')?.frames,
      2,
    );
  });
});
