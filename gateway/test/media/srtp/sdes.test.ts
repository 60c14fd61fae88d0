import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  chooseCrypto,
  formatCrypto,
  generateKeySalt,
  parseCrypto,
  splitKeySalt,
} from '../../../src/media/srtp/sdes.ts';
import { SrtpContext } from '../../../src/media/srtp/srtp.ts';

// RFC 4568 §4 example key.
const KEY = 'PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR';

describe('a=crypto parse (RFC 4568 §9.1)', () => {
  const good: Array<{ name: string; line: string; expect: Record<string, unknown> }> = [
    {
      name: 'the RFC 4568 §4 example with lifetime and MKI',
      line: `a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${KEY}|2^20|1:4`,
      expect: {
        tag: 1,
        suite: 'AES_CM_128_HMAC_SHA1_80',
        lifetime: 1048576,
        mki: { value: 1, length: 4 },
        sessionParams: [],
      },
    },
    {
      name: 'value without the a= prefix, _32 suite, no lifetime',
      line: `crypto:2 AES_CM_128_HMAC_SHA1_32 inline:${KEY}`,
      expect: {
        tag: 2,
        suite: 'AES_CM_128_HMAC_SHA1_32',
        lifetime: undefined,
        mki: undefined,
        sessionParams: [],
      },
    },
    {
      name: 'decimal lifetime and session parameters',
      line: `a=crypto:7 AES_CM_128_HMAC_SHA1_80 inline:${KEY}|1048576 KDR=0 WSH=128`,
      expect: { tag: 7, lifetime: 1048576, mki: undefined, sessionParams: ['KDR=0', 'WSH=128'] },
    },
    {
      name: 'MKI without lifetime',
      line: `a=crypto:3 AES_CM_128_HMAC_SHA1_80 inline:${KEY}|5:2`,
      expect: { tag: 3, lifetime: undefined, mki: { value: 5, length: 2 } },
    },
    {
      name: 'an unknown suite parses (choosing skips it)',
      line: 'a=crypto:4 F8_128_HMAC_SHA1_80 inline:AAAA',
      expect: { tag: 4, suite: 'F8_128_HMAC_SHA1_80' },
    },
  ];
  for (const c of good) {
    test(`parses ${c.name}`, () => {
      const r = parseCrypto(c.line);
      assert.ok(r.ok, JSON.stringify(r));
      const k = r.value.keys[0]!;
      const got: Record<string, unknown> = { ...r.value, lifetime: k.lifetime, mki: k.mki };
      for (const [f, v] of Object.entries(c.expect)) assert.deepEqual(got[f], v, f);
    });
  }

  const bad: Array<{ name: string; line: string; code: string }> = [
    { name: 'empty', line: '', code: 'EDGE_ERR_SDES_SYNTAX' },
    { name: 'missing key-params', line: 'a=crypto:1 AES_CM_128_HMAC_SHA1_80', code: 'EDGE_ERR_SDES_SYNTAX' },
    {
      name: 'tag not digits',
      line: `a=crypto:x AES_CM_128_HMAC_SHA1_80 inline:${KEY}`,
      code: 'EDGE_ERR_SDES_TAG',
    },
    {
      name: 'tag of 10 digits',
      line: `a=crypto:1234567890 AES_CM_128_HMAC_SHA1_80 inline:${KEY}`,
      code: 'EDGE_ERR_SDES_TAG',
    },
    { name: 'suite with punctuation', line: `a=crypto:1 AES-CM inline:${KEY}`, code: 'EDGE_ERR_SDES_SUITE' },
    {
      name: 'key method not inline',
      line: `a=crypto:1 AES_CM_128_HMAC_SHA1_80 uri:${KEY}`,
      code: 'EDGE_ERR_SDES_KEY',
    },
    {
      name: 'no colon in key-param',
      line: 'a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline',
      code: 'EDGE_ERR_SDES_KEY',
    },
    {
      name: 'not base64',
      line: 'a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:!!!notbase64!!!',
      code: 'EDGE_ERR_SDES_KEY',
    },
    {
      name: 'key||salt of 29 bytes',
      line: `a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${Buffer.alloc(29).toString('base64')}`,
      code: 'EDGE_ERR_SDES_KEY',
    },
    {
      name: 'MKI length 0',
      line: `a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${KEY}|1:0`,
      code: 'EDGE_ERR_SDES_KEY',
    },
    {
      name: 'MKI length 200',
      line: `a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${KEY}|1:200`,
      code: 'EDGE_ERR_SDES_KEY',
    },
    {
      name: 'garbage key-info field',
      line: `a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${KEY}|junk`,
      code: 'EDGE_ERR_SDES_KEY',
    },
    {
      name: 'two MKIs',
      line: `a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${KEY}|1:4|2:4`,
      code: 'EDGE_ERR_SDES_KEY',
    },
  ];
  for (const c of bad) {
    test(`refuses ${c.name} (${c.code})`, () => {
      const r = parseCrypto(c.line);
      assert.equal(r.ok, false);
      if (!r.ok) assert.equal(r.error.code, c.code);
    });
  }
});

describe('choosing a suite from an offer (RFC 4568 §7.1)', () => {
  const both = ['AES_CM_128_HMAC_SHA1_80', 'AES_CM_128_HMAC_SHA1_32'] as const;
  const cases: Array<{
    name: string;
    offer: string[];
    allowed: readonly ('AES_CM_128_HMAC_SHA1_80' | 'AES_CM_128_HMAC_SHA1_32')[];
    tag?: number;
  }> = [
    {
      name: 'the first usable line in offer order',
      offer: [
        `a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${KEY}`,
        `a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:${KEY}`,
      ],
      allowed: both,
      tag: 1,
    },
    {
      name: 'skips a suite policy does not allow',
      offer: [
        `a=crypto:1 AES_CM_128_HMAC_SHA1_32 inline:${KEY}`,
        `a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:${KEY}`,
      ],
      allowed: ['AES_CM_128_HMAC_SHA1_80'],
      tag: 2,
    },
    {
      name: 'skips malformed, MKI, KDR≠0 and UNENCRYPTED_SRTP lines',
      offer: [
        'a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:short',
        `a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:${KEY}|2^20|1:4`,
        `a=crypto:3 AES_CM_128_HMAC_SHA1_80 inline:${KEY} KDR=24`,
        `a=crypto:4 AES_CM_128_HMAC_SHA1_80 inline:${KEY} UNENCRYPTED_SRTP`,
        `a=crypto:5 AES_CM_128_HMAC_SHA1_80 inline:${KEY}|2^31 KDR=0`,
      ],
      allowed: both,
      tag: 5,
    },
    { name: 'nothing offered → error (488)', offer: [], allowed: both },
    {
      name: 'only unknown suites → error (488)',
      offer: ['a=crypto:1 AEAD_AES_256_GCM inline:AAAA'],
      allowed: both,
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const r = chooseCrypto(c.offer, c.allowed);
      if (c.tag === undefined) {
        assert.equal(r.ok, false);
        if (!r.ok) assert.equal(r.error.code, 'EDGE_ERR_SDES_NO_SUITE');
      } else {
        assert.ok(r.ok, JSON.stringify(r));
        assert.equal(r.value.tag, c.tag);
        assert.equal(r.value.remoteKeySalt.length, 30);
      }
    });
  }
});

describe('our key and answer', () => {
  test('generateKeySalt gives 30 random bytes; formatCrypto round-trips through parseCrypto', () => {
    const k = generateKeySalt('AES_CM_128_HMAC_SHA1_80');
    assert.equal(k.length, 30);
    assert.notDeepEqual(k, generateKeySalt('AES_CM_128_HMAC_SHA1_80'));
    const line = formatCrypto(1, 'AES_CM_128_HMAC_SHA1_80', k);
    assert.match(line, /^crypto:1 AES_CM_128_HMAC_SHA1_80 inline:[A-Za-z0-9+/]{40}$/);
    const p = parseCrypto(line);
    assert.ok(p.ok);
    assert.deepEqual(p.value.keys[0]?.keySalt, k);
  });

  test('an offer key and our answer key make two working SRTP contexts', () => {
    const offer = generateKeySalt('AES_CM_128_HMAC_SHA1_80');
    const chosen = chooseCrypto(
      [`a=${formatCrypto(1, 'AES_CM_128_HMAC_SHA1_80', offer)}`],
      ['AES_CM_128_HMAC_SHA1_80'],
    );
    assert.ok(chosen.ok);
    const { masterKey, masterSalt } = splitKeySalt(chosen.value.suite, chosen.value.remoteKeySalt);
    const peerTx = new SrtpContext('AES_CM_128_HMAC_SHA1_80', offer.subarray(0, 16), offer.subarray(16));
    const ourRx = new SrtpContext(chosen.value.suite, masterKey, masterSalt);
    const buf = Buffer.alloc(64);
    buf[0] = 0x80;
    buf.writeUInt32BE(42, 8);
    const r = ourRx.unprotect(buf, peerTx.protect(buf, 32));
    assert.ok(r.ok);
  });
});
