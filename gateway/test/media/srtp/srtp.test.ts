import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  aesCmKeystream,
  deriveSessionKey,
  estimateRoc,
  SrtpContext,
  SrtpLabel,
  type SrtpSuite,
} from '../../../src/media/srtp/srtp.ts';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// RFC 3711 Appendix B.3 master key and salt (also used by the libsrtp reference packets).
const MASTER_KEY = hex('E1F97A0D3E018BE0D64FA32C06DE4139');
const MASTER_SALT = hex('0EC675AD498AFEEBB6960B3AABE6');

/** An RTP packet in a buffer with room for the tag. */
function rtpPacket(seq: number, ssrc: number, payload: Buffer, room = 16): { buf: Buffer; len: number } {
  const buf = Buffer.alloc(12 + payload.length + room);
  buf[0] = 0x80;
  buf[1] = 0x00;
  buf.writeUInt16BE(seq & 0xffff, 2);
  buf.writeUInt32BE((seq * 160) >>> 0, 4);
  buf.writeUInt32BE(ssrc >>> 0, 8);
  payload.copy(buf, 12);
  return { buf, len: 12 + payload.length };
}

describe('AES-CM keystream (RFC 3711 Appendix B.2)', () => {
  test('MUST produce the B.2 keystream: first and last three blocks of the 1044512-octet segment', () => {
    const ks = aesCmKeystream(
      hex('2B7E151628AED2A6ABF7158809CF4F3C'),
      hex('F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000'),
      1044512,
    );
    assert.equal(ks.length, 1044512);
    assert.equal(
      ks.subarray(0, 48).toString('hex').toUpperCase(),
      'E03EAD0935C95E80E166B16DD92B4EB4' +
        'D23513162B02D0F72A43A2FE4A5F97AB' +
        '41E95B3BB0A2E8DD477901E4FCA894C0',
    );
    assert.equal(
      ks
        .subarray(ks.length - 48)
        .toString('hex')
        .toUpperCase(),
      'EC8CDF7398607CB0F2D21675EA9EA1E4' +
        '362B7C3C6773516318A077D7FC5073AE' +
        '6A2CC3787889374FBEB4C81B17BA6C44',
    );
  });
});

describe('key derivation (RFC 3711 §4.3, Appendix B.3)', () => {
  const cases: Array<{ name: string; label: number; bytes: number; expect: string }> = [
    {
      name: 'label 0x00 → cipher key',
      label: SrtpLabel.rtpEncryption,
      bytes: 16,
      expect: 'C61E7A93744F39EE10734AFE3FF7A087',
    },
    {
      name: 'label 0x02 → cipher salt',
      label: SrtpLabel.rtpSalt,
      bytes: 14,
      expect: '30CBBC08863D8C85D49DB34A9AE1',
    },
    {
      name: 'label 0x01 → auth key, the 160 bits SRTP uses',
      label: SrtpLabel.rtpAuthentication,
      bytes: 20,
      expect: 'CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4',
    },
    {
      name: 'label 0x01 → the full 94-octet auth key of B.3 (multi-block PRF)',
      label: SrtpLabel.rtpAuthentication,
      bytes: 94,
      expect:
        'CEBE321F6FF7716B6FD4AB49AF256A156D38BAA48F0A0ACF3C34E2359E6CDBCE' +
        'E049646C43D9327AD175578EF72270986371C10C9A369AC2F94A8C5FBCDDDC25' +
        '6D6E919A48B610EF17C2041E474035766B68642C59BBFC2F34DB60DBDFB2',
    },
  ];
  for (const c of cases) {
    test(`MUST derive the B.3 value: ${c.name}`, () => {
      assert.equal(
        deriveSessionKey(MASTER_KEY, MASTER_SALT, c.label, c.bytes).toString('hex').toUpperCase(),
        c.expect,
      );
    });
  }
  test('SRTCP labels 0x03–0x05 derive keys distinct from the SRTP ones', () => {
    for (const [rtp, rtcp] of [
      [0, 3],
      [1, 4],
      [2, 5],
    ] as const) {
      assert.notDeepEqual(
        deriveSessionKey(MASTER_KEY, MASTER_SALT, rtp, 16),
        deriveSessionKey(MASTER_KEY, MASTER_SALT, rtcp, 16),
      );
    }
  });
});

describe('SRTP packet transform (RFC 3711 §3.3, §4.1.1, §4.2)', () => {
  test('MUST match the libsrtp reference packet for AES_CM_128_HMAC_SHA1_80 (SSRC cafebabe, seq 0x1234)', () => {
    const ctx = new SrtpContext('AES_CM_128_HMAC_SHA1_80', MASTER_KEY, MASTER_SALT);
    const buf = Buffer.alloc(64);
    const plain = hex('800f1234decafbadcafebabe' + 'ab'.repeat(16));
    plain.copy(buf);
    const len = ctx.protect(buf, plain.length);
    assert.equal(len, plain.length + 10);
    assert.equal(
      buf.subarray(0, len).toString('hex'),
      '800f1234decafbadcafebabe4e55dc4ce79978d88ca4d215949d2402b78d6acc99ea179b8dbb',
    );
    const rx = new SrtpContext('AES_CM_128_HMAC_SHA1_80', MASTER_KEY, MASTER_SALT);
    const r = rx.unprotect(buf, len);
    assert.ok(r.ok);
    assert.equal(r.value, plain.length);
    assert.deepEqual(buf.subarray(0, r.value), plain);
  });

  test('the per-packet keystream equals AES-CM with IV = (k_s·2^16) ⊕ (SSRC·2^64) ⊕ (i·2^16)', () => {
    const ctx = new SrtpContext('AES_CM_128_HMAC_SHA1_80', MASTER_KEY, MASTER_SALT);
    const ke = deriveSessionKey(MASTER_KEY, MASTER_SALT, 0, 16);
    const ks = deriveSessionKey(MASTER_KEY, MASTER_SALT, 2, 14);
    const ssrc = 0x11223344;
    const seq = 0xfffe;
    const payload = Buffer.alloc(300); // 19 blocks: exercises the block counter
    const { buf, len } = rtpPacket(seq, ssrc, payload);
    ctx.protect(buf, len);
    const iv = Buffer.alloc(16);
    ks.copy(iv);
    iv.writeUInt32BE((iv.readUInt32BE(4) ^ ssrc) >>> 0, 4);
    iv.writeUInt16BE(iv.readUInt16BE(12) ^ seq, 12);
    assert.deepEqual(buf.subarray(12, len), aesCmKeystream(ke, iv, 300));
  });

  const suites: Array<{ suite: SrtpSuite; tag: number }> = [
    { suite: 'AES_CM_128_HMAC_SHA1_80', tag: 10 },
    { suite: 'AES_CM_128_HMAC_SHA1_32', tag: 4 },
  ];
  for (const { suite, tag } of suites) {
    test(`${suite}: protect appends a ${tag}-byte tag and unprotect restores the packet bit-exact`, () => {
      const tx = new SrtpContext(suite, MASTER_KEY, MASTER_SALT);
      const rx = new SrtpContext(suite, MASTER_KEY, MASTER_SALT);
      for (let seq = 100; seq < 110; seq++) {
        const payload = Buffer.alloc(160, seq);
        const { buf, len } = rtpPacket(seq, 0xabcdef01, payload);
        const plain = Buffer.from(buf.subarray(0, len));
        const sl = tx.protect(buf, len);
        assert.equal(sl, len + tag);
        assert.deepEqual(buf.subarray(0, 12), plain.subarray(0, 12), 'header stays in the clear');
        assert.notDeepEqual(buf.subarray(12, len), plain.subarray(12), 'payload is encrypted');
        const r = rx.unprotect(buf, sl);
        assert.ok(r.ok, JSON.stringify(r));
        assert.deepEqual(buf.subarray(0, r.value), plain);
      }
      assert.equal(rx.dump().unprotectedRtp, 10);
    });
  }

  test('header with CSRCs and an extension: only the payload is encrypted, all of it authenticated', () => {
    const tx = new SrtpContext('AES_CM_128_HMAC_SHA1_80', MASTER_KEY, MASTER_SALT);
    const rx = new SrtpContext('AES_CM_128_HMAC_SHA1_80', MASTER_KEY, MASTER_SALT);
    // V=2 X=1 CC=1, one CSRC, extension of one word, then 4 bytes of payload.
    const plain = hex('91 00 0001 00000000 00000042 00000007 bede0001 11223344 aabbccdd');
    const buf = Buffer.alloc(plain.length + 10);
    plain.copy(buf);
    const len = tx.protect(buf, plain.length);
    assert.deepEqual(buf.subarray(0, 24), plain.subarray(0, 24));
    assert.notDeepEqual(buf.subarray(24, 28), plain.subarray(24, 28));
    buf[20] = buf[20]! ^ 1; // tamper with the extension
    assert.equal(rx.unprotect(buf, len).ok, false);
  });

  const tampers: Array<{ name: string; at: (len: number) => number }> = [
    { name: 'a payload bit', at: () => 20 },
    { name: 'the sequence number', at: () => 3 },
    { name: 'the SSRC', at: () => 11 },
    { name: 'the tag', at: (len) => len - 1 },
  ];
  for (const t of tampers) {
    test(`MUST discard with AUTHENTICATION FAILURE when ${t.name} is altered`, () => {
      const tx = new SrtpContext('AES_CM_128_HMAC_SHA1_80', MASTER_KEY, MASTER_SALT);
      const rx = new SrtpContext('AES_CM_128_HMAC_SHA1_80', MASTER_KEY, MASTER_SALT);
      const { buf, len } = rtpPacket(1, 7, Buffer.alloc(160, 0x55));
      const sl = tx.protect(buf, len);
      const at = t.at(sl);
      buf[at] = buf[at]! ^ 0x01;
      const r = rx.unprotect(buf, sl);
      assert.equal(r.ok, false);
      if (!r.ok) assert.equal(r.error.reason, 'auth');
      assert.equal(rx.dump().dropped.auth, 1);
    });
  }

  test('a wrong master key fails authentication and is counted', () => {
    const tx = new SrtpContext('AES_CM_128_HMAC_SHA1_80', MASTER_KEY, MASTER_SALT);
    const wrong = Buffer.from(MASTER_KEY);
    wrong[0] = wrong[0]! ^ 0xff;
    const rx = new SrtpContext('AES_CM_128_HMAC_SHA1_80', wrong, MASTER_SALT);
    for (let i = 0; i < 3; i++) {
      const { buf, len } = rtpPacket(i, 9, Buffer.alloc(160));
      const r = rx.unprotect(buf, tx.protect(buf, len));
      assert.equal(r.ok, false);
    }
    assert.equal(rx.dump().dropped.auth, 3);
    assert.deepEqual(rx.dump().receiveStreams, [], 'no state is kept for packets that never authenticated');
  });

  const shortCases: Array<{ name: string; bytes: Buffer; reason: string }> = [
    { name: 'empty', bytes: Buffer.alloc(0), reason: 'truncated' },
    {
      name: 'shorter than header + tag',
      bytes: hex('80 00 0001 00000000 00000001 0102'),
      reason: 'truncated',
    },
    { name: 'version 1', bytes: Buffer.alloc(40, 0x40), reason: 'not-rtp' },
    {
      name: 'CSRC list past the end',
      bytes: Buffer.concat([hex('8f 00 0001 00000000 00000001'), Buffer.alloc(12)]),
      reason: 'not-rtp',
    },
  ];
  for (const c of shortCases) {
    test(`unprotect refuses ${c.name} without throwing (${c.reason})`, () => {
      const rx = new SrtpContext('AES_CM_128_HMAC_SHA1_80', MASTER_KEY, MASTER_SALT);
      const r = rx.unprotect(c.bytes, c.bytes.length);
      assert.equal(r.ok, false);
      if (!r.ok) assert.equal(r.error.reason, c.reason);
    });
  }

  test('protect returns 0 for bytes that are not an RTP header, and throws only when the buffer has no room', () => {
    const tx = new SrtpContext('AES_CM_128_HMAC_SHA1_80', MASTER_KEY, MASTER_SALT);
    assert.equal(tx.protect(Buffer.alloc(30), 5), 0);
    const { buf, len } = rtpPacket(1, 1, Buffer.alloc(10), 0);
    assert.throws(() => tx.protect(buf, len), RangeError);
  });
});

describe('replay protection (RFC 3711 §3.3.2, 64-packet window)', () => {
  function pair(): { tx: SrtpContext; rx: SrtpContext } {
    return {
      tx: new SrtpContext('AES_CM_128_HMAC_SHA1_80', MASTER_KEY, MASTER_SALT),
      rx: new SrtpContext('AES_CM_128_HMAC_SHA1_80', MASTER_KEY, MASTER_SALT),
    };
  }
  function protectMany(tx: SrtpContext, seqs: number[]): Map<number, Buffer> {
    const out = new Map<number, Buffer>();
    for (const seq of seqs) {
      const { buf, len } = rtpPacket(seq, 0x5151, Buffer.alloc(20, seq & 0xff));
      out.set(seq, Buffer.from(buf.subarray(0, tx.protect(buf, len))));
    }
    return out;
  }
  const deliver = (rx: SrtpContext, p: Buffer): string => {
    const b = Buffer.from(p);
    const r = rx.unprotect(b, b.length);
    return r.ok ? 'ok' : r.error.reason;
  };

  test('MUST refuse a packet received twice', () => {
    const { tx, rx } = pair();
    const p = protectMany(tx, [10, 11]);
    assert.equal(deliver(rx, p.get(10)!), 'ok');
    assert.equal(deliver(rx, p.get(11)!), 'ok');
    assert.equal(deliver(rx, p.get(11)!), 'replay');
    assert.equal(deliver(rx, p.get(10)!), 'replay');
    assert.equal(rx.dump().dropped.replay, 2);
  });

  test('accepts reordered packets inside the window once each', () => {
    const { tx, rx } = pair();
    const seqs = Array.from({ length: 70 }, (_, i) => 1000 + i);
    const p = protectMany(tx, seqs);
    assert.equal(deliver(rx, p.get(1000)!), 'ok');
    assert.equal(deliver(rx, p.get(1050)!), 'ok');
    assert.equal(deliver(rx, p.get(1020)!), 'ok', '30 behind: inside the window');
    assert.equal(deliver(rx, p.get(1020)!), 'replay');
    assert.equal(deliver(rx, p.get(1060)!), 'ok');
    assert.equal(deliver(rx, p.get(1001)!), 'ok', '59 behind: still inside');
    assert.equal(deliver(rx, p.get(1069)!), 'ok');
    assert.equal(deliver(rx, p.get(1005)!), 'replay-old', '64 behind: left of the window');
  });

  test('MUST refuse a packet older than the window even if never seen', () => {
    const { tx, rx } = pair();
    const p = protectMany(tx, [1, 200]);
    assert.equal(deliver(rx, p.get(200)!), 'ok');
    assert.equal(deliver(rx, p.get(1)!), 'replay-old');
  });
});

describe('ROC and index estimation (RFC 3711 §3.3.1, Appendix A)', () => {
  const cases: Array<{ roc: number; sl: number; seq: number; v: number }> = [
    { roc: 0, sl: 100, seq: 101, v: 0 },
    { roc: 3, sl: 100, seq: 65000, v: 2 },
    { roc: 3, sl: 65500, seq: 10, v: 4 },
    { roc: 3, sl: 65500, seq: 65400, v: 3 },
    { roc: 3, sl: 40000, seq: 39000, v: 3 },
    { roc: 3, sl: 40000, seq: 7232, v: 3 },
    { roc: 3, sl: 40000, seq: 7231, v: 4 },
    { roc: 0, sl: 10, seq: 60000, v: -1 },
  ];
  for (const c of cases) {
    test(`ROC ${c.roc}, s_l ${c.sl}, SEQ ${c.seq} → v = ${c.v}`, () => {
      assert.equal(estimateRoc({ roc: c.roc, highest: c.sl }, c.seq), c.v);
    });
  }

  test('a stream crossing the 16-bit wrap keeps decrypting with ROC + 1, including a late packet from before the wrap', () => {
    const tx = new SrtpContext('AES_CM_128_HMAC_SHA1_80', MASTER_KEY, MASTER_SALT);
    const rx = new SrtpContext('AES_CM_128_HMAC_SHA1_80', MASTER_KEY, MASTER_SALT);
    const packets: Buffer[] = [];
    const plains: Buffer[] = [];
    for (let n = 65530; n < 65540; n++) {
      const { buf, len } = rtpPacket(n & 0xffff, 0x77, Buffer.alloc(40, n & 0xff));
      plains.push(Buffer.from(buf.subarray(0, len)));
      packets.push(Buffer.from(buf.subarray(0, tx.protect(buf, len))));
    }
    assert.equal(tx.dump().sendStreams[0]?.roc, 1);
    // Deliver with the packet of seq 65535 (index 5) after the wrap.
    const order = [0, 1, 2, 3, 4, 6, 7, 5, 8, 9];
    for (const i of order) {
      const b = Buffer.from(packets[i]!);
      const r = rx.unprotect(b, b.length);
      assert.ok(r.ok, `packet ${i}: ${JSON.stringify(r)}`);
      assert.deepEqual(b.subarray(0, r.value), plains[i]);
    }
    assert.deepEqual(
      rx.dump().receiveStreams.map((s) => [s.roc, s.highest]),
      [[1, 3]],
    );
  });

  test('a new SSRC (re-INVITE) starts its own ROC and replay window', () => {
    const tx = new SrtpContext('AES_CM_128_HMAC_SHA1_80', MASTER_KEY, MASTER_SALT);
    const rx = new SrtpContext('AES_CM_128_HMAC_SHA1_80', MASTER_KEY, MASTER_SALT);
    for (const [ssrc, seq] of [
      [1, 500],
      [1, 501],
      [2, 500],
      [2, 501],
    ] as const) {
      const { buf, len } = rtpPacket(seq, ssrc, Buffer.alloc(20));
      const r = rx.unprotect(buf, tx.protect(buf, len));
      assert.ok(r.ok, `ssrc ${ssrc} seq ${seq}`);
    }
    assert.equal(rx.dump().receiveStreams.length, 2);
  });
});

describe('SRTCP (RFC 3711 §3.4)', () => {
  test('MUST decrypt the libsrtp reference SRTCP packet (E=1, index 1)', () => {
    const rx = new SrtpContext('AES_CM_128_HMAC_SHA1_80', MASTER_KEY, MASTER_SALT);
    const b = hex('81c8000bcafebabe7128035be487b9bdbef89041f977a5a880000001993e08cd54d6c1230798');
    const r = rx.unprotectRtcp(b, b.length);
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(b.subarray(0, r.value).toString('hex'), '81c8000bcafebabe' + 'ab'.repeat(16));
  });

  test('first SRTCP packet carries index 0 with the E flag; index increments per packet; round trip', () => {
    const tx = new SrtpContext('AES_CM_128_HMAC_SHA1_80', MASTER_KEY, MASTER_SALT);
    const rx = new SrtpContext('AES_CM_128_HMAC_SHA1_80', MASTER_KEY, MASTER_SALT);
    const plain = hex('81c9000700000001 00000002 01000005 00001234 00000010 00000000 00000000');
    for (let i = 0; i < 3; i++) {
      const buf = Buffer.alloc(plain.length + 14);
      plain.copy(buf);
      const len = tx.protectRtcp(buf, plain.length);
      assert.equal(len, plain.length + 14);
      assert.equal(buf.readUInt32BE(plain.length), (0x80000000 | i) >>> 0);
      const r = rx.unprotectRtcp(buf, len);
      assert.ok(r.ok);
      assert.deepEqual(buf.subarray(0, r.value), plain);
    }
  });

  test('SRTCP replay and tamper are refused (SRTCP MUST NOT be used without authentication)', () => {
    const tx = new SrtpContext('AES_CM_128_HMAC_SHA1_32', MASTER_KEY, MASTER_SALT);
    const rx = new SrtpContext('AES_CM_128_HMAC_SHA1_32', MASTER_KEY, MASTER_SALT);
    const plain = hex('81c9000100000001');
    const buf = Buffer.alloc(40);
    plain.copy(buf);
    const len = tx.protectRtcp(buf, plain.length);
    assert.equal(len, 8 + 4 + 10, 'SRTCP keeps the 80-bit tag under the _32 suite');
    const copy = Buffer.from(buf.subarray(0, len));
    assert.ok(rx.unprotectRtcp(buf, len).ok);
    const again = rx.unprotectRtcp(Buffer.from(copy), len);
    assert.equal(again.ok ? 'ok' : again.error.reason, 'replay');
    copy[9] = copy[9]! ^ 4; // the index word
    const bad = rx.unprotectRtcp(copy, len);
    assert.equal(bad.ok ? 'ok' : bad.error.reason, 'auth');
  });
});
