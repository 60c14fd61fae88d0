import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  ntpFromWallMs,
  ntpMiddle32,
  parseRtcp,
  roundTripMs,
  writeBye,
  writeReceiverReport,
  writeRtcpCompound,
  writeSdesCname,
  writeSenderReport,
  type ReportBlock,
} from '../../../src/media/rtp/rtcp.ts';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// SR from SSRC 0x11111111 with one block about 0x22222222, then SDES CNAME "ab", then BYE.
const SR_BLOCK =
  '81 c8 000c 11111111' + // V=2 RC=1 PT=200 length=12 words
  'e1234567 89abcdef 00001f40 0000000a 00000640' + // NTP, RTP ts, 10 packets, 1600 octets
  '22222222 20 fffffe 00010005 00000032 45678901 00020000'; // frac 0x20, lost −2, ext 65541, jitter 50, LSR, DLSR 2 s
const SDES_CNAME = '81 ca 0003 11111111 01 02 6162 00000000'; // CNAME "ab", then END padded to 32 bits
const BYE_REASON = '81 cb 0003 11111111 05 62 79 65 21 21 0000'; // reason "bye!!"

describe('RTCP compound parse (RFC 3550 §6.4, §6.5, §6.6, Appendix A.2)', () => {
  test('SR + SDES + BYE: every field of the report block and sender info', () => {
    const r = parseRtcp(hex(SR_BLOCK + SDES_CNAME + BYE_REASON));
    assert.ok(r.ok, JSON.stringify(r));
    const [sr, sdes, bye] = r.value;
    assert.deepEqual(sr, {
      type: 'sr',
      ssrc: 0x11111111,
      sender: {
        ntpMsw: 0xe1234567,
        ntpLsw: 0x89abcdef,
        rtpTimestamp: 8000,
        packetCount: 10,
        octetCount: 1600,
      },
      reports: [
        {
          ssrc: 0x22222222,
          fractionLost: 0x20,
          cumulativeLost: -2,
          extendedHighestSeq: 65541,
          jitter: 50,
          lsr: 0x45678901,
          dlsr: 0x20000,
        },
      ],
    });
    assert.deepEqual(sdes, {
      type: 'sdes',
      chunks: [{ ssrc: 0x11111111, cname: 'ab', items: [{ type: 1, value: 'ab' }] }],
    });
    assert.deepEqual(bye, { type: 'bye', ssrcs: [0x11111111], reason: 'bye!!' });
  });

  test('an empty RR (RC = 0) is a valid report', () => {
    const r = parseRtcp(hex('80 c9 0001 0000abcd' + SDES_CNAME));
    assert.ok(r.ok);
    assert.deepEqual(r.value[0], { type: 'rr', ssrc: 0xabcd, reports: [] });
  });

  test('APP and feedback packets are framed and skipped, not refused', () => {
    const r = parseRtcp(hex('80 c9 0001 0000abcd' + '81 cd 0002 0000abcd 00000001'));
    assert.ok(r.ok);
    assert.deepEqual(r.value[1], { type: 'other', packetType: 205, count: 1, byteLength: 12 });
  });

  test('padding on the last packet is removed before its content is read', () => {
    const r = parseRtcp(hex('80 c9 0001 0000abcd' + 'a1 cb 0002 0000abcd 00000004'));
    assert.ok(r.ok, JSON.stringify(r));
    assert.deepEqual(r.value[1], { type: 'bye', ssrcs: [0xabcd], reason: undefined });
  });

  const bad: Array<{ name: string; bytes: string; code: string }> = [
    { name: 'empty', bytes: '', code: 'EDGE_ERR_RTCP_TRUNCATED' },
    { name: 'shorter than a header', bytes: '80c9', code: 'EDGE_ERR_RTCP_TRUNCATED' },
    { name: 'length not a multiple of 4', bytes: '80 c9 0001 0000abcd 00', code: 'EDGE_ERR_RTCP_LENGTH' },
    { name: 'version 1', bytes: '40 c9 0001 0000abcd', code: 'EDGE_ERR_RTCP_VERSION' },
    {
      name: 'version 2 first, version 0 second',
      bytes: '80 c9 0001 0000abcd 00 cb 0001 0000abcd',
      code: 'EDGE_ERR_RTCP_VERSION',
    },
    { name: 'first packet is SDES, not SR/RR', bytes: SDES_CNAME, code: 'EDGE_ERR_RTCP_FIRST' },
    { name: 'length field past the end', bytes: '80 c9 0005 0000abcd', code: 'EDGE_ERR_RTCP_LENGTH' },
    {
      name: 'SR truncated inside sender info',
      bytes: '80 c8 0003 11111111 00000000 00000000',
      code: 'EDGE_ERR_RTCP_TRUNCATED',
    },
    { name: 'RR with RC = 1 but no block', bytes: '81 c9 0001 0000abcd', code: 'EDGE_ERR_RTCP_TRUNCATED' },
    {
      name: 'padding on a packet that is not the last',
      bytes: 'a0 c9 0001 0000abcd 80 c9 0001 0000abcd',
      code: 'EDGE_ERR_RTCP_PADDING',
    },
    {
      name: 'padding count larger than the packet',
      bytes: '80 c9 0001 0000abcd a0 cb 0001 000000ff',
      code: 'EDGE_ERR_RTCP_PADDING',
    },
    {
      name: 'SDES item longer than the packet',
      bytes: '80 c9 0001 0000abcd 81 ca 0002 11111111 01 09 6162',
      code: 'EDGE_ERR_RTCP_TRUNCATED',
    },
    {
      name: 'SDES chunk without END',
      bytes: '80 c9 0001 0000abcd 81 ca 0002 11111111 01 02 6162',
      code: 'EDGE_ERR_RTCP_TRUNCATED',
    },
    {
      name: 'BYE reason runs past the end',
      bytes: '80 c9 0001 0000abcd 81 cb 0002 11111111 09 626965',
      code: 'EDGE_ERR_RTCP_TRUNCATED',
    },
    {
      name: 'BYE with SC = 3 but one SSRC',
      bytes: '80 c9 0001 0000abcd 83 cb 0001 11111111',
      code: 'EDGE_ERR_RTCP_TRUNCATED',
    },
  ];
  for (const c of bad) {
    test(`refuses ${c.name} (${c.code}) without throwing`, () => {
      const r = parseRtcp(hex(c.bytes));
      assert.equal(r.ok, false);
      if (!r.ok) assert.equal(r.error.code, c.code);
    });
  }

  test('reduced-size RTCP (RFC 5506) may start with another packet when allowed', () => {
    assert.equal(parseRtcp(hex(BYE_REASON)).ok, false);
    assert.equal(parseRtcp(hex(BYE_REASON), { allowReducedSize: true }).ok, true);
  });

  test('random garbage never throws', () => {
    let seed = 7;
    const rnd = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) & 0xff;
    for (let i = 0; i < 2000; i++) {
      const b = Buffer.alloc(4 * (1 + (rnd() % 20)));
      for (let j = 0; j < b.length; j++) b[j] = rnd();
      if (i % 2) b[0] = 0x80 | (b[0]! & 0x3f);
      parseRtcp(b);
    }
    assert.ok(true, 'no exception over 2000 random inputs');
  });
});

describe('RTCP writers', () => {
  const block: ReportBlock = {
    ssrc: 0x22222222,
    fractionLost: 0x20,
    cumulativeLost: -2,
    extendedHighestSeq: 65541,
    jitter: 50.9,
    lsr: 0x45678901,
    dlsr: 0x20000,
  };

  test('SR + SDES + BYE written byte-for-byte as the fixture', () => {
    const buf = Buffer.alloc(200, 0xee);
    let at = writeSenderReport(
      buf,
      0,
      0x11111111,
      { ntpMsw: 0xe1234567, ntpLsw: 0x89abcdef, rtpTimestamp: 8000, packetCount: 10, octetCount: 1600 },
      [block],
    );
    at = writeSdesCname(buf, at, 0x11111111, 'ab');
    at = writeBye(buf, at, [0x11111111], 'bye!!');
    assert.equal(
      buf.subarray(0, at).toString('hex'),
      hex(SR_BLOCK + SDES_CNAME + BYE_REASON).toString('hex'),
    );
  });

  test('writeRtcpCompound → parseRtcp round trip (RR first when we sent nothing)', () => {
    const buf = Buffer.alloc(300);
    const len = writeRtcpCompound(buf, 0, {
      ssrc: 5,
      blocks: [block],
      cname: 'edgeline@pbx.example',
      bye: {},
    });
    const r = parseRtcp(buf.subarray(0, len));
    assert.ok(r.ok);
    assert.deepEqual(
      r.value.map((p) => p.type),
      ['rr', 'sdes', 'bye'],
    );
    const sdes = r.value[1];
    assert.equal(sdes?.type === 'sdes' ? sdes.chunks[0]?.cname : undefined, 'edgeline@pbx.example');
  });

  test('cumulative lost is clamped to the signed 24-bit range', () => {
    const buf = Buffer.alloc(64);
    const len = writeReceiverReport(buf, 0, 1, [
      { ...block, cumulativeLost: 1e9 },
      { ...block, cumulativeLost: -1e9 },
    ]);
    const r = parseRtcp(buf.subarray(0, len), { allowReducedSize: true });
    assert.ok(r.ok);
    const rr = r.value[0];
    assert.deepEqual(rr?.type === 'rr' ? rr.reports.map((b) => b.cumulativeLost) : [], [0x7fffff, -0x800000]);
  });

  test('more than 31 blocks: the SR is followed by an RR with the rest (§6.4.1)', () => {
    const blocks = Array.from({ length: 40 }, (_, i) => ({ ...block, ssrc: i }));
    const buf = Buffer.alloc(2000);
    const len = writeSenderReport(
      buf,
      0,
      9,
      { ntpMsw: 1, ntpLsw: 2, rtpTimestamp: 3, packetCount: 4, octetCount: 5 },
      blocks,
    );
    const r = parseRtcp(buf.subarray(0, len));
    assert.ok(r.ok);
    assert.deepEqual(
      r.value.map((p) => (p.type === 'sr' || p.type === 'rr' ? [p.type, p.reports.length] : [p.type])),
      [
        ['sr', 31],
        ['rr', 9],
      ],
    );
  });

  test('a buffer too small is a RangeError (a sizing bug), not a silent overrun', () => {
    assert.throws(() => writeSdesCname(Buffer.alloc(8), 0, 1, 'x'), RangeError);
  });
});

describe('NTP time and round-trip time (RFC 3550 §4, §6.4.1)', () => {
  test('NTP timestamp of the Unix epoch is 2208988800 s', () => {
    assert.deepEqual(ntpFromWallMs(0), { msw: 2208988800, lsw: 0 });
    assert.deepEqual(ntpFromWallMs(1500), { msw: 2208988801, lsw: 0x80000000 });
  });

  test('RTT = A − LSR − DLSR, in units of 1/65536 s (the worked example of §6.4.1)', () => {
    // RFC 3550 §6.4.1 figure: A = 0xb710:8000 (46864.500 s), LSR = 0xb705:2000 (46853.125 s),
    // DLSR = 0x0005:4000 (5.250 s) → delay 6.125 s.
    assert.equal(roundTripMs(0xb7052000, 0x00054000, 0xb7108000), 6125);
  });

  test('no LSR (no SR received yet) or a negative result → no RTT', () => {
    assert.equal(roundTripMs(0, 0, 0x12345678), undefined);
    assert.equal(roundTripMs(0x10000, 0x10000, 0x10000), undefined);
  });

  test('middle 32 bits of NTP', () => {
    assert.equal(ntpMiddle32(0xe1234567, 0x89abcdef), 0x456789ab);
  });
});
