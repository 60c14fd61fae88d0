import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../../../base/clock.ts';
import { JitterBuffer, type JitterBufferOptions } from '../../../src/media/jitter/jitter-buffer.ts';

/** Frame k carries the value k + 1 in every sample, so the output tells which frame played. */
function frameOf(k: number): Int16Array {
  return new Int16Array(160).fill((k % 30000) + 1);
}

function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Scenario {
  frames: number;
  /** Arrival time of frame k in ms, or undefined if the network lost it. */
  arrivalMs: (k: number) => number | undefined;
  /** Phase of the playout clock's 20 ms ticks. */
  pullPhaseMs?: number;
  /** Pulls continue this long after the last send, to drain the buffer. */
  tailMs?: number;
  ssrc?: number;
  ts0?: number;
  opts?: JitterBufferOptions;
  /** The frame sent as packet k (default `frameOf`). */
  frame?: (k: number) => Int16Array;
}

interface Pulled {
  atMs: number;
  kind: string;
  value: number;
  targetMs: number;
  depth: number;
}

/** Runs packets and 20 ms pulls through a buffer in time order (a packet due at a pull's instant goes first). */
function run(s: Scenario): { jb: JitterBuffer; out: Pulled[]; sent: number[] } {
  const clock = new ManualClock();
  const jb = new JitterBuffer(clock, s.opts);
  type Ev = { t: number; order: number; k?: number };
  const evs: Ev[] = [];
  const sent: number[] = [];
  for (let k = 0; k < s.frames; k++) {
    const t = s.arrivalMs(k);
    if (t === undefined) continue;
    sent.push(k);
    evs.push({ t, order: 0, k });
  }
  const end = Math.max(...evs.map((e) => e.t)) + (s.tailMs ?? 500);
  for (let t = s.pullPhaseMs ?? 10; t <= end; t += 20) evs.push({ t, order: 1 });
  evs.sort((a, b) => a.t - b.t || a.order - b.order);
  const out: Pulled[] = [];
  const ts0 = s.ts0 ?? 1000;
  for (const e of evs) {
    clock.advance(e.t - clock.now());
    if (e.k !== undefined) {
      jb.push({
        sequenceNumber: (7 + e.k) & 0xffff,
        timestamp: (ts0 + e.k * 160) >>> 0,
        ssrc: s.ssrc ?? 42,
        frame: (s.frame ?? frameOf)(e.k),
      });
    } else {
      const f = jb.pull();
      out.push({
        atMs: e.t,
        kind: jb.lastPull,
        value: f[0] ?? 0,
        targetMs: jb.targetDelayMs,
        depth: jb.depthFrames,
      });
    }
  }
  return { jb, out, sent };
}

function audioValues(out: Pulled[]): number[] {
  return out.filter((p) => p.kind === 'audio').map((p) => p.value);
}

/** Pulls up to the last real frame: after it the stream has ended and every pull is a hold. */
function untilLastAudio(out: Pulled[]): Pulled[] {
  let last = -1;
  out.forEach((p, i) => {
    if (p.kind === 'audio') last = i;
  });
  return out.slice(0, last + 1);
}

function concealedIn(out: Pulled[]): number {
  return untilLastAudio(out).filter((p) => p.kind === 'concealed').length;
}

function assertInOrder(values: number[]): void {
  for (let i = 1; i < values.length; i++)
    assert.ok((values[i] ?? 0) > (values[i - 1] ?? 0), `frame ${values[i]} after ${values[i - 1]} at ${i}`);
}

describe('JitterBuffer: arrival patterns', () => {
  test('in order with constant delay: every frame plays once, in order, with no concealment', () => {
    const { jb, out } = run({ frames: 500, arrivalMs: (k) => 20 * k + 30 });
    const played = audioValues(out);
    assertInOrder(played);
    assert.equal(jb.stats.played + jb.stats.dropped, 500);
    assert.deepEqual([concealedIn(out), jb.stats.late, jb.stats.lost], [0, 0, 0]);
    assert.ok(jb.stats.dropped <= 2, 'only the initial 60 ms shrink towards the 20 ms target');
    assert.equal(jb.targetDelayMs, 20);
  });

  test('reordered pairs: frames play in timestamp order, none late or lost', () => {
    const { jb, out } = run({
      frames: 400,
      arrivalMs: (k) => (k % 2 === 0 ? 20 * (k + 1) + 1 : 20 * k) + 30,
    });
    const played = audioValues(out);
    assertInOrder(played);
    assert.deepEqual([jb.stats.late, jb.stats.lost, jb.stats.duplicate], [0, 0, 0]);
    assert.equal(jb.stats.played + jb.stats.dropped, 400);
  });

  test('5 % random loss: each lost frame is concealed once and counted, the rest play in order', () => {
    const rnd = mulberry32(7);
    const jitter = mulberry32(8);
    const { jb, out, sent } = run({
      frames: 2000,
      arrivalMs: (k) =>
        k > 0 && k < 1990 && rnd() < 0.05 ? undefined : 20 * k + 30 + Math.floor(jitter() * 10),
    });
    const missing = 2000 - sent.length;
    assert.ok(missing > 70 && missing < 130, `${missing} lost by the network`);
    assertInOrder(audioValues(out));
    assert.equal(jb.stats.late, 0);
    assert.equal(jb.stats.lost, missing);
    assert.equal(jb.stats.played + jb.stats.dropped, sent.length);
    assert.equal(jb.stats.skipped, 0);
    assert.equal(jb.stats.concealed, out.filter((p) => p.kind === 'concealed').length);
    assert.equal(
      jb.stats.concealed,
      jb.stats.lost + jb.stats.held,
      'every synthetic frame is a loss or a hold',
    );
  });

  test('bursty jitter (100 ms stall every second): the target grows fast, then no frame is late', () => {
    const stalled = (k: number): number => {
      const t = 20 * k;
      const inSecond = t % 1000;
      // Packets sent in the first 100 ms of each second are held until the stall ends.
      return inSecond < 100 ? t - inSecond + 100 + 30 : t + 30;
    };
    const { jb, out } = run({ frames: 500, arrivalMs: stalled });
    assert.ok(jb.targetDelayMs >= 100 && jb.targetDelayMs <= 140, `target ${jb.targetDelayMs} ms`);
    const firstStallEnd = 130;
    const grownBy = out.find((p) => p.atMs > firstStallEnd && p.targetMs >= 100);
    assert.ok(
      grownBy && grownBy.atMs <= firstStallEnd + 20,
      'target follows the first stall within one frame',
    );
    const afterAdapting = out.filter((p) => p.atMs > 2000 && p.atMs < 9900);
    assert.equal(afterAdapting.filter((p) => p.kind !== 'audio').length, 0, 'no concealment once adapted');
    assertInOrder(audioValues(out));
    assert.equal(jb.stats.lost, 0);
  });

  test('calm after bursty jitter: the target shrinks by at most one frame per second', () => {
    const frames = 1000;
    const { jb, out } = run({
      frames,
      arrivalMs: (k) => {
        const t = 20 * k;
        if (t >= 5000) return t + 30;
        const inSecond = t % 1000;
        return inSecond < 100 ? t - inSecond + 130 : t + 30;
      },
    });
    const perSecond = out.filter((p) => p.atMs % 1000 === 10).map((p) => p.targetMs);
    for (let i = 1; i < perSecond.length; i++)
      assert.ok((perSecond[i - 1] ?? 0) - (perSecond[i] ?? 0) <= 20, `target ${perSecond.join(',')}`);
    assert.equal(jb.targetDelayMs, 20, 'back to the minimum after the calm period');
    const lastDepths = out.filter((p) => p.atMs > 18000 && p.atMs < 19900).map((p) => p.depth);
    assert.ok(Math.max(...lastDepths) <= 2, `delay shrank back (depth ${Math.max(...lastDepths)})`);
    assert.equal(jb.stats.lost, 0);
  });

  for (const { name, periodMs, expect } of [
    {
      name: 'sender 1 % fast: depth stays bounded by dropping about one frame per 100',
      periodMs: 19.8,
      expect: 'dropped',
    },
    {
      name: 'sender 1 % slow: the buffer holds about one frame per 100 instead of losing any',
      periodMs: 20.2,
      expect: 'held',
    },
  ] as const) {
    test(`clock skew, ${name}`, () => {
      const { jb, out } = run({ frames: 3000, arrivalMs: (k) => periodMs * k + 30 });
      const depths = out.map((p) => p.depth);
      assert.ok(Math.max(...depths) <= 10, `max depth ${Math.max(...depths)}`);
      assert.equal(jb.stats.late, 0);
      assert.equal(jb.stats.lost, 0);
      const count = expect === 'held' ? concealedIn(out) : jb.stats.dropped;
      assert.ok(count >= 20 && count <= 45, `${expect} ${count}`);
      assertInOrder(audioValues(out));
    });
  }
});

describe('JitterBuffer: shedding excess delay in pauses (quietShedFrames)', () => {
  // Starting at 60 ms on a clean 30 ms path leaves the delay two frames over the 20 ms target.
  const cases = [
    {
      name: 'a tone throughout: no frame is dropped, the excess waits for a pause',
      quietFrom: -1,
      dropped: 0,
    },
    {
      name: 'a 3 s pause from frame 150: the excess goes there (one frame a second), in quiet frames only',
      quietFrom: 150,
      dropped: 2,
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const quiet = (k: number): boolean => c.quietFrom >= 0 && k >= c.quietFrom && k < c.quietFrom + 150;
      const { jb, out } = run({
        frames: 300,
        arrivalMs: (k) => 20 * k + 30,
        frame: (k) => (quiet(k) ? new Int16Array(160) : frameOf(k)),
        opts: { minDelayMs: 20, initialDelayMs: 60, quietShedFrames: 2 },
      });
      assert.equal(jb.stats.dropped, c.dropped);
      assert.equal(concealedIn(out), 0, 'shedding never conceals');
      // Every loud frame plays, in order.
      const loud = audioValues(out).filter((v) => v !== 0);
      assert.equal(loud.length, c.quietFrom >= 0 ? 150 : 300);
      assertInOrder(loud);
    });
  }
});

describe('JitterBuffer: packets', () => {
  function setup(): {
    clock: ManualClock;
    jb: JitterBuffer;
    push: (k: number, ssrc?: number, ts?: number) => string;
  } {
    const clock = new ManualClock();
    const jb = new JitterBuffer(clock, { initialDelayMs: 40 });
    const push = (k: number, ssrc = 1, ts = 5000 + k * 160): string =>
      jb.push({ sequenceNumber: k, timestamp: ts >>> 0, ssrc, frame: frameOf(k) });
    return { clock, jb, push };
  }

  test('drops a duplicate both while queued and after it played', () => {
    const { clock, jb, push } = setup();
    assert.equal(push(0), 'queued');
    assert.equal(push(0), 'duplicate');
    clock.advance(40);
    assert.equal(jb.pull()[0], 1);
    assert.equal(push(0), 'duplicate');
    assert.equal(jb.stats.duplicate, 2);
  });

  test('a packet after its frame was concealed is late, counted, and grows the delay', () => {
    const { clock, jb, push } = setup();
    push(0);
    push(2);
    clock.advance(60); // frame 2 arriving with frame 0 reads as 40 ms of jitter: 60 ms target
    jb.pull();
    jb.pull(); // frame 1 missing with frame 2 present: concealed as lost
    assert.equal(jb.lastPull, 'concealed');
    assert.equal(push(1), 'late');
    assert.equal(jb.stats.late, 1);
    jb.pull();
    assert.equal(jb.lastPull, 'concealed', 'one frame of delay added before frame 2');
    assert.equal(jb.pull()[0], 3);
  });

  test('concealment repeats the last frame at −6 dB per frame for three frames, then silence', () => {
    const clock = new ManualClock();
    const jb = new JitterBuffer(clock, { initialDelayMs: 20 });
    jb.push({ sequenceNumber: 0, timestamp: 0, frame: new Int16Array(160).fill(-1000) });
    clock.advance(20);
    const got = [jb.pull()[0], jb.pull()[0], jb.pull()[0], jb.pull()[0], jb.pull()[0]];
    assert.deepEqual(got, [-1000, -500, -250, -125, 0]);
    assert.equal(jb.stats.concealed, 4);
  });

  test('concealment by silence when configured', () => {
    const clock = new ManualClock();
    const jb = new JitterBuffer(clock, { initialDelayMs: 20, concealment: 'silence' });
    jb.push({ sequenceNumber: 0, timestamp: 0, frame: new Int16Array(160).fill(900) });
    clock.advance(20);
    assert.deepEqual([jb.pull()[0], jb.pull()[0]], [900, 0]);
  });

  test('an SSRC change resets the buffer and the new stream starts after the prefetch', () => {
    const { clock, jb, push } = setup();
    push(0);
    push(1);
    clock.advance(40);
    jb.pull();
    assert.equal(push(2, 99, 777), 'reset');
    assert.equal(jb.stats.resets, 1);
    assert.equal(jb.state, 'buffering');
    assert.equal(jb.pull()[0], 0, 'silence while prefetching');
    clock.advance(40);
    assert.equal(jb.pull()[0], 3);
  });

  test('a timestamp jump of more than a second resets; one within the window does not', () => {
    const { clock, jb, push } = setup();
    push(0);
    clock.advance(40);
    jb.pull();
    assert.equal(push(1, 1, 5000 + 160 * 10), 'queued');
    assert.equal(push(2, 1, 5000 + 8000 * 10), 'reset');
    assert.equal(jb.stats.resets, 1);
  });

  test('timestamps wrapping past 2^32 continue the stream without a reset', () => {
    const { out, jb } = run({ frames: 100, arrivalMs: (k) => 20 * k + 30, ts0: 2 ** 32 - 160 * 50 });
    assertInOrder(audioValues(out));
    assert.equal(jb.stats.resets, 0);
    assert.equal(jb.stats.played + jb.stats.dropped, 100);
  });

  test('rejects a payload that is not one 20 ms frame', () => {
    const { jb } = setup();
    assert.equal(jb.push({ sequenceNumber: 0, timestamp: 0, frame: new Int16Array(80) }), 'invalid');
    assert.equal(jb.stats.invalid, 1);
    jb.close();
    assert.equal(jb.dump().state, 'closed');
  });
});
