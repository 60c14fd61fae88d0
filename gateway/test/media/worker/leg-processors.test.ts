import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ManualClock } from '../../../../base/clock.ts';
import { linearToUlaw, ulawToLinear } from '../../../../base/signal/g711.ts';
import { LegDtmf, type LegDigit } from '../../../src/media/dtmf/leg-dtmf.ts';
import { LegProcessor } from '../../../src/media/worker/leg-processor.ts';
import { FrameClock, LegRecorderFeed } from '../../../src/media/record/leg-recorder.ts';
import { EchoSsrc, MilliwattPackets } from '../../../src/media/worker/leg-service.ts';
import { RecorderTap } from '../../../src/media/record/recorder.ts';
import { parseRtp } from '../../../src/media/rtp/rtp-packet.ts';

const PTS = { pcmu: 0, pcma: 8, telephoneEvent: 101 };

function rtp(
  pt: number,
  seq: number,
  ts: number,
  payload: Uint8Array,
  marker = false,
  ssrc = 0x11223344,
): Buffer {
  const b = Buffer.alloc(12 + payload.length);
  b[0] = 0x80;
  b[1] = (marker ? 0x80 : 0) | pt;
  b.writeUInt16BE(seq, 2);
  b.writeUInt32BE(ts, 4);
  b.writeUInt32BE(ssrc, 8);
  b.set(payload, 12);
  return b;
}

/** RFC 4733 §2.5.1.2: start (M), updates with growing duration, end bit sent three times. */
function eventPackets(event: number, seq0: number, ts: number, updates = 4): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < updates + 3; i++) {
    const end = i >= updates;
    const p = Buffer.from([event, (end ? 0x80 : 0) | 10, 0, 0]);
    p.writeUInt16BE(160 * Math.min(i + 1, updates), 2);
    out.push(rtp(101, seq0 + i, ts, p, i === 0));
  }
  return out;
}

function feed(target: { onPacket(d: Buffer, v: ReturnType<typeof view>): unknown }, packets: Buffer[]): void {
  for (const p of packets) target.onPacket(p, view(p));
}
function view(p: Buffer) {
  const r = parseRtp(p);
  assert.ok(r.ok);
  return r.value;
}

/** µ-law packets of a DTMF tone pair (or silence), `ms` long, 20 ms each. */
function tonePackets(lowHz: number, highHz: number, ms: number, seq0: number, ts0: number): Buffer[] {
  const out: Buffer[] = [];
  for (let k = 0; k < ms / 20; k++) {
    const payload = new Uint8Array(160);
    for (let i = 0; i < 160; i++) {
      const n = k * 160 + i;
      const v =
        lowHz === 0
          ? 0
          : 6000 * Math.sin((2 * Math.PI * lowHz * n) / 8000) +
            5000 * Math.sin((2 * Math.PI * highHz * n) / 8000);
      payload[i] = linearToUlaw(Math.round(v));
    }
    out.push(rtp(0, seq0 + k, ts0 + 160 * k, payload));
  }
  return out;
}

describe('LegDtmf', () => {
  test('MUST report each RFC 4733 digit once, at its end, whatever the redundancy (end packet ×3, RFC 4733 §2.5.1.4)', () => {
    const clock = new ManualClock();
    const digits: LegDigit[] = [];
    const dtmf = new LegDtmf({ timers: clock, onDigit: (d) => digits.push(d) });
    dtmf.setCodecs(PTS);
    const packets = [1, 2, 3, 11].flatMap((ev, i) => eventPackets(ev, 100 + i * 10, 8000 + i * 4000));
    feed(dtmf, packets);
    // A retransmitted end packet of the last digit arriving late changes nothing.
    const last = packets[packets.length - 1];
    assert.ok(last);
    feed(dtmf, [last]);
    assert.deepEqual(
      digits.map((d) => [d.digit, d.durationMs, d.source]),
      [
        ['1', 80, 'rfc4733'],
        ['2', 80, 'rfc4733'],
        ['3', 80, 'rfc4733'],
        ['#', 80, 'rfc4733'],
      ],
    );
    assert.equal(dtmf.dump().inband, false, 'no in-band scan on a leg that negotiated telephone-event');
  });

  test('MUST end a digit whose end packets were all lost, once, after the receiver timeout', () => {
    const clock = new ManualClock();
    const digits: LegDigit[] = [];
    const dtmf = new LegDtmf({ timers: clock, onDigit: (d) => digits.push(d) });
    dtmf.setCodecs(PTS);
    feed(dtmf, eventPackets(5, 1, 1000).slice(0, 3));
    assert.equal(digits.length, 0);
    clock.advance(1000);
    assert.deepEqual(
      digits.map((d) => d.digit),
      ['5'],
    );
  });

  const inbandCases: Array<{ name: string; pts: typeof PTS; detectInband?: boolean; expect: string[] }> = [
    {
      name: 'leg without telephone-event: tones in the audio are detected',
      pts: { ...PTS, telephoneEvent: -1 },
      expect: ['1', '#'],
    },
    { name: 'leg with telephone-event: audio is not scanned (no double report)', pts: PTS, expect: [] },
    {
      name: 'leg marked for in-band (PSTN): scanned even with telephone-event',
      pts: PTS,
      detectInband: true,
      expect: ['1', '#'],
    },
  ];
  for (const c of inbandCases)
    test(`in-band (Goertzel): ${c.name}`, () => {
      const clock = new ManualClock();
      const digits: LegDigit[] = [];
      const dtmf = new LegDtmf({
        timers: clock,
        onDigit: (d) => digits.push(d),
        detectInband: c.detectInband,
      });
      dtmf.setCodecs(c.pts);
      feed(dtmf, [
        ...tonePackets(697, 1209, 100, 0, 0),
        ...tonePackets(0, 0, 100, 5, 800),
        ...tonePackets(941, 1477, 100, 10, 1600),
        ...tonePackets(0, 0, 100, 15, 2400),
      ]);
      assert.deepEqual(
        digits.map((d) => d.digit),
        c.expect,
      );
      for (const d of digits) {
        assert.equal(d.source, 'inband');
        assert.ok(Math.abs(d.durationMs - 100) <= 15, `duration ${d.durationMs}`);
      }
    });
});

describe('LegRecorderFeed and FrameClock', () => {
  test('MUST cut packets of any size into 20 ms frames, decoded, one per 160 samples', () => {
    const batches: Int16Array[] = [];
    const tap = new RecorderTap({
      interactionId: 'i1',
      sink: (_id, s) => batches.push(s),
      batchFrames: 2,
      maxQueuedFrames: 10,
    });
    const feedA = new LegRecorderFeed(tap, 'a', 'caller');
    feedA.setCodecs(PTS);
    // 10 ms packets (80 samples): a ramp of µ-law codes.
    for (let k = 0; k < 4; k++) {
      const payload = new Uint8Array(80).map((_, i) => (k * 80 + i) & 0xff);
      feed(feedA, [rtp(0, k, k * 80, payload)]);
    }
    // Telephone-events are not audio.
    feed(feedA, eventPackets(1, 10, 0, 1));
    assert.equal(feedA.frames, 2);
    tap.tick();
    tap.tick();
    assert.equal(batches.length, 1);
    const b = batches[0];
    assert.ok(b);
    for (let i = 0; i < 320; i++) {
      assert.equal(b[2 * i], ulawToLinear(i & 0xff), `left sample ${i}`);
      assert.equal(b[2 * i + 1], 0, 'right channel silent');
    }
  });

  test('MUST tick once per 20 ms anchored to its start, catch up a late timer, and skip a long stall', () => {
    const c = new FrameClock(1000, 5);
    const table: Array<[number, number]> = [
      [1019, 0],
      [1020, 1],
      [1041, 1],
      [1100, 3],
      [1100, 0],
      [1400, 5],
    ];
    for (const [now, due] of table) assert.equal(c.due(now), due, `at ${now}`);
    assert.equal(c.skipped, 10);
    assert.equal(c.untilNext(1405), 15);
  });
});

describe('services on a leg', () => {
  test('echo: MUST send back the packet unchanged but for our SSRC, and consume it (not relayed)', () => {
    const clock = new ManualClock();
    const p = new LegProcessor({ timers: clock, onDigit: () => undefined });
    p.setCodecs(PTS);
    const sent: Buffer[] = [];
    const echo = new EchoSsrc();
    p.setEcho(echo, (d) => sent.push(Buffer.from(d)));
    const pkt = rtp(0, 77, 1234, new Uint8Array(160).fill(0x55), true);
    const orig = Buffer.from(pkt);
    assert.equal(p.onPacket(pkt, view(pkt)), false);
    const back = sent[0];
    assert.ok(back);
    assert.deepEqual(back.subarray(0, 8), orig.subarray(0, 8));
    assert.deepEqual(back.subarray(12), orig.subarray(12));
    assert.equal(back.readUInt32BE(8), echo.ssrc);
    // RFC 3550 §8.2: a caller using our SSRC makes us choose another.
    const clash = rtp(0, 78, 1394, new Uint8Array(160), false, echo.ssrc);
    const before = echo.ssrc;
    p.onPacket(clash, view(clash));
    assert.notEqual(echo.ssrc, before);
    assert.equal(echo.changes, 1);
  });

  test('without a service the processor MUST let every packet through to the relay', () => {
    const p = new LegProcessor({ timers: new ManualClock(), onDigit: () => undefined });
    p.setCodecs(PTS);
    const pkt = rtp(0, 1, 0, new Uint8Array(160));
    assert.equal(p.onPacket(pkt, view(pkt)), true);
  });

  test('milliwatt: MUST number packets +1 and time them +160, marker on the first, buffers reused', () => {
    const m = new MilliwattPackets('pcma', 8);
    const got: Buffer[] = [];
    const dones: Array<(e: Error | null) => void> = [];
    for (let i = 0; i < 4; i++)
      m.emit((buf, len, done) => {
        got.push(Buffer.from(buf.subarray(0, len)));
        done(null);
        dones.push(done);
      });
    m.skip();
    m.emit((buf, len) => got.push(Buffer.from(buf.subarray(0, len))));
    const views = got.map(view);
    views.forEach((v, i) => {
      assert.equal(v.payloadType, 8);
      assert.equal(v.marker, i === 0);
      assert.equal(v.payloadLength, 160);
      if (i > 0) {
        const prev = views[i - 1];
        assert.ok(prev);
        assert.equal(v.sequenceNumber, (prev.sequenceNumber + 1) & 0xffff);
        assert.equal(
          v.timestamp,
          (prev.timestamp + (i === 4 ? 320 : 160)) >>> 0,
          'a skipped tick still advances time',
        );
      }
    });
    assert.equal((m.dump() as { buffers: number }).buffers, 1);
  });
});
