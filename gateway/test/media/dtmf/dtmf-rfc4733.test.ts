import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../../../base/clock.ts';
import {
  buildTelephoneEvent,
  parseTelephoneEvents,
  planDigitPackets,
  Rfc4733Receiver,
  type DtmfEvent,
  type TelephoneEventPacket,
} from '../../../src/media/dtmf/dtmf-rfc4733.ts';

function plan(digit: string, durationMs: number, timestamp: number): TelephoneEventPacket[] {
  const r = planDigitPackets({ digit, durationMs, timestamp });
  assert.ok(r.ok);
  return r.value;
}

function receiver(): { rx: Rfc4733Receiver; events: DtmfEvent[]; clock: ManualClock } {
  const clock = new ManualClock();
  const events: DtmfEvent[] = [];
  const rx = new Rfc4733Receiver({ timers: clock, onEvent: (ev) => events.push(ev) });
  return { rx, events, clock };
}

/** Deliver packets in order, advancing the clock to each packet's send time. */
function deliver(
  ctx: { rx: Rfc4733Receiver; clock: ManualClock },
  packets: TelephoneEventPacket[],
  startMs = ctx.clock.now(),
): void {
  let seq = 1000;
  for (const p of packets) {
    const due = startMs + p.atMs;
    if (due > ctx.clock.now()) ctx.clock.advance(due - ctx.clock.now());
    const r = ctx.rx.receive({ marker: p.marker, timestamp: p.timestamp, sequenceNumber: seq++ }, p.payload);
    assert.ok(r.ok);
  }
}

const summary = (events: DtmfEvent[]): string[] =>
  events.map((e) =>
    e.type === 'begin' ? `begin:${e.digit}` : `end:${e.digit}:${e.durationSamples}:${e.reason}`,
  );

describe('RFC 4733 telephone-event payload (§2.3)', () => {
  test('MUST encode event, E bit, volume and duration in network byte order', () => {
    const cases = [
      { ev: { event: 5, end: false, volume: 10, duration: 800 }, bytes: [0x05, 0x0a, 0x03, 0x20] },
      { ev: { event: 11, end: true, volume: 63, duration: 0xffff }, bytes: [0x0b, 0xbf, 0xff, 0xff] },
      { ev: { event: 0, end: true, volume: 0, duration: 160 }, bytes: [0x00, 0x80, 0x00, 0xa0] },
    ];
    for (const c of cases) {
      assert.deepEqual([...buildTelephoneEvent(c.ev)], c.bytes);
      const parsed = parseTelephoneEvents(Uint8Array.from(c.bytes));
      assert.ok(parsed.ok);
      assert.deepEqual(parsed.value, [c.ev]);
    }
  });

  test('MUST ignore the R bit on receipt', () => {
    const parsed = parseTelephoneEvents(Uint8Array.from([0x01, 0xca, 0x00, 0x10]));
    assert.ok(parsed.ok);
    assert.deepEqual(parsed.value, [{ event: 1, end: true, volume: 10, duration: 16 }]);
  });

  test('MUST reject truncated and ragged payloads with the field named', () => {
    for (const bytes of [[], [1, 2, 3], [1, 0, 0, 1, 2]]) {
      const r = parseTelephoneEvents(Uint8Array.from(bytes));
      assert.ok(!r.ok);
      assert.equal(r.error.field, 'payload');
    }
  });
});

describe('RFC 4733 sender (§2.5.1)', () => {
  test('MUST send a start packet with the marker bit, updates every 50 ms, and three end packets', () => {
    const packets = plan('7', 200, 4000);
    assert.deepEqual(
      packets.map((p) => [p.atMs, p.marker, p.timestamp, p.report.duration, p.report.end]),
      [
        [0, true, 4000, 160, false],
        [50, false, 4000, 400, false],
        [100, false, 4000, 800, false],
        [150, false, 4000, 1200, false],
        [200, false, 4000, 1600, true],
        [250, false, 4000, 1600, true],
        [300, false, 4000, 1600, true],
      ],
    );
    assert.ok(packets.every((p) => p.report.event === 7 && p.report.volume === 10));
  });

  test('MUST cut an event longer than 0xFFFF units into segments (§2.5.1.3)', () => {
    const packets = plan('#', 10_000, 0xfffff000);
    const ends = packets.filter((p) => p.report.duration === 0xffff);
    assert.equal(ends.length, 3);
    assert.ok(ends.every((p) => !p.report.end && p.timestamp === 0xfffff000));
    const finals = packets.filter((p) => p.report.end);
    assert.equal(finals.length, 3);
    assert.ok(finals.every((p) => p.timestamp === (0xfffff000 + 0xffff) >>> 0));
    assert.ok(finals.every((p) => p.report.duration === 80_000 - 0xffff));
    assert.equal(packets.filter((p) => p.marker).length, 1);
  });

  test('MUST refuse a key that is not DTMF and a non-positive duration', () => {
    const bad = planDigitPackets({ digit: 'x', durationMs: 100, timestamp: 0 });
    assert.ok(!bad.ok && bad.error.field === 'digit');
    const zero = planDigitPackets({ digit: '1', durationMs: 0, timestamp: 0 });
    assert.ok(!zero.ok && zero.error.field === 'durationMs');
  });
});

describe('RFC 4733 receiver (§2.5.2): each digit once', () => {
  test('MUST report begin and end once for a clean event with its three end packets', () => {
    const ctx = receiver();
    deliver(ctx, plan('5', 120, 1000));
    assert.deepEqual(summary(ctx.events), ['begin:5', 'end:5:960:end-bit']);
    const end = ctx.events[1];
    assert.ok(end?.type === 'end' && end.durationMs === 120 && end.timestamp === 1000);
    assert.equal(ctx.rx.dump().duplicates, 2);
    ctx.rx.close();
  });

  const lossCases: {
    rule: string;
    drop: (p: TelephoneEventPacket, i: number) => boolean;
    expect: string[];
  }[] = [
    {
      rule: 'MUST begin on an update when the start packet is lost',
      drop: (_p, i) => i === 0,
      expect: ['begin:1', 'end:1:1600:end-bit'],
    },
    {
      rule: 'MUST end on the second end packet when the first is lost',
      drop: (p, i) => p.report.end && i === 4,
      expect: ['begin:1', 'end:1:1600:end-bit'],
    },
    {
      rule: 'MUST report a digit seen only through its end packets',
      drop: (p) => !p.report.end,
      expect: ['begin:1', 'end:1:1600:end-bit'],
    },
  ];
  for (const c of lossCases) {
    test(c.rule, () => {
      const ctx = receiver();
      deliver(
        ctx,
        plan('1', 200, 50).filter((p, i) => !c.drop(p, i)),
      );
      assert.deepEqual(summary(ctx.events), c.expect);
      ctx.rx.close();
    });
  }

  test('MUST report once when every packet arrives twice', () => {
    const ctx = receiver();
    deliver(
      ctx,
      plan('9', 200, 77).flatMap((p) => [p, p]),
    );
    assert.deepEqual(summary(ctx.events), ['begin:9', 'end:9:1600:end-bit']);
    ctx.rx.close();
  });

  test('MUST ignore an update that arrives after the end (reordering)', () => {
    const ctx = receiver();
    const packets = plan('2', 200, 500);
    const late = packets[2];
    assert.ok(late);
    deliver(ctx, [...packets.filter((_p, i) => i !== 2), { ...late, atMs: 400 }]);
    assert.deepEqual(summary(ctx.events), ['begin:2', 'end:2:1600:end-bit']);
    ctx.rx.close();
  });

  test('MUST end an event whose end packets are all lost after the silence timeout', () => {
    const ctx = receiver();
    deliver(
      ctx,
      plan('4', 200, 0).filter((p) => !p.report.end),
    );
    assert.deepEqual(summary(ctx.events), ['begin:4']);
    ctx.clock.advance(499);
    assert.equal(ctx.events.length, 1);
    ctx.clock.advance(1);
    assert.deepEqual(summary(ctx.events), ['begin:4', 'end:4:1200:timeout']);
    // A late end packet of the same event is not a new digit.
    deliver(
      ctx,
      plan('4', 200, 0).filter((p) => p.report.end),
    );
    assert.equal(ctx.events.length, 2);
    ctx.rx.close();
  });

  test('MUST end the event in progress when a new timestamp begins another', () => {
    const ctx = receiver();
    deliver(
      ctx,
      plan('3', 200, 0).filter((p) => !p.report.end),
    );
    deliver(ctx, plan('6', 100, 2400));
    assert.deepEqual(summary(ctx.events), [
      'begin:3',
      'end:3:1200:interrupted',
      'begin:6',
      'end:6:800:end-bit',
    ]);
    ctx.rx.close();
  });

  test('MUST report the same key pressed twice as two digits', () => {
    const ctx = receiver();
    deliver(ctx, plan('0', 100, 8000));
    deliver(ctx, plan('0', 100, 8000 + 2400));
    assert.deepEqual(summary(ctx.events), ['begin:0', 'end:0:800:end-bit', 'begin:0', 'end:0:800:end-bit']);
    ctx.rx.close();
  });

  test('MUST join the segments of a long press into one digit (§2.5.1.3)', () => {
    const ctx = receiver();
    deliver(ctx, plan('*', 10_000, 0xfffff000));
    assert.deepEqual(summary(ctx.events), ['begin:*', 'end:*:80000:end-bit']);
    const end = ctx.events[1];
    assert.ok(end?.type === 'end' && end.durationMs === 10_000 && end.timestamp === 0xfffff000);
    ctx.rx.close();
  });

  test('MUST handle RTP timestamp wrap-around between digits', () => {
    const ctx = receiver();
    deliver(ctx, plan('A', 100, 0xffffff00));
    deliver(ctx, plan('B', 100, 0x00000500));
    assert.deepEqual(summary(ctx.events), ['begin:A', 'end:A:800:end-bit', 'begin:B', 'end:B:800:end-bit']);
    ctx.rx.close();
  });

  test('MUST ignore events it does not understand and count malformed payloads', () => {
    const ctx = receiver();
    const fax = buildTelephoneEvent({ event: 32, end: false, volume: 10, duration: 160 });
    assert.ok(ctx.rx.receive({ marker: true, timestamp: 1, sequenceNumber: 1 }, fax).ok);
    assert.ok(!ctx.rx.receive({ marker: false, timestamp: 1, sequenceNumber: 2 }, Uint8Array.of(1, 2)).ok);
    assert.equal(ctx.events.length, 0);
    const d = ctx.rx.dump();
    assert.equal(d.ignoredEvents, 1);
    assert.equal(d.malformed, 1);
    ctx.rx.close();
  });

  test('close() ends a digit in progress and stops its timer', () => {
    const ctx = receiver();
    deliver(ctx, plan('8', 200, 0).slice(0, 2));
    ctx.rx.close();
    assert.deepEqual(summary(ctx.events), ['begin:8', 'end:8:400:closed']);
    assert.deepEqual(JSON.parse(JSON.stringify(ctx.rx.dump())) as unknown, {
      ...ctx.rx.dump(),
      state: 'closed',
    });
    assert.equal(ctx.clock.armed().length, 0);
  });
});
