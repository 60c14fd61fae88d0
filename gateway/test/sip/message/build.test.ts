import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  createErrorResponse,
  createResponse,
  generateBranch,
  generateCallId,
  generateTag,
  reasonPhrase,
} from '../../../src/sip/message/build.ts';
import { getTag } from '../../../src/sip/message/headers.ts';
import { parseMessage } from '../../../src/sip/message/parse.ts';
import { serializeMessage } from '../../../src/sip/message/serialize.ts';
import type { SipRequest } from '../../../src/sip/message/types.ts';

function req(extra: string[] = [], to = 'Bob <sip:bob@biloxi.com>'): SipRequest {
  const text = [
    'INVITE sip:bob@biloxi.com SIP/2.0',
    'Via: SIP/2.0/UDP proxy.biloxi.com;branch=z9hG4bKnashds8',
    'Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds, SIP/2.0/TCP [2001:db8::1];branch=z9hG4bKx',
    'Max-Forwards: 70',
    `To: ${to}`,
    'From: Alice <sip:alice@atlanta.com>;tag=1928301774',
    'Call-ID: a84b4c76e66710@pc33.atlanta.com',
    'CSeq: 314159 INVITE',
    'Contact: <sip:alice@pc33.atlanta.com>',
    ...extra,
    '',
    '',
  ].join('\r\n');
  const r = parseMessage(Buffer.from(text));
  assert.ok(r.ok && r.value.kind === 'request');
  return r.value;
}

void describe('createResponse (RFC 3261 §8.2.6)', () => {
  void test('copies all Via values in order, From, To, Call-ID and CSeq, and nothing else', () => {
    const q = req(['Timestamp: 54', 'Subject: x']);
    const r = createResponse(q, 180);
    assert.deepEqual(r.headers.getLines('via'), q.headers.getLines('via'));
    assert.deepEqual(r.headers.getList('via'), q.headers.getList('via'));
    for (const h of ['from', 'to', 'call-id', 'cseq']) assert.equal(r.headers.get(h), q.headers.get(h));
    assert.deepEqual(
      [...r.headers.entries()].map(([n]) => n),
      ['via', 'via', 'from', 'to', 'call-id', 'cseq'],
    );
    assert.equal(r.reason, 'Ringing');
    assert.equal(r.body.length, 0);
  });
  void test('adds the To tag when the request had none', () => {
    const r = createResponse(req(), 200, undefined, { toTag: 'a6c85cf' });
    assert.equal(r.headers.get('to'), 'Bob <sip:bob@biloxi.com>;tag=a6c85cf');
    assert.equal(getTag(r.headers.get('to') ?? ''), 'a6c85cf');
  });
  void test('keeps the To tag of the request (in-dialog) instead of adding one', () => {
    const r = createResponse(req([], 'Bob <sip:bob@biloxi.com>;tag=existing'), 200, undefined, {
      toTag: 'other',
    });
    assert.equal(getTag(r.headers.get('to') ?? ''), 'existing');
  });
  void test('100 Trying copies Timestamp (§8.2.6.1); other responses do not', () => {
    assert.equal(createResponse(req(['Timestamp: 54']), 100).headers.get('timestamp'), '54');
    assert.equal(createResponse(req(['Timestamp: 54']), 180).headers.get('timestamp'), undefined);
  });
  void test('adds extra headers, body and Content-Type, and serializes with a correct Content-Length', () => {
    const body = Buffer.from('v=0\r\n');
    const r = createResponse(req(), 200, 'Fine', {
      toTag: 't',
      headers: [
        ['Contact', '<sip:bob@192.0.2.4>'],
        ['Allow', 'INVITE, ACK'],
      ],
      body,
    });
    assert.equal(r.reason, 'Fine');
    assert.equal(r.headers.get('content-type'), 'application/sdp');
    assert.equal(r.headers.get('allow'), 'INVITE, ACK');
    const again = parseMessage(serializeMessage(r));
    assert.ok(again.ok);
    assert.equal(again.value.headers.get('content-length'), String(body.length));
    assert.equal(again.value.body.toString(), 'v=0\r\n');
  });
  void test('reason phrases cover the RFC 3261 codes and fall back to the class for unknown codes', () => {
    const table: Array<[number, string]> = [
      [100, 'Trying'],
      [180, 'Ringing'],
      [181, 'Call Is Being Forwarded'],
      [182, 'Queued'],
      [183, 'Session Progress'],
      [200, 'OK'],
      [300, 'Multiple Choices'],
      [301, 'Moved Permanently'],
      [302, 'Moved Temporarily'],
      [305, 'Use Proxy'],
      [380, 'Alternative Service'],
      [400, 'Bad Request'],
      [401, 'Unauthorized'],
      [402, 'Payment Required'],
      [403, 'Forbidden'],
      [404, 'Not Found'],
      [405, 'Method Not Allowed'],
      [406, 'Not Acceptable'],
      [407, 'Proxy Authentication Required'],
      [408, 'Request Timeout'],
      [410, 'Gone'],
      [413, 'Request Entity Too Large'],
      [414, 'Request-URI Too Long'],
      [415, 'Unsupported Media Type'],
      [416, 'Unsupported URI Scheme'],
      [420, 'Bad Extension'],
      [421, 'Extension Required'],
      [423, 'Interval Too Brief'],
      [480, 'Temporarily Unavailable'],
      [481, 'Call/Transaction Does Not Exist'],
      [482, 'Loop Detected'],
      [483, 'Too Many Hops'],
      [484, 'Address Incomplete'],
      [485, 'Ambiguous'],
      [486, 'Busy Here'],
      [487, 'Request Terminated'],
      [488, 'Not Acceptable Here'],
      [491, 'Request Pending'],
      [493, 'Undecipherable'],
      [500, 'Server Internal Error'],
      [501, 'Not Implemented'],
      [502, 'Bad Gateway'],
      [503, 'Service Unavailable'],
      [504, 'Server Time-out'],
      [505, 'Version Not Supported'],
      [513, 'Message Too Large'],
      [600, 'Busy Everywhere'],
      [603, 'Decline'],
      [604, 'Does Not Exist Anywhere'],
      [606, 'Not Acceptable'],
      [199, 'Early Dialog Terminated'],
      [299, 'OK'],
      [499, 'Client Error'],
      [599, 'Server Error'],
      [699, 'Global Failure'],
    ];
    for (const [code, phrase] of table) assert.equal(reasonPhrase(code), phrase, String(code));
  });
});

void describe('createErrorResponse', () => {
  void test('answers a refused request from its partial headers', () => {
    const text =
      'OPTIONS sip:a@b SIP/3.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:c@d>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\n\r\n';
    const r = parseMessage(Buffer.from(text));
    assert.ok(!r.ok);
    const res = createErrorResponse(r.error);
    assert.equal(res?.status, 505);
    assert.equal(res?.headers.get('call-id'), 'c1');
    assert.equal(res?.headers.get('via'), 'SIP/2.0/UDP h;branch=z9hG4bK1');
  });
  void test('gives nothing for an error that must be dropped', () => {
    const r = parseMessage(Buffer.from('SIP/2.0 1000 Nope\r\n\r\n'));
    assert.ok(!r.ok);
    assert.equal(createErrorResponse(r.error), undefined);
  });
});

void describe('identifiers', () => {
  void test('branches start with the magic cookie z9hG4bK (§8.1.1.7) and are unique', () => {
    const set = new Set(Array.from({ length: 100 }, generateBranch));
    assert.equal(set.size, 100);
    for (const b of set) assert.match(b, /^z9hG4bK[0-9a-f]{20}$/);
  });
  void test('tags carry at least 32 random bits (§19.3) and are tokens', () => {
    const set = new Set(Array.from({ length: 100 }, generateTag));
    assert.equal(set.size, 100);
    for (const t of set) assert.match(t, /^[0-9a-f]{12}$/);
  });
  void test('Call-IDs are unique and carry the host when given (§8.1.1.4)', () => {
    assert.match(generateCallId('gw.example.com'), /^[0-9a-f]{24}@gw\.example\.com$/);
    assert.match(generateCallId(), /^[0-9a-f]{24}$/);
    assert.notEqual(generateCallId(), generateCallId());
  });
});
