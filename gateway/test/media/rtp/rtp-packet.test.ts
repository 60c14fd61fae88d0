import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  emptyRtpView,
  parseRtp,
  rewriteSsrc,
  RTP_HEADER_BYTES,
  writeRtpHeader,
} from '../../../src/media/rtp/rtp-packet.ts';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('RTP fixed header parse (RFC 3550 §5.1)', () => {
  const valid: Array<{ name: string; bytes: Buffer; expect: Record<string, unknown> }> = [
    {
      name: 'plain PCMU packet: V=2, PT 0, seq, timestamp, SSRC, 4-byte payload',
      bytes: hex('80 00 1234 00010000 deadbeef ffffffff'),
      expect: {
        version: 2,
        marker: false,
        payloadType: 0,
        sequenceNumber: 0x1234,
        timestamp: 0x10000,
        ssrc: 0xdeadbeef,
        payloadOffset: 12,
        payloadLength: 4,
        csrcCount: 0,
      },
    },
    {
      name: 'marker bit and dynamic PT 101 (telephone-event)',
      bytes: hex('80 e5 0001 ffffffff 00000001 01 0a 00a0'),
      expect: { marker: true, payloadType: 101, timestamp: 0xffffffff, payloadLength: 4 },
    },
    {
      name: 'CSRC count 2: payload starts after 8 bytes of CSRC list',
      bytes: hex('82 08 0002 00000000 00000001 00000002 00000003 d5d5'),
      expect: { csrcCount: 2, payloadOffset: 20, payloadLength: 2, payloadType: 8 },
    },
    {
      name: 'header extension (RFC 3550 §5.3.1): profile and one word skipped',
      bytes: hex('90 00 0003 00000000 00000001 bede 0001 11223344 ff'),
      expect: { extension: true, extensionProfile: 0xbede, payloadOffset: 20, payloadLength: 1 },
    },
    {
      name: 'padding: the last octet counts the padding, itself included',
      bytes: hex('a0 00 0004 00000000 00000001 ffff 000003'),
      expect: { padding: true, paddingLength: 3, payloadLength: 2 },
    },
    {
      name: 'header only, empty payload',
      bytes: hex('80 00 0005 00000000 00000001'),
      expect: { payloadLength: 0, headerLength: 12 },
    },
  ];
  for (const c of valid) {
    test(`MUST parse ${c.name}`, () => {
      const r = parseRtp(c.bytes);
      assert.ok(r.ok, r.ok ? '' : r.error.message);
      for (const [k, v] of Object.entries(c.expect))
        assert.equal((r.value as unknown as Record<string, unknown>)[k], v, k);
    });
  }

  const malformed: Array<{ name: string; bytes: Buffer; code: string }> = [
    { name: 'shorter than 12 bytes', bytes: hex('80 00 0001 00000000 0000'), code: 'EDGE_ERR_RTP_TRUNCATED' },
    { name: 'empty datagram', bytes: Buffer.alloc(0), code: 'EDGE_ERR_RTP_TRUNCATED' },
    { name: 'version 1', bytes: hex('40 00 0001 00000000 00000001'), code: 'EDGE_ERR_RTP_VERSION' },
    {
      name: 'version 0 (a STUN message)',
      bytes: hex('0001 0000 2112a442 000000000000000000000000'),
      code: 'EDGE_ERR_RTP_VERSION',
    },
    {
      name: 'CSRC list longer than the packet',
      bytes: hex('83 00 0001 00000000 00000001 00000002'),
      code: 'EDGE_ERR_RTP_TRUNCATED',
    },
    {
      name: 'extension header cut short',
      bytes: hex('90 00 0001 00000000 00000001 bede'),
      code: 'EDGE_ERR_RTP_TRUNCATED',
    },
    {
      name: 'extension length past the end',
      bytes: hex('90 00 0001 00000000 00000001 bede 0004 11223344'),
      code: 'EDGE_ERR_RTP_TRUNCATED',
    },
    {
      name: 'padding count 0',
      bytes: hex('a0 00 0001 00000000 00000001 ff 00'),
      code: 'EDGE_ERR_RTP_PADDING',
    },
    {
      name: 'padding count larger than the payload',
      bytes: hex('a0 00 0001 00000000 00000001 ff 09'),
      code: 'EDGE_ERR_RTP_PADDING',
    },
    {
      name: 'RTCP receiver report on the RTP port (RFC 5761 §4)',
      bytes: hex('81 c9 0007 00000001 00000002 00000000 00000000 00000000 00000000 00000000'),
      code: 'EDGE_ERR_RTP_RTCP',
    },
  ];
  for (const c of malformed) {
    test(`MUST reject ${c.name} with ${c.code}`, () => {
      const r = parseRtp(c.bytes);
      assert.equal(r.ok, false);
      if (!r.ok) assert.equal(r.error.code, c.code);
    });
  }

  test('reuses the view it is given', () => {
    const view = emptyRtpView();
    const r = parseRtp(hex('80 00 0001 00000000 00000001'), view);
    assert.ok(r.ok);
    assert.equal(r.value, view);
  });
});

describe('RTP header build', () => {
  const cases = [
    { marker: false, payloadType: 0, sequenceNumber: 0, timestamp: 0, ssrc: 0 },
    { marker: true, payloadType: 8, sequenceNumber: 0xffff, timestamp: 0xffffffff, ssrc: 0xffffffff },
    { marker: false, payloadType: 101, sequenceNumber: 4660, timestamp: 2 ** 31, ssrc: 0x80000001 },
  ];
  for (const h of cases) {
    test(`MUST write V=2 and read back PT ${h.payloadType}, seq ${h.sequenceNumber}, ts ${h.timestamp}`, () => {
      const buf = Buffer.alloc(RTP_HEADER_BYTES + 160, 0x55);
      assert.equal(writeRtpHeader(buf, h), 12);
      assert.equal((buf[0] ?? 0) >> 6, 2);
      const r = parseRtp(buf);
      assert.ok(r.ok);
      assert.deepEqual(
        {
          marker: r.value.marker,
          payloadType: r.value.payloadType,
          sequenceNumber: r.value.sequenceNumber,
          timestamp: r.value.timestamp,
          ssrc: r.value.ssrc,
        },
        h,
      );
      assert.equal(r.value.payloadLength, 160);
      assert.equal(buf[12], 0x55, 'payload untouched');
    });
  }

  test('rewriteSsrc changes bytes 8–11 only', () => {
    const original = hex('90 e5 0102 03040506 0708090a bede 0001 11223344 99887766');
    const copy = Buffer.from(original);
    rewriteSsrc(copy, 0xcafebabe);
    assert.deepEqual(copy.subarray(0, 8), original.subarray(0, 8));
    assert.equal(copy.readUInt32BE(8), 0xcafebabe);
    assert.deepEqual(copy.subarray(12), original.subarray(12));
  });
});
