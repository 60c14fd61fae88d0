import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  audioStream,
  codecsForFarOffer,
  codecsForOffererAnswer,
  legPayloadTypes,
  rewriteForFarLeg,
} from '../../../src/media/sdp/sdp-anchor.ts';
import {
  codecsOf,
  parseSdp,
  serializeSdp,
  type SdpCodec,
  type SdpSession,
} from '../../../src/media/sdp/sdp.ts';

const OFFER = [
  'v=0',
  'o=alice 100 1 IN IP4 192.0.2.10',
  's=-',
  'c=IN IP4 192.0.2.10',
  't=0 0',
  'm=audio 49170 RTP/AVP 0 8 18 101',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:8 PCMA/8000',
  'a=rtpmap:18 G729/8000',
  'a=rtpmap:101 telephone-event/8000',
  'a=fmtp:101 0-16',
  'a=rtcp:49171',
  'a=candidate:1 1 UDP 2130706431 192.0.2.10 49170 typ host',
  'a=sendrecv',
  'm=video 51372 RTP/AVP 31',
  '',
].join('\r\n');

function parse(text: string): SdpSession {
  const p = parseSdp(text);
  assert.ok(p.ok);
  return p.value;
}
const names = (cs: readonly SdpCodec[]) => cs.map((c) => `${c.payloadType}:${c.name}`);
const ALL = ['PCMU', 'PCMA', 'telephone-event'];

describe('SDP anchoring policy (RFC 3264 offer/answer through the gateway)', () => {
  test('the anchored stream is the first audio m= line; RTCP port from a=rtcp (RFC 3605), hold address is no remote', () => {
    const s = audioStream(parse(OFFER));
    assert.deepEqual(s?.remote, { address: '192.0.2.10', port: 49170 });
    assert.deepEqual(s?.remoteRtcp, { address: '192.0.2.10', port: 49171 });
    const held = audioStream(parse(OFFER.replace('c=IN IP4 192.0.2.10', 'c=IN IP4 0.0.0.0')));
    assert.equal(held?.remote, undefined);
  });

  const farTable: Array<{
    rule: string;
    near: string[];
    far: string[];
    offered: string;
    expect: string[] | 488;
  }> = [
    {
      rule: 'same policy: offerer order kept, codecs we do not handle dropped',
      near: ALL,
      far: ALL,
      offered: '0 8 18 101',
      expect: ['0:PCMU', '8:PCMA', '101:telephone-event'],
    },
    {
      rule: 'far side µ-law only',
      near: ALL,
      far: ['PCMU', 'telephone-event'],
      offered: '0 8 18 101',
      expect: ['0:PCMU', '101:telephone-event'],
    },
    {
      rule: 'A-law offered, far side µ-law only: µ-law added for transcoding',
      near: ALL,
      far: ['PCMU'],
      offered: '8 101',
      expect: ['0:PCMU'],
    },
    {
      rule: 'µ-law offered, A-law policy on both: A-law added before telephone-event',
      near: ['PCMU', 'PCMA', 'telephone-event'],
      far: ['PCMA', 'telephone-event'],
      offered: '0 101',
      expect: ['8:PCMA', '101:telephone-event'],
    },
    { rule: 'no common codec: 488', near: ALL, far: ALL, offered: '18', expect: 488 },
    { rule: 'telephone-event alone is no audio: 488', near: ALL, far: ALL, offered: '101', expect: 488 },
  ];
  for (const row of farTable) {
    test(`far offer: ${row.rule}`, () => {
      const s = parse(
        OFFER.replace('m=audio 49170 RTP/AVP 0 8 18 101', `m=audio 49170 RTP/AVP ${row.offered}`),
      );
      const r = codecsForFarOffer(codecsOf(s.media[0] ?? s.media[1]!), row.near, row.far);
      if (row.expect === 488) {
        assert.ok(!r.ok);
        assert.equal(r.error.status, 488);
      } else {
        assert.ok(r.ok);
        assert.deepEqual(names(r.value.far), row.expect);
      }
    });
  }

  const PCMU: SdpCodec = { payloadType: 0, name: 'PCMU', clockRate: 8000 };
  const PCMA: SdpCodec = { payloadType: 8, name: 'PCMA', clockRate: 8000 };
  const TE: SdpCodec = { payloadType: 101, name: 'telephone-event', clockRate: 8000, fmtp: '0-16' };
  const TE96: SdpCodec = { payloadType: 96, name: 'telephone-event', clockRate: 8000, fmtp: '0-15' };
  const answerTable: Array<{ rule: string; near: SdpCodec[]; answered: SdpCodec[]; expect: string[] }> = [
    {
      rule: 'answerer’s law offered by the offerer: no transcoding',
      near: [PCMU, PCMA, TE],
      answered: [PCMA, TE96],
      expect: ['8:PCMA', '101:telephone-event'],
    },
    {
      rule: 'answerer’s law not offered: the other law (transcoded)',
      near: [PCMA, TE],
      answered: [PCMU],
      expect: ['8:PCMA'],
    },
    {
      rule: 'telephone-event only when both sides have it',
      near: [PCMU, TE],
      answered: [PCMU],
      expect: ['0:PCMU'],
    },
  ];
  for (const row of answerTable) {
    test(`answer to the offerer: ${row.rule}`, () => {
      const r = codecsForOffererAnswer(row.near, row.answered);
      assert.ok(r.ok);
      assert.deepEqual(names(r.value), row.expect);
    });
  }

  test('payload type tables per leg', () => {
    assert.deepEqual(legPayloadTypes([PCMA, PCMU, TE96]), {
      pcmu: 0,
      pcma: 8,
      telephoneEvent: 96,
      sendLaw: 'pcma',
    });
    assert.deepEqual(legPayloadTypes([]), { pcmu: -1, pcma: -1, telephoneEvent: -1, sendLaw: null });
  });

  test('rewrite: c=, o= and m= point at us; other streams disabled; ICE and a=rtcp removed; direction kept', () => {
    const s = parse(OFFER);
    const stream = audioStream(s);
    assert.ok(stream);
    const out = serializeSdp(
      rewriteForFarLeg(s, stream, { address: '203.0.113.5', rtpPort: 30000 }, [PCMU, TE]),
    );
    assert.match(out, /^o=alice 100 1 IN IP4 203\.0\.113\.5\r$/m);
    assert.match(out, /^c=IN IP4 203\.0\.113\.5\r$/m);
    assert.match(out, /^m=audio 30000 RTP\/AVP 0 101\r$/m);
    assert.match(out, /^a=fmtp:101 0-16\r$/m);
    assert.match(out, /^m=video 0 RTP\/AVP 31\r$/m);
    assert.match(out, /^a=sendrecv\r$/m);
    assert.doesNotMatch(out, /a=rtcp|a=candidate|192\.0\.2\.10|G729/);
    const held = parse(OFFER.replace('c=IN IP4 192.0.2.10', 'c=IN IP4 0.0.0.0'));
    const heldOut = serializeSdp(
      rewriteForFarLeg(held, audioStream(held)!, { address: '203.0.113.5', rtpPort: 30000 }, [PCMU]),
    );
    assert.match(heldOut, /^c=IN IP4 0\.0\.0\.0\r$/m, 'RFC 2543 hold stays visible (RFC 3264 §8.4)');
  });
});
