import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../../../base/clock.ts';
import { FrameEndpoint, type FrameEndpointDump } from '../../../src/media/worker/frame-endpoint.ts';
import { ulawToLinear } from '../../../../base/signal/g711.ts';
import { parseRtp, writeRtpHeader } from '../../../src/media/rtp/rtp-packet.ts';

/**
 * µ-law codes 0x80–0x9F decode to 8 159…32 124: half of any of them (the first concealment step,
 * −6 dB) is below all of them, so a frame's first two samples name the packet it came from
 * (32 × 32 names), and anything else is concealment or silence.
 */
const CODES = Array.from({ length: 32 }, (_, i) => 0x80 + i);
const NAME = new Map<string, number>();
for (let k = 0; k < 1024; k++) {
  NAME.set(`${ulawToLinear(CODES[k >> 5] ?? 0)},${ulawToLinear(CODES[k & 31] ?? 0)}`, k);
}

const PT = 0;
const TS0 = 0xffff_fb00; // wraps past 2^32 within the first few frames

/** An RTP packet of `samples` µ-law samples holding frame `k`'s name (repeated every 20 ms). */
function packet(
  k: number,
  opts: { samples?: number; pt?: number; ssrc?: number; tsOffset?: number } = {},
): Buffer {
  const n = opts.samples ?? 160;
  const b = Buffer.alloc(12 + n);
  writeRtpHeader(b, {
    marker: false,
    payloadType: opts.pt ?? PT,
    sequenceNumber: (65530 + k) & 0xffff,
    timestamp: (TS0 + k * 160 + (opts.tsOffset ?? 0)) >>> 0,
    ssrc: opts.ssrc ?? 0xabcdef,
  });
  for (let i = 0; i < n; i += 160) {
    const f = k + i / 160;
    b[12 + i] = CODES[(f >> 5) & 31] ?? 0;
    b[13 + i] = CODES[f & 31] ?? 0;
    b.fill(0xff, 14 + i, 12 + Math.min(n, i + 160));
  }
  return b;
}

type Out = number | 'c' | 's';

function classify(f: Int16Array): Out {
  const k = NAME.get(`${f[0]},${f[1]}`);
  if (k !== undefined) return k;
  return f.every((x) => x === 0) ? 's' : 'c';
}

interface Arrival {
  atMs: number;
  k: number;
  samples?: number;
  tsOffset?: number;
}

/**
 * Feeds packets and the worker's 20 ms ticks (phase 10 ms) in time order, taking what each tick
 * ships; returns the frames shipped, in order.
 */
function run(
  arrivals: Arrival[],
  opts: { tailMs?: number; untilMs?: number } = {},
): { out: Out[]; dump: FrameEndpointDump; fe: FrameEndpoint; clock: ManualClock } {
  const clock = new ManualClock();
  const fe = new FrameEndpoint(clock, { maxQueuedFrames: 16 });
  fe.setCodecs({ pcmu: PT, pcma: 8, telephoneEvent: 101 });
  const evs = arrivals.map((a) => ({ t: a.atMs, order: 0, a }));
  const end = opts.untilMs ?? Math.max(...arrivals.map((a) => a.atMs)) + (opts.tailMs ?? 200);
  for (let t = 10; t <= end; t += 20) evs.push({ t, order: 1, a: undefined as unknown as Arrival });
  evs.sort((x, y) => x.t - y.t || x.order - y.order);
  const out: Out[] = [];
  const frame = new Int16Array(160);
  for (const e of evs) {
    clock.advance(e.t - clock.now());
    if (e.order === 0) {
      const b = packet(e.a.k, { samples: e.a.samples, tsOffset: e.a.tsOffset });
      const v = parseRtp(b);
      assert.ok(v.ok);
      fe.onPacket(b, v.value);
    } else {
      fe.tick();
      while (fe.take(frame, 0)) out.push(classify(frame));
    }
  }
  return { out, dump: fe.dump(), fe, clock };
}

/** Frames k = 0…n−1, frame k arriving at 20·k + `delay(k)` ms, minus `lost`, plus duplicates. */
function stream(
  n: number,
  delay: (k: number) => number = () => 0,
  lost: number[] = [],
  duplicated: number[] = [],
): Arrival[] {
  const a: Arrival[] = [];
  for (let k = 0; k < n; k++) {
    if (lost.includes(k)) continue;
    a.push({ atMs: 20 * k + delay(k), k });
    if (duplicated.includes(k)) a.push({ atMs: 20 * k + delay(k) + 7, k });
  }
  return a;
}

/** The shipped frames from the first audio frame to the last, as a compact string. */
function span(out: Out[]): Out[] {
  const first = out.findIndex((x) => typeof x === 'number');
  let last = out.length - 1;
  while (last > first && typeof out[last] !== 'number') last--;
  return out.slice(first, last + 1);
}

const played = (out: Out[]): number[] => out.filter((x): x is number => typeof x === 'number');

function assertInOrder(s: number[]): void {
  for (let i = 1; i < s.length; i++)
    assert.ok((s[i] ?? 0) > (s[i - 1] ?? 0), `frame ${s[i]} after ${s[i - 1]}`);
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);

describe('FrameEndpoint: RTP of a frame leg through the adaptive jitter buffer, one frame per tick', () => {
  const cases: Array<{
    rule: string;
    arrivals: Arrival[];
    frames: Out[];
    counters: Partial<FrameEndpointDump['jitter']>;
  }> = [
    {
      rule: 'in order with constant delay: every frame once, in order, nothing concealed',
      arrivals: stream(40, () => 3),
      frames: range(0, 40),
      counters: { lost: 0, late: 0, duplicate: 0 },
    },
    {
      rule: 'reordered pairs (every other pair swapped): RTP timestamp order restored, none late',
      arrivals: stream(40, (k) => (Math.floor(k / 2) % 2 === 1 ? (k % 2 === 0 ? 20 : -20) : 0) + 25),
      frames: range(0, 40),
      counters: { lost: 0, late: 0 },
    },
    {
      rule: 'duplicated packets MUST be dropped and counted, each frame played once',
      arrivals: stream(40, () => 2, [], [3, 10, 11, 25]),
      frames: range(0, 40),
      counters: { duplicate: 4, lost: 0 },
    },
    {
      rule: 'a lost packet MUST be concealed in its own slot (one synthetic frame), the rest in order',
      arrivals: stream(40, () => 2, [7, 20, 21]),
      frames: [...range(0, 7), 'c', ...range(8, 20), 'c', 'c', ...range(22, 40)],
      counters: { lost: 3, late: 0 },
    },
    {
      rule: 'reordering, duplicates and loss together: timestamp order, one concealed frame per loss',
      arrivals: stream(
        60,
        (k) => ((k * 7) % 5) * 6 + (k % 10 === 4 ? 20 : k % 10 === 5 ? -20 : 0) + 20,
        [13, 41],
        [30],
      ),
      frames: [...range(0, 13), 'c', ...range(14, 41), 'c', ...range(42, 60)],
      counters: { lost: 2, duplicate: 1, late: 0 },
    },
  ];
  for (const c of cases) {
    test(c.rule, () => {
      const { out, dump } = run(c.arrivals);
      assert.deepEqual(span(out), c.frames);
      for (const [k, v] of Object.entries(c.counters))
        assert.equal(dump.jitter[k as keyof FrameEndpointDump['jitter']], v, k);
    });
  }

  test('a bursty-late packet (after its turn) MUST be counted late, concealed meanwhile, and deepen the buffer', () => {
    // Calm for 2 s (the target settles at the minimum), then frame 120 arrives 80 ms late.
    const { out, dump } = run(stream(200, (k) => (k === 120 ? 80 : 1)));
    assert.equal(dump.jitter.late, 1);
    const s = played(out);
    assert.ok(!s.includes(120), 'the late frame is not played out of its turn');
    assertInOrder(s);
    // Missing: the late frame, and those shed to bring the delay down to the target.
    assert.equal(200 - s.length, 1 + dump.jitter.shed);
    assert.ok(
      dump.jitter.targetDelayMs >= 80,
      `target ${dump.jitter.targetDelayMs} ms after an 80 ms outlier`,
    );
  });

  test('depth MUST adapt up under bursty jitter (no late packet once adapted) and back down when calm', (t) => {
    // 4 s of stalls: every 25th packet held 100 ms and released with those queued behind it.
    const stall = (k: number): number => {
      const phase = k % 25;
      return k < 200 && phase < 5 ? (5 - phase) * 20 : 1;
    };
    const burst = run(stream(200, stall));
    assert.ok(
      burst.dump.jitter.targetDelayMs >= 100,
      `target ${burst.dump.jitter.targetDelayMs} ms under 100 ms stalls`,
    );
    assert.ok(
      burst.dump.jitter.late <= 2,
      `late ${burst.dump.jitter.late}: only before the first adaptation`,
    );
    assert.equal(burst.dump.jitter.lost, 0);
    assertInOrder(played(burst.out));

    // The same stalls for 4 s, then 20 s of calm: the target and the depth come back down.
    const calm = run(stream(1200, (k) => (k < 200 ? stall(k) : 1)));
    t.diagnostic(
      `under stalls: ${JSON.stringify(burst.dump.jitter)}; after calm: ${JSON.stringify(calm.dump.jitter)}`,
    );
    assert.ok(
      calm.dump.jitter.targetDelayMs <= 40,
      `target ${calm.dump.jitter.targetDelayMs} ms after 20 s calm`,
    );
    assert.ok(calm.dump.jitter.shed > 0, 'frames shed to shrink the delay');
    assert.equal(calm.dump.jitter.lost, 0);
  });

  const cuts: Array<{ rule: string; arrivals: Arrival[]; frames: Out[]; fragmentsDropped: number }> = [
    {
      rule: '40 ms packets MUST be split into two frames at their own timestamps',
      arrivals: range(0, 20).map((j) => ({ atMs: 40 * j + 2, k: 2 * j, samples: 320 })),
      frames: range(0, 40),
      fragmentsDropped: 0,
    },
    {
      rule: '10 ms packets MUST be joined into 20 ms frames while their timestamps run on',
      arrivals: range(0, 80).map((j) => ({
        atMs: 10 * j + 2,
        k: Math.floor(j / 2),
        samples: 80,
        tsOffset: (j % 2) * 80,
      })),
      frames: range(0, 40),
      fragmentsDropped: 0,
    },
    {
      rule: 'a 10 ms fragment not continued by the next packet MUST be dropped and its frame concealed',
      arrivals: range(0, 80)
        .filter((j) => j !== 21)
        .map((j) => ({ atMs: 10 * j + 2, k: Math.floor(j / 2), samples: 80, tsOffset: (j % 2) * 80 })),
      frames: [...range(0, 10), 'c', ...range(11, 40)],
      fragmentsDropped: 1,
    },
  ];
  for (const c of cuts) {
    test(c.rule, () => {
      const { out, dump } = run(c.arrivals);
      assert.deepEqual(span(out), c.frames);
      assert.equal(dump.fragmentsDropped, c.fragmentsDropped);
    });
  }

  test('MUST ship nothing before the first packet, then exactly one frame per tick even when the network stops', () => {
    const clock = new ManualClock();
    const fe = new FrameEndpoint(clock);
    fe.setCodecs({ pcmu: PT, pcma: 8, telephoneEvent: 101 });
    const f = new Int16Array(160);
    for (let i = 0; i < 5; i++) {
      clock.advance(20);
      fe.tick();
    }
    assert.equal(fe.queued, 0);
    const b = packet(0);
    const v = parseRtp(b);
    assert.ok(v.ok);
    fe.onPacket(b, v.value);
    let shipped = 0;
    for (let i = 0; i < 50; i++) {
      clock.advance(20);
      fe.tick();
      while (fe.take(f, 0)) shipped++;
    }
    // 50 ticks minus the prefetch (the initial target delay, three frames).
    assert.ok(shipped >= 46 && shipped <= 48, `shipped ${shipped}`);
    assert.equal(fe.dump().framesTaken, shipped);
  });

  test('telephone-events and formats not negotiated as G.711 MUST NOT become frames', () => {
    const clock = new ManualClock();
    const fe = new FrameEndpoint(clock);
    fe.setCodecs({ pcmu: PT, pcma: 8, telephoneEvent: 101 });
    for (const pt of [101, 13, 18]) {
      const b = packet(0, { pt });
      const v = parseRtp(b);
      assert.ok(v.ok);
      fe.onPacket(b, v.value);
    }
    assert.equal(fe.dump().framesIn, 0);
  });
});
