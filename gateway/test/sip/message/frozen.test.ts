import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  createResponse,
  detachString,
  freezeIdentity,
  freezeRequest,
  freezeResponse,
  parseMessage,
  serializeMessage,
} from '../../../src/sip/message/index.ts';
import type { SipRequest } from '../../../src/sip/message/types.ts';

const sdp =
  'v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n';
const wire = Buffer.from(
  'INVITE sip:bob@biloxi.example SIP/2.0\r\n' +
    'Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-frozen-1\r\n' +
    'Via: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bK-older\r\n' +
    'Max-Forwards: 70\r\n' +
    'From: "Zoë" <sip:alice@atlanta.example>;tag=f1\r\n' +
    'To: <sip:bob@biloxi.example>\r\n' +
    'Call-ID: frozen-call-1@atlanta.example\r\n' +
    'CSeq: 7 INVITE\r\n' +
    'Authorization: Digest username="alice", realm="x", nonce="n", uri="sip:bob@biloxi.example", response="00"\r\n' +
    'Content-Type: application/sdp\r\n' +
    `Content-Length: ${sdp.length}\r\n\r\n${sdp}`,
);

function invite(): SipRequest {
  const parsed = parseMessage(wire);
  assert.ok(parsed.ok && parsed.value.kind === 'request');
  return parsed.value;
}

void describe('frozen messages: kept as their octets for retransmission', () => {
  const cases = [
    { name: 'request with a body and UTF-8 header text', make: () => invite(), freeze: freezeRequest },
    {
      name: '486 response',
      make: () => createResponse(invite(), 486, 'Busy Here', { toTag: 't1' }),
      freeze: freezeResponse,
    },
    {
      name: '200 response with SDP',
      make: () => createResponse(invite(), 200, 'OK', { toTag: 't2', body: Buffer.from(sdp) }),
      freeze: freezeResponse,
    },
  ] as const;
  for (const c of cases) {
    void test(`serializes to the same octets as the message it froze (${c.name})`, () => {
      const msg = c.make();
      const frozen = (c.freeze as (m: typeof msg) => typeof msg)(msg);
      assert.deepEqual(serializeMessage(frozen), serializeMessage(msg));
      assert.equal(frozen.kind, msg.kind);
      assert.equal(frozen.headers.get('call-id'), msg.headers.get('call-id'));
      assert.deepEqual(frozen.body, msg.body);
    });
  }

  void test('later changes to the original do not reach the frozen copy', () => {
    const res = createResponse(invite(), 486, 'Busy Here', { toTag: 't1' });
    const before = serializeMessage(res);
    const frozen = freezeResponse(res);
    res.headers.set('to', '<sip:changed@example>');
    assert.deepEqual(serializeMessage(frozen), before);
    assert.equal(freezeResponse(frozen), frozen, 'freezing a frozen message returns it');
  });

  void test('freezeIdentity keeps the start line, top Via, From, To, Call-ID and CSeq only', () => {
    const req = invite();
    const id = freezeIdentity(req);
    assert.equal(id.method, 'INVITE');
    assert.equal(id.uri, 'sip:bob@biloxi.example');
    assert.deepEqual(id.headers.getLines('via'), ['SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-frozen-1']);
    for (const name of ['from', 'to', 'call-id', 'cseq'])
      assert.equal(id.headers.get(name), req.headers.get(name), name);
    assert.equal(id.headers.has('authorization'), false);
    assert.equal(id.body.length, 0);
  });

  void test('detachString returns an equal string', () => {
    const text = 'Call-ID: a-long-call-identifier@example.com\r\n';
    for (const s of ['', 'short', text.slice(9, 44), 'Zoë and more than thirteen'])
      assert.equal(detachString(s), s);
  });
});
