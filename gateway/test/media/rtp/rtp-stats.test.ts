import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ManualClock } from '../../../../base/clock.ts';
import {
  parseRtcp,
  writeReceiverReport,
  writeSdesCname,
  type RtcpPacket,
} from '../../../src/media/rtp/rtcp.ts';
import {
  RtcpReporter,
  RtpReceiveStats,
  RtpSendStats,
  type RtpPacketVerdict,
} from '../../../src/media/rtp/rtp-stats.ts';

/** Feed packets `seqs` of one SSRC, 20 ms apart, timestamps 160 apart. */
function feed(s: RtpReceiveStats, seqs: number[], ssrc = 0xaaaa, startMs = 0): RtpPacketVerdict[] {
  return seqs.map((seq, i) => s.onPacket(ssrc, seq & 0xffff, (seq * 160) >>> 0, startMs + i * 20));
}
const range = (from: number, n: number): number[] => Array.from({ length: n }, (_, i) => from + i);

describe('sequence validation and loss (RFC 3550 A.1, A.3)', () => {
  test('a new source is on probation until MIN_SEQUENTIAL = 2 sequential packets; counting starts at the second', () => {
    const s = new RtpReceiveStats();
    assert.deepEqual(feed(s, [100, 101, 102]), ['probation', 'ok', 'ok']);
    const snap = s.snapshot();
    assert.equal(snap.received, 2);
    assert.equal(snap.expected, 2);
    assert.equal(snap.lost, 0);
  });

  test('a non-sequential packet during probation restarts it', () => {
    const s = new RtpReceiveStats();
    assert.deepEqual(feed(s, [100, 300, 301, 302]), ['probation', 'probation', 'ok', 'ok']);
    assert.equal(s.snapshot().expected, 2);
  });

  test('gaps count as lost; fraction lost is per report interval, cumulative is not', () => {
    const s = new RtpReceiveStats();
    // 1..101 with every multiple of 4 missing: 101 expected (from base 1), 25 lost.
    const seqs = [0, ...range(1, 101).filter((q) => q % 4 !== 0)];
    feed(s, seqs);
    const b1 = s.reportBlock(0)!;
    assert.equal(b1.cumulativeLost, 25);
    assert.equal(b1.fractionLost, Math.floor((25 * 256) / 101));
    assert.equal(b1.extendedHighestSeq, 101);
    // Next interval: no loss.
    feed(s, range(102, 50), 0xaaaa, 3000);
    const b2 = s.reportBlock(0)!;
    assert.equal(b2.fractionLost, 0);
    assert.equal(b2.cumulativeLost, 25);
  });

  test('sequence wrap adds a cycle to the extended highest sequence number', () => {
    const s = new RtpReceiveStats();
    feed(s, range(65530, 12));
    const snap = s.snapshot();
    assert.equal(snap.cycles, 1);
    assert.equal(snap.extendedHighestSeq, 65536 + 5);
    assert.equal(snap.lost, 0);
  });

  test('duplicates are counted as received (A.1), making cumulative loss negative', () => {
    const s = new RtpReceiveStats();
    feed(s, [1, 2, 3, 3, 4]);
    assert.equal(s.reportBlock(0)!.cumulativeLost, -1);
  });

  test('a late packet within MAX_MISORDER is accepted; beyond MAX_DROPOUT is a bad sequence', () => {
    const s = new RtpReceiveStats();
    feed(s, [10, 11, 12]);
    assert.equal(s.onPacket(0xaaaa, 5, 800, 100), 'ok');
    assert.equal(s.onPacket(0xaaaa, 20000, 0, 120), 'bad-sequence');
    assert.equal(s.snapshot().badSequence, 1);
  });

  test('two sequential packets after a large jump: the peer restarted, statistics re-sync', () => {
    const s = new RtpReceiveStats();
    feed(s, range(10, 10));
    assert.equal(s.onPacket(0xaaaa, 40000, 0, 300), 'bad-sequence');
    assert.equal(s.onPacket(0xaaaa, 40001, 160, 320), 'restart');
    assert.equal(s.onPacket(0xaaaa, 40002, 320, 340), 'ok');
    const snap = s.snapshot();
    assert.equal(snap.restarts, 1);
    assert.equal(snap.expected, 2);
    assert.equal(snap.received, 2);
  });

  test('an SSRC change (re-INVITE) starts probation for the new source and keeps call totals', () => {
    const s = new RtpReceiveStats();
    feed(s, [1, 2, 3, 5, 6]); // 6 expected from base 1... 5 expected from base 2: 2..6, 1 lost
    const before = s.snapshot();
    assert.equal(before.lost, 1);
    assert.deepEqual(feed(s, [900, 901, 902], 0xbbbb, 1000), ['probation', 'ok', 'ok']);
    const after = s.snapshot();
    assert.equal(after.ssrc, 0xbbbb);
    assert.equal(after.ssrcChanges, 1);
    assert.equal(after.lost, 0);
    assert.equal(after.totalExpected, before.expected + 2);
    assert.equal(after.totalLost, 1);
    assert.ok(after.lossPercent > 0);
  });
});

describe('interarrival jitter (RFC 3550 A.8)', () => {
  test('perfectly paced packets have zero jitter', () => {
    const s = new RtpReceiveStats();
    feed(s, range(0, 200));
    assert.equal(s.snapshot().jitterMs, 0);
  });

  test('arrivals alternating 10 ms early/late converge to J = 10 ms (80 units at 8 kHz)', () => {
    const s = new RtpReceiveStats();
    for (let i = 0; i < 500; i++) s.onPacket(1, i, i * 160, i * 20 + (i % 2 ? 10 : 0));
    const snap = s.snapshot();
    assert.ok(Math.abs(snap.jitterTimestampUnits - 80) < 0.5, `${snap.jitterTimestampUnits}`);
    assert.ok(Math.abs(snap.jitterMs - 10) < 0.1);
    assert.equal(s.reportBlock(0)!.jitter, Math.floor(snap.jitterTimestampUnits));
  });

  test('a timestamp discontinuity (same SSRC, new timestamp base) does not count as jitter', () => {
    const s = new RtpReceiveStats();
    feed(s, range(0, 50));
    s.onPacket(0xaaaa, 50, 123456789, 1000);
    s.onPacket(0xaaaa, 51, 123456789 + 160, 1020);
    assert.equal(s.snapshot().jitterMs, 0);
  });

  test('timestamp wrap at 2^32 is harmless', () => {
    const s = new RtpReceiveStats();
    for (let i = 0; i < 20; i++) s.onPacket(1, i, (0xffffff00 + i * 160) >>> 0, i * 20);
    assert.equal(s.snapshot().jitterMs, 0);
  });
});

describe('LSR/DLSR and sender info (RFC 3550 §6.4.1)', () => {
  test('DLSR is the delay since the last SR in 1/65536 s; LSR its middle 32 bits', () => {
    const s = new RtpReceiveStats();
    feed(s, [1, 2, 3]);
    assert.equal(s.reportBlock(100)!.lsr, 0, 'no SR yet: LSR and DLSR zero');
    s.onSenderReport(
      0xaaaa,
      { ntpMsw: 0xe1234567, ntpLsw: 0x89abcdef, rtpTimestamp: 0, packetCount: 0, octetCount: 0 },
      1000,
    );
    const b = s.reportBlock(3000)!;
    assert.equal(b.lsr, 0x456789ab);
    assert.equal(b.dlsr, 2 * 65536);
  });

  test('sender counts reset on SSRC change; RTP timestamp extrapolated to the report time', () => {
    const t = new RtpSendStats(8000);
    t.onSent(1, 1000, 160, 0);
    t.onSent(1, 1160, 160, 20);
    t.onSent(2, 5000, 160, 40);
    const info = t.senderInfo(Date.UTC(2026, 0, 1), 140);
    assert.equal(info.packetCount, 1);
    assert.equal(info.octetCount, 160);
    assert.equal(info.rtpTimestamp, 5000 + 800);
    assert.equal(t.activeSender, false, 'an SR clears the active flag');
  });
});

describe('RTCP reporter (RFC 3550 §6.2 simplified)', () => {
  function setup(): {
    clock: ManualClock;
    sent: RtcpPacket[][];
    reporter: RtcpReporter;
    rx: RtpReceiveStats;
    tx: RtpSendStats;
  } {
    const clock = new ManualClock();
    const sent: RtcpPacket[][] = [];
    const rx = new RtpReceiveStats();
    const tx = new RtpSendStats();
    const reporter = new RtcpReporter({
      clock,
      timers: clock,
      localSsrc: 0x1234,
      cname: 'edgeline@test',
      receive: rx,
      send: tx,
      random: () => 0.5, // factor 1: exact 2.5 s, then 5 s
      transmit: (buf, len) => {
        const r = parseRtcp(buf.subarray(0, len));
        assert.ok(r.ok);
        sent.push(r.value);
      },
    });
    return { clock, sent, reporter, rx, tx };
  }

  test('first report after half the 5 s interval, then every 5 s; RR while we send nothing', () => {
    const { clock, sent, reporter } = setup();
    reporter.start();
    assert.deepEqual(clock.armed(), ['RTCP']);
    clock.advance(2499);
    assert.equal(sent.length, 0);
    clock.advance(1);
    assert.equal(sent.length, 1);
    clock.advance(5000);
    assert.equal(sent.length, 2);
    assert.deepEqual(
      sent[0]!.map((p) => p.type),
      ['rr', 'sdes'],
    );
    reporter.close();
    assert.deepEqual(clock.armed(), []);
  });

  test('SR with a block about the received stream once we send; RTT from the peer’s block about us', () => {
    const { clock, sent, reporter, rx, tx } = setup();
    reporter.start();
    for (let i = 0; i < 100; i++) {
      rx.onPacket(0x9999, i, i * 160, clock.now());
      tx.onSent(0x5555, i * 160, 160, clock.now());
      clock.advance(20);
    }
    // 2000 ms: the first report falls at 2500.
    clock.advance(500);
    const sr = sent[0]![0]!;
    assert.equal(sr.type, 'sr');
    if (sr.type !== 'sr') return;
    assert.equal(sr.ssrc, 0x5555);
    assert.equal(sr.sender.packetCount, 100);
    assert.equal(sr.reports[0]?.ssrc, 0x9999);
    // The peer answers 300 ms later with DLSR = 100 ms: RTT = 200 ms.
    clock.advance(300);
    const lsr = ((sr.sender.ntpMsw & 0xffff) << 16) | (sr.sender.ntpLsw >>> 16);
    const buf = Buffer.alloc(100);
    let at = writeReceiverReport(buf, 0, 0x9999, [
      {
        ssrc: 0x5555,
        fractionLost: 0,
        cumulativeLost: 0,
        extendedHighestSeq: 99,
        jitter: 0,
        lsr: lsr >>> 0,
        dlsr: Math.round(0.1 * 65536),
      },
    ]);
    at = writeSdesCname(buf, at, 0x9999, 'peer');
    assert.ok(reporter.onRtcp(buf.subarray(0, at)).ok);
    const q = reporter.quality();
    assert.ok(q.rttMs !== undefined && Math.abs(q.rttMs - 200) < 1, `rtt ${q.rttMs}`);
    assert.equal(q.oneWayDelayMs, q.rttMs / 2);
    assert.ok(q.mos > 4.3 && q.mos <= 4.41, `mos ${q.mos}`);
    reporter.close();
  });

  test('malformed RTCP is counted and refused; BYE from the peer is noted', () => {
    const { reporter } = setup();
    assert.equal(reporter.onRtcp(Buffer.from('garbage!')).ok, false);
    assert.equal(reporter.dump().malformed, 1);
    const buf = Buffer.from('80c9000100009999' + '81cb000100009999', 'hex');
    assert.ok(reporter.onRtcp(buf).ok);
    assert.equal(reporter.dump().byeReceived, true);
    reporter.close();
  });

  test('bye() sends a last compound ending in BYE and disarms the timer', () => {
    const { clock, sent, reporter } = setup();
    reporter.start();
    reporter.bye('call ended');
    assert.deepEqual(
      sent[0]!.map((p) => p.type),
      ['rr', 'sdes', 'bye'],
    );
    assert.deepEqual(clock.armed(), []);
    assert.equal(reporter.dump().state, 'closed');
  });
});
