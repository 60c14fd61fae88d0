import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  answerDirection,
  bumpSdpVersion,
  bumpVersion,
  codecsOf,
  createAudioOffer,
  cryptoOf,
  directionOf,
  isHold,
  negotiateCodecs,
  parseSdp,
  ptimeOf,
  serializeSdp,
  withDirection,
} from '../../../src/media/sdp/sdp.ts';
import type { SdpDirection, SdpSession } from '../../../src/media/sdp/sdp.ts';

const crlf = (lines: string[]): string => lines.join('\r\n') + '\r\n';

/** As sent by baresip 1.x (session-level c=, several codecs, telephone-event, a=rtcp-mux). */
const baresip = crlf([
  'v=0',
  'o=- 1855216470 2047962404 IN IP4 192.168.1.20',
  's=-',
  'c=IN IP4 192.168.1.20',
  't=0 0',
  'm=audio 10010 RTP/AVP 96 9 0 8 101',
  'b=AS:64',
  'a=rtpmap:96 opus/48000/2',
  'a=fmtp:96 stereo=1;sprop-stereo=1',
  'a=rtpmap:9 G722/8000',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:8 PCMA/8000',
  'a=rtpmap:101 telephone-event/8000',
  'a=fmtp:101 0-15',
  'a=rtcp-mux',
  'a=sendrecv',
  'a=label:1',
  'a=ssrc:2810134624 cname:e6b1c9bd-1f4e-4a6c',
]);

/** SIPp uac.xml style: media-level c=, static payload type without rtpmap. */
const sipp = crlf([
  'v=0',
  'o=user1 53655765 2353687637 IN IP4 127.0.0.1',
  's=-',
  't=0 0',
  'm=audio 6000 RTP/AVP 0',
  'c=IN IP4 127.0.0.1',
  'a=rtpmap:0 PCMU/8000',
]);

/** SDES-SRTP (RFC 4568) offer with two crypto lines and a video stream. */
const withCrypto = crlf([
  'v=0',
  'o=alice 2890844526 2890844527 IN IP4 host.example.com',
  's=call',
  'i=A call',
  'c=IN IP4 203.0.113.10',
  'b=CT:384',
  't=0 0',
  'a=tool:phone 2.1',
  'm=audio 49170 RTP/SAVP 8 0 101',
  'a=rtpmap:8 PCMA/8000',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:101 telephone-event/8000',
  'a=fmtp:101 0-16',
  'a=ptime:20',
  'a=rtcp:49171 IN IP4 203.0.113.10',
  'a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20|1:32',
  'a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj|2^20|1:32 UNENCRYPTED_SRTCP',
  'm=video 51372 RTP/SAVP 99',
  'a=rtpmap:99 H264/90000',
  'a=recvonly',
]);

function parsed(text: string): SdpSession {
  const r = parseSdp(text);
  assert.ok(r.ok, r.ok ? '' : `${r.error.field}: ${r.error.message}`);
  return r.value;
}

void describe('SDP parse/serialize (RFC 8866)', () => {
  for (const [name, text] of [
    ['baresip', baresip],
    ['SIPp', sipp],
    ['SDES crypto + video', withCrypto],
  ] as const) {
    void test(`round-trips a ${name} description byte for byte`, () => {
      assert.equal(serializeSdp(parsed(text)), text);
    });
  }

  void test('accepts bare LF line ends and serializes with CRLF', () => {
    const s = parsed(sipp.replace(/\r\n/g, '\n'));
    assert.equal(serializeSdp(s), sipp);
  });

  void test('exposes origin, connections and codecs as plain data', () => {
    const s = parsed(baresip);
    assert.equal(s.origin.sessVersion, '2047962404');
    assert.equal(s.connection?.address, '192.168.1.20');
    const m = s.media[0];
    assert.ok(m);
    assert.deepEqual(
      codecsOf(m).map((c) => [c.payloadType, c.name, c.clockRate, c.channels ?? null, c.fmtp ?? null]),
      [
        [96, 'opus', 48000, 2, 'stereo=1;sprop-stereo=1'],
        [9, 'G722', 8000, null, null],
        [0, 'PCMU', 8000, null, null],
        [8, 'PCMA', 8000, null, null],
        [101, 'telephone-event', 8000, null, '0-15'],
      ],
    );
    assert.equal(JSON.stringify(JSON.parse(JSON.stringify(s))), JSON.stringify(s), 'plain JSON');
  });

  void test('reads ptime and RFC 4568 crypto attributes', () => {
    const m = parsed(withCrypto).media[0];
    assert.ok(m);
    assert.equal(ptimeOf(m), 20);
    assert.deepEqual(
      cryptoOf(m).map((c) => [c.tag, c.suite, c.sessionParams]),
      [
        [1, 'AES_CM_128_HMAC_SHA1_80', []],
        [2, 'AES_CM_128_HMAC_SHA1_32', ['UNENCRYPTED_SRTCP']],
      ],
    );
  });

  const malformed: { name: string; text: string; field: string }[] = [
    { name: 'empty body', text: '', field: 'v=' },
    { name: 'not starting with v=', text: crlf(['o=- 1 1 IN IP4 1.2.3.4', 'v=0']), field: 'o= line 1' },
    {
      name: 'o= with five fields',
      text: crlf(['v=0', 'o=- 1 1 IN IP4', 's=-', 't=0 0']),
      field: 'o= line 2',
    },
    {
      name: 'non-numeric sess-version',
      text: crlf(['v=0', 'o=- 1 x IN IP4 1.2.3.4', 's=-', 't=0 0']),
      field: 'o= line 2',
    },
    { name: 'missing s=', text: crlf(['v=0', 'o=- 1 1 IN IP4 1.2.3.4', 't=0 0']), field: 's=' },
    { name: 'missing t=', text: crlf(['v=0', 'o=- 1 1 IN IP4 1.2.3.4', 's=-']), field: 't=' },
    {
      name: 'm= without formats',
      text: crlf([
        'v=0',
        'o=- 1 1 IN IP4 1.2.3.4',
        's=-',
        'c=IN IP4 1.2.3.4',
        't=0 0',
        'm=audio 4000 RTP/AVP',
      ]),
      field: 'm= line 6',
    },
    {
      name: 'm= with a port above 65535',
      text: crlf([
        'v=0',
        'o=- 1 1 IN IP4 1.2.3.4',
        's=-',
        'c=IN IP4 1.2.3.4',
        't=0 0',
        'm=audio 70000 RTP/AVP 0',
      ]),
      field: 'm= line 6',
    },
    {
      name: 'media without any c=',
      text: crlf(['v=0', 'o=- 1 1 IN IP4 1.2.3.4', 's=-', 't=0 0', 'm=audio 4000 RTP/AVP 0']),
      field: 'c=',
    },
    {
      name: 'c= with two fields',
      text: crlf(['v=0', 'o=- 1 1 IN IP4 1.2.3.4', 's=-', 'c=IN 1.2.3.4', 't=0 0']),
      field: 'c= line 4',
    },
    { name: 'whitespace around =', text: crlf(['v=0', 'o =- 1 1 IN IP4 1.2.3.4']), field: 'line 2' },
    {
      name: 'unknown type letter',
      text: crlf(['v=0', 'o=- 1 1 IN IP4 1.2.3.4', 's=-', 'c=IN IP4 1.2.3.4', 't=0 0', 'x=what']),
      field: 'x= line 6',
    },
  ];
  for (const c of malformed) {
    void test(`rejects malformed SDP naming the field: ${c.name}`, () => {
      const r = parseSdp(c.text);
      assert.equal(r.ok, false);
      if (!r.ok) assert.equal(r.error.field, c.field);
    });
  }
});

void describe('direction and hold (RFC 3264 §5.1, §8.4)', () => {
  void test('media-level direction overrides session level; the default is sendrecv', () => {
    const s = parsed(withCrypto);
    const [audio, video] = s.media;
    assert.ok(audio && video);
    assert.equal(directionOf(audio, s), 'sendrecv');
    assert.equal(directionOf(video, s), 'recvonly');
    const sessionLevel = parsed(sipp.replace('t=0 0\r\n', 't=0 0\r\na=inactive\r\n'));
    assert.equal(directionOf(sessionLevel.media[0]!, sessionLevel), 'inactive');
  });

  const holds: { name: string; sdp: SdpSession; hold: boolean }[] = [
    { name: 'sendrecv', sdp: parsed(baresip), hold: false },
    { name: 'sendonly', sdp: withDirection(parsed(baresip), 'sendonly'), hold: true },
    { name: 'inactive', sdp: withDirection(parsed(sipp), 'inactive'), hold: true },
    {
      name: 'recvonly (the far end holding us is not our hold offer)',
      sdp: withDirection(parsed(sipp), 'recvonly'),
      hold: false,
    },
    {
      name: 'RFC 2543 c=0.0.0.0',
      sdp: parsed(sipp.replace('c=IN IP4 127.0.0.1', 'c=IN IP4 0.0.0.0')),
      hold: true,
    },
    {
      name: 'session-level c=0.0.0.0 with sendrecv',
      sdp: parsed(baresip.replace('c=IN IP4 192.168.1.20', 'c=IN IP4 0.0.0.0')),
      hold: true,
    },
  ];
  for (const c of holds) {
    void test(`isHold: ${c.name} → ${c.hold}`, () => {
      assert.equal(isHold(c.sdp), c.hold);
    });
  }

  void test('withDirection replaces the direction without touching the original', () => {
    const s = parsed(baresip);
    const held = withDirection(s, 'sendonly');
    assert.equal(directionOf(held.media[0]!, held), 'sendonly');
    assert.equal(directionOf(s.media[0]!, s), 'sendrecv');
    assert.equal(
      held.media[0]!.attributes.filter((a) => a.name === 'sendonly' || a.name === 'sendrecv').length,
      1,
    );
  });

  const answers: [SdpDirection, SdpDirection, SdpDirection][] = [
    ['sendrecv', 'sendrecv', 'sendrecv'],
    ['sendonly', 'sendrecv', 'recvonly'],
    ['recvonly', 'sendrecv', 'sendonly'],
    ['inactive', 'sendrecv', 'inactive'],
    ['sendrecv', 'sendonly', 'sendonly'],
    ['sendonly', 'sendonly', 'inactive'],
  ];
  for (const [offered, wanted, answer] of answers) {
    void test(`answer direction to ${offered} when we want ${wanted} is ${answer} (RFC 3264 §6.1)`, () => {
      assert.equal(answerDirection(offered, wanted), answer);
    });
  }
});

void describe('re-offers (RFC 3264 §8)', () => {
  void test('MUST increment the o= version by one, keeping the rest of o=', () => {
    const s = parsed(baresip);
    assert.deepEqual(bumpVersion(s.origin), { ...s.origin, sessVersion: '2047962405' });
    const big = { ...s.origin, sessVersion: '18446744073709551615' };
    assert.equal(bumpVersion(big).sessVersion, '18446744073709551616');
    const again = bumpSdpVersion(s);
    assert.equal(again.origin.sessVersion, '2047962405');
    assert.equal(s.origin.sessVersion, '2047962404');
  });
});

void describe('codec negotiation (RFC 3264 §6)', () => {
  const supported = ['PCMU', 'PCMA', 'telephone-event'];

  void test('keeps the offer’s payload types and order for the common codecs, with telephone-event', () => {
    const r = negotiateCodecs(parsed(baresip), supported, { rtpPort: 30000 });
    assert.ok(r.ok);
    const m = r.media[0];
    assert.ok(m);
    assert.deepEqual(m.formats, ['0', '8', '101']);
    assert.equal(m.port, 30000);
    assert.equal(r.chosen[0]?.name, 'PCMU');
    assert.deepEqual(
      m.attributes.map((a) => (a.value === null ? a.name : `${a.name}:${a.value}`)),
      [
        'rtpmap:0 PCMU/8000',
        'rtpmap:8 PCMA/8000',
        'rtpmap:101 telephone-event/8000',
        'fmtp:101 0-15',
        'sendrecv',
      ],
    );
  });

  void test('rejects the unusable stream with port 0 and answers every m= line in order', () => {
    const r = negotiateCodecs(parsed(withCrypto), supported, { rtpPort: 30000 });
    assert.ok(r.ok);
    assert.deepEqual(
      r.media.map((m) => [m.type, m.port, m.proto]),
      [
        ['audio', 30000, 'RTP/SAVP'],
        ['video', 0, 'RTP/SAVP'],
      ],
    );
    assert.equal(r.chosen[0]?.name, 'PCMA', 'the offerer’s first common codec');
    assert.equal(r.chosen[1], null);
    assert.equal(r.media[0]?.attributes.find((a) => a.name === 'ptime')?.value, '20');
  });

  void test('answers a hold (sendonly) offer with recvonly', () => {
    const r = negotiateCodecs(withDirection(parsed(sipp), 'sendonly'), supported, { rtpPort: 4000 });
    assert.ok(r.ok);
    assert.ok(r.media[0]?.attributes.some((a) => a.name === 'recvonly'));
  });

  const noCommon: { name: string; sdp: string }[] = [
    {
      name: 'only opus and G722',
      sdp: baresip.replace('m=audio 10010 RTP/AVP 96 9 0 8 101', 'm=audio 10010 RTP/AVP 96 9'),
    },
    {
      name: 'telephone-event alone',
      sdp: baresip.replace('m=audio 10010 RTP/AVP 96 9 0 8 101', 'm=audio 10010 RTP/AVP 101'),
    },
    { name: 'a stream already rejected (port 0)', sdp: sipp.replace('m=audio 6000', 'm=audio 0') },
  ];
  for (const c of noCommon) {
    void test(`fails with 488 when no stream has a common codec: ${c.name}`, () => {
      const r = negotiateCodecs(parsed(c.sdp), supported);
      assert.equal(r.ok, false);
      if (!r.ok) assert.equal(r.status, 488);
    });
  }

  void test('our own audio offer parses back and negotiates against itself', () => {
    const offer = createAudioOffer({
      address: '192.0.2.1',
      sessId: '42',
      rtpPort: 20000,
      codecs: supported,
      ptimeMs: 20,
    });
    const text = serializeSdp(offer);
    assert.match(text, /^m=audio 20000 RTP\/AVP 0 8 101\r$/m);
    const back = parsed(text);
    const r = negotiateCodecs(back, ['PCMA', 'telephone-event'], { rtpPort: 20002 });
    assert.ok(r.ok);
    assert.deepEqual(r.media[0]?.formats, ['8', '101']);
  });
});
