import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  parseMessage,
  sipParseLimits,
  SipParseCodes,
  streamFrameLength,
} from '../../../src/sip/message/parse.ts';
import { serializeMessage } from '../../../src/sip/message/serialize.ts';
import { SipHeaders } from '../../../src/sip/message/headers-store.ts';
import type { SipMessage, SipRequest } from '../../../src/sip/message/types.ts';

const baseHeaders = [
  'Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds',
  'Max-Forwards: 70',
  'To: Bob <sip:bob@biloxi.com>',
  'From: Alice <sip:alice@atlanta.com>;tag=1928301774',
  'Call-ID: a84b4c76e66710@pc33.atlanta.com',
  'CSeq: 314159 INVITE',
];

function msg(startLine: string, headers: string[] = baseHeaders, body = '', sep = '\r\n'): Buffer {
  return Buffer.from([startLine, ...headers].join(sep) + sep + sep + body, 'latin1');
}

const invite = (headers: string[] = baseHeaders, body = ''): Buffer =>
  msg('INVITE sip:bob@biloxi.com SIP/2.0', headers, body);

function parsed(buf: Buffer): SipMessage {
  const r = parseMessage(buf);
  assert.ok(r.ok, r.ok ? '' : `${r.error.message} (${r.error.field ?? ''})`);
  return r.value;
}

function request(buf: Buffer): SipRequest {
  const m = parsed(buf);
  assert.ok(m.kind === 'request');
  return m;
}

void describe('start line (RFC 3261 §7.1, §7.2)', () => {
  void test('reads a request line', () => {
    const m = request(invite());
    assert.deepEqual([m.method, m.uri, m.version], ['INVITE', 'sip:bob@biloxi.com', 'SIP/2.0']);
  });
  const statusLines: Array<[string, number | undefined, string]> = [
    ['SIP/2.0 180 Ringing', 180, 'Ringing'],
    ['SIP/2.0 200 OK with spaces  ', 200, 'OK with spaces  '],
    ['sip/2.0 200 OK', 200, 'OK'],
    ['SIP/2.0 100 ', 100, ''],
    ['SIP/2.0 100', 100, ''],
    ['SIP/2.0 699 Custom', 699, 'Custom'],
    ['SIP/2.0 099 Too low', undefined, ''],
    ['SIP/2.0 700 Too high', undefined, ''],
    ['SIP/2.0 2000 Four digits', undefined, ''],
    ['SIP/2.0 20a Letters', undefined, ''],
    ['SIP/3.0 200 OK', undefined, ''],
  ];
  for (const [line, status, reason] of statusLines) {
    void test(`${status === undefined ? 'drops' : 'reads'} the status line ${JSON.stringify(line)}`, () => {
      const r = parseMessage(msg(line));
      if (status === undefined) {
        assert.equal(r.ok, false);
        if (!r.ok) assert.equal(r.error.status, undefined, 'a bad response is never answered');
        return;
      }
      assert.ok(r.ok && r.value.kind === 'response');
      assert.equal(r.value.status, status);
      assert.equal(r.value.reason, reason);
    });
  }
  const badRequests: Array<[string, number | undefined]> = [
    ['INVITE sip:bob@biloxi.com SIP/2.1', 505],
    ['INVITE sip:bob@biloxi.com SIP/1.0', 505],
    ['INVITE sip:bob@biloxi.com HTTP/1.1', 400],
    ['INVITE sip:bob@biloxi.com', 400],
    ['INVITE\tsip:bob@biloxi.com\tSIP/2.0', 400],
    ['INVITE sip:bob@biloxi.com?Subject=x SIP/2.0', 400],
    ['INVITE bob@biloxi.com SIP/2.0', 400],
    ['INV<ITE sip:bob@biloxi.com SIP/2.0', undefined],
  ];
  for (const [line, status] of badRequests) {
    void test(`answers ${status ?? 'nothing'} to the request line ${JSON.stringify(line)}`, () => {
      const r = parseMessage(msg(line));
      assert.equal(r.ok, false);
      if (r.ok) return;
      assert.equal(r.error.status, status);
      if (status !== undefined)
        assert.equal(r.error.partial?.headers.get('call-id'), 'a84b4c76e66710@pc33.atlanta.com');
    });
  }
  void test('accepts an unknown scheme in the Request-URI (left to the application, RFC 4475 §3.3.2)', () => {
    assert.equal(
      request(
        msg(
          'OPTIONS urn:service:sos SIP/2.0',
          baseHeaders.map((h) => h.replace('INVITE', 'OPTIONS')),
        ),
      ).uri,
      'urn:service:sos',
    );
  });
});

void describe('header fields (RFC 3261 §7.3)', () => {
  void test('unfolds continuation lines into single spaces (§7.3.1)', () => {
    const m = request(
      invite([...baseHeaders, "Subject: I know you're there,", '   pick up the phone', '\tand talk to me!']),
    );
    assert.equal(m.headers.get('subject'), "I know you're there, pick up the phone and talk to me!");
  });
  void test('expands compact forms and ignores case and spaces before the colon (§7.3.3)', () => {
    const m = request(
      invite(
        [
          'v: SIP/2.0/UDP a;branch=z9hG4bK1',
          'f: <sip:alice@atlanta.com>;tag=1',
          't : <sip:bob@biloxi.com>',
          'I:  id@host',
          'cSeQ: 1 INVITE',
          'm: <sip:alice@pc33.atlanta.com>',
          'c: application/sdp',
          'k: 100rel',
          'l: 4',
        ],
        'v=0\r\n',
      ),
    );
    assert.equal(m.headers.get('Via'), 'SIP/2.0/UDP a;branch=z9hG4bK1');
    assert.equal(m.headers.get('call-id'), 'id@host');
    assert.equal(m.headers.get('contact'), '<sip:alice@pc33.atlanta.com>');
    assert.equal(m.headers.get('content-type'), 'application/sdp');
    assert.equal(m.headers.get('supported'), '100rel');
    assert.equal(m.body.toString(), 'v=0\r');
  });
  void test('repeated and comma-joined header fields give the same list (§7.3.1)', () => {
    const a = request(
      invite([
        ...baseHeaders,
        'Route: <sip:p1.example.com;lr>',
        'Route: <sip:p2.example.com;lr>,<sip:p3.example.com;lr>',
      ]),
    );
    assert.deepEqual(a.headers.getList('route'), [
      '<sip:p1.example.com;lr>',
      '<sip:p2.example.com;lr>',
      '<sip:p3.example.com;lr>',
    ]);
  });
  void test('keeps IPv6 references in Via and URIs', () => {
    const m = request(
      invite([
        'Via: SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bKv6;rport',
        ...baseHeaders.slice(1),
        'Contact: <sip:alice@[2001:db8::1]:5060>',
      ]),
    );
    assert.equal(m.headers.get('via'), 'SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bKv6;rport');
  });
  void test('skips leading CRLFs (keep-alives) before a message', () => {
    const m = request(Buffer.concat([Buffer.from('\r\n\r\n\r\n'), invite()]));
    assert.equal(m.method, 'INVITE');
  });
  void test('a datagram of only CRLFs is a keep-alive, not an error to answer', () => {
    for (const b of ['', '\r\n', '\r\n\r\n']) {
      const r = parseMessage(Buffer.from(b));
      assert.ok(!r.ok);
      assert.equal(r.error.code, SipParseCodes.empty);
      assert.equal(r.error.status, undefined);
    }
  });
  void test('tolerates bare LF line ends', () => {
    const m = parsed(msg('INVITE sip:bob@biloxi.com SIP/2.0', baseHeaders, '', '\n'));
    assert.equal(m.headers.get('cseq'), '314159 INVITE');
  });
  void test('keeps octets that are not UTF-8 without throwing', () => {
    const buf = invite([...baseHeaders, 'Subject: caf\xe9 \xff\xfe']);
    const m = request(buf);
    assert.equal(m.headers.get('subject'), 'caf\xe9 \xff\xfe');
  });
  void test('reads UTF-8 header values as text', () => {
    const m = request(
      Buffer.from(invite().toString('utf8').replace('From: Alice', 'From: "Zoë 東京"'), 'utf8'),
    );
    assert.equal(m.headers.get('from'), '"Zoë 東京" <sip:alice@atlanta.com>;tag=1928301774');
  });
  const badHeaderSets: Array<[string, string[]]> = [
    ['a header line without a colon', [...baseHeaders, 'NoColonHere']],
    ['a header name with a space', [...baseHeaders, 'Bad Name: x']],
    ['a continuation line before any header', [' folded', ...baseHeaders]],
    ['two CSeq', [...baseHeaders, 'CSeq: 2 INVITE']],
    ['a CSeq method that differs from the request', [...baseHeaders.slice(0, 5), 'CSeq: 1 BYE']],
    ['no Call-ID', baseHeaders.filter((h) => !h.startsWith('Call-ID'))],
    [
      'a malformed Max-Forwards',
      [...baseHeaders.slice(0, 1), 'Max-Forwards: seventy', ...baseHeaders.slice(2)],
    ],
    ['a malformed Contact', [...baseHeaders, 'Contact: <sip:a@b']],
  ];
  for (const [why, headers] of badHeaderSets) {
    void test(`answers 400 to a request with ${why}`, () => {
      const r = parseMessage(invite(headers));
      assert.ok(!r.ok);
      assert.equal(r.error.status, 400);
      assert.ok(r.error.partial);
    });
  }
  void test('drops a request without Via: no response could be routed (§18.2.2)', () => {
    const r = parseMessage(invite(baseHeaders.slice(1)));
    assert.ok(!r.ok);
    assert.equal(r.error.status, undefined);
  });
  void test('accepts a request without Max-Forwards (RFC 2543 elements)', () => {
    request(invite(baseHeaders.filter((h) => !h.startsWith('Max-Forwards'))));
  });
  void test('accepts Contact: * (§10.2.2)', () => {
    request(
      msg('REGISTER sip:biloxi.com SIP/2.0', [
        ...baseHeaders.slice(0, 5),
        'CSeq: 1 REGISTER',
        'Contact: *',
        'Expires: 0',
      ]),
    );
  });
  void test('a missing empty line after the header fields is an error', () => {
    const r = parseMessage(
      Buffer.from(
        invite()
          .toString('latin1')
          .replace(/\r\n\r\n$/, '\r\n'),
      ),
    );
    assert.ok(!r.ok);
    assert.equal(r.error.status, 400);
  });
});

void describe('Content-Length and body (RFC 3261 §18.3, §20.14)', () => {
  void test('takes the body length from Content-Length and ignores trailing octets', () => {
    const m = request(invite([...baseHeaders, 'Content-Length: 5'], 'hello world'));
    assert.equal(m.body.toString(), 'hello');
  });
  void test('without Content-Length on a datagram the body is the rest of it', () => {
    assert.equal(request(invite(baseHeaders, 'rest of it')).body.toString(), 'rest of it');
  });
  void test('the body is a view into the received buffer, not a copy', () => {
    const buf = invite([...baseHeaders, 'Content-Length: 3'], 'abc');
    const m = request(buf);
    assert.equal(m.body.buffer, buf.buffer);
  });
  const bad: Array<[string, string]> = [
    ['Content-Length: 99', 'larger than the rest'],
    ['Content-Length: -1', 'negative'],
    ['Content-Length: 1e3', 'not digits'],
    ['Content-Length: 12345678901', 'more than 10 digits'],
  ];
  for (const [line, why] of bad) {
    void test(`answers 400 naming Content-Length when it is ${why}`, () => {
      const r = parseMessage(invite([...baseHeaders, line], 'abc'));
      assert.ok(!r.ok);
      assert.equal(r.error.status, 400);
      assert.equal(r.error.field, 'Content-Length');
    });
  }
});

void describe('hard limits', () => {
  void test(`refuses more than ${sipParseLimits.maxHeaders} header fields with 513`, () => {
    const many = Array.from({ length: sipParseLimits.maxHeaders }, (_, i) => `X-H${i}: ${i}`);
    const r = parseMessage(invite([...baseHeaders, ...many]));
    assert.ok(!r.ok);
    assert.equal(r.error.status, 513);
    assert.equal(r.error.code, SipParseCodes.tooLarge);
  });
  void test(`refuses a header field longer than ${sipParseLimits.maxHeaderBytes} octets with 513`, () => {
    const r = parseMessage(invite([...baseHeaders, `Subject: ${'x'.repeat(sipParseLimits.maxHeaderBytes)}`]));
    assert.ok(!r.ok);
    assert.equal(r.error.status, 513);
  });
  void test('refuses a folded header field that grows past the limit', () => {
    const lines = Array.from({ length: 200 }, () => ' ' + 'y'.repeat(60));
    const r = parseMessage(invite([...baseHeaders, 'Subject: start', ...lines]));
    assert.ok(!r.ok);
    assert.equal(r.error.status, 513);
  });
  void test(`refuses a message larger than ${sipParseLimits.maxMessageBytes} octets with 513`, () => {
    const r = parseMessage(invite(baseHeaders, 'z'.repeat(sipParseLimits.maxMessageBytes)));
    assert.ok(!r.ok);
    assert.equal(r.error.status, 513);
  });
});

void describe('serializeMessage (RFC 3261 §7)', () => {
  void test('writes start line, long header names in order, a correct Content-Length in place of a wrong one, and the body', () => {
    const headers = SipHeaders.from([
      ['v', 'SIP/2.0/UDP a;branch=z9hG4bK1'],
      ['i', 'x@y'],
      ['l', '999'],
      ['c', 'text/plain'],
    ]);
    const m: SipRequest = {
      kind: 'request',
      method: 'MESSAGE',
      uri: 'sip:bob@biloxi.com',
      version: 'SIP/2.0',
      headers,
      body: Buffer.from('hi'),
    };
    assert.equal(
      serializeMessage(m).toString(),
      [
        'MESSAGE sip:bob@biloxi.com SIP/2.0',
        'Via: SIP/2.0/UDP a;branch=z9hG4bK1',
        'Call-ID: x@y',
        'Content-Length: 2',
        'Content-Type: text/plain',
        '',
        'hi',
      ].join('\r\n'),
    );
  });
  void test('adds Content-Length when there is none, even for an empty body', () => {
    const out = serializeMessage({
      kind: 'response',
      status: 200,
      reason: 'OK',
      version: 'SIP/2.0',
      headers: SipHeaders.from([['call-id', 'x']]),
      body: Buffer.alloc(0),
    });
    assert.equal(out.toString(), 'SIP/2.0 200 OK\r\nCall-ID: x\r\nContent-Length: 0\r\n\r\n');
  });
  void test('writes binary bodies unchanged', () => {
    const body = Buffer.from([0, 1, 2, 0xff, 0x0d, 0x0a]);
    const m = request(invite([...baseHeaders, 'Content-Type: application/octet-stream']));
    m.body = body;
    const again = request(serializeMessage(m));
    assert.deepEqual([...again.body], [...body]);
  });
});

void describe('streamFrameLength (RFC 3261 §18.3)', () => {
  const one = invite([...baseHeaders, 'Content-Length: 3'], 'abc');
  void test('frames one message by its Content-Length, keep-alives included', () => {
    assert.deepEqual(streamFrameLength(Buffer.concat([Buffer.from('\r\n\r\n'), one, one])), {
      ok: true,
      value: one.length + 4,
    });
  });
  void test('asks for more octets when the header section or body is incomplete', () => {
    assert.deepEqual(streamFrameLength(one.subarray(0, 20)), { ok: true, value: undefined });
    assert.deepEqual(streamFrameLength(one.subarray(0, one.length - 1)), { ok: true, value: undefined });
  });
  void test('reads the compact form l', () => {
    const m = invite([...baseHeaders, 'l: 2'], 'xy');
    assert.deepEqual(streamFrameLength(m), { ok: true, value: m.length });
  });
  void test('a stream message without Content-Length cannot be framed', () => {
    const r = streamFrameLength(invite());
    assert.equal(r.ok, false);
  });
});
