import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  formatNameAddr,
  formatVia,
  getTag,
  parseAuthHeader,
  parseCSeq,
  parseMediaType,
  parseMultipart,
  parseNameAddr,
  parseVia,
} from '../../../src/sip/message/headers.ts';
import type { NameAddr, Via } from '../../../src/sip/message/headers.ts';

const via = (
  transport: string,
  host: string,
  port: number | undefined,
  params: Array<[string, string | null]>,
): Via => {
  const v: Via = { protocol: 'SIP/2.0', transport, host, params: new Map(params) };
  if (port !== undefined) v.port = port;
  return v;
};

void describe('Via (RFC 3261 §20.42, RFC 3581)', () => {
  const cases: Array<[string, Via]> = [
    [
      'SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds',
      via('UDP', 'pc33.atlanta.com', undefined, [['branch', 'z9hG4bK776asdhds']]),
    ],
    [
      'SIP/2.0/tcp 192.0.2.1:5060;branch=z9hG4bKx;received=192.0.2.99',
      via('TCP', '192.0.2.1', 5060, [
        ['branch', 'z9hG4bKx'],
        ['received', '192.0.2.99'],
      ]),
    ],
    [
      'SIP/2.0/UDP 10.0.0.1:5060;rport;branch=z9hG4bKy',
      via('UDP', '10.0.0.1', 5060, [
        ['rport', null],
        ['branch', 'z9hG4bKy'],
      ]),
    ],
    [
      'SIP/2.0/UDP 10.0.0.1;rport=5062;received=198.51.100.7',
      via('UDP', '10.0.0.1', undefined, [
        ['rport', '5062'],
        ['received', '198.51.100.7'],
      ]),
    ],
    [
      'SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bKz',
      via('UDP', '2001:db8::1', 5060, [['branch', 'z9hG4bKz']]),
    ],
    [
      'SIP/2.0/TLS [2001:db8::9];received=2001:db8::99',
      via('TLS', '2001:db8::9', undefined, [['received', '2001:db8::99']]),
    ],
    [
      'SIP  /   2.0  /UDP    192.0.2.2;branch=390skdjuw',
      via('UDP', '192.0.2.2', undefined, [['branch', '390skdjuw']]),
    ],
    [
      'SIP / 2.0 / TCP spindle.example.com ; branch = z9hG4bK9ikj8',
      via('TCP', 'spindle.example.com', undefined, [['branch', 'z9hG4bK9ikj8']]),
    ],
    [
      'SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bKa;Alias',
      via('WSS', 'df7jal23ls0d.invalid', undefined, [
        ['branch', 'z9hG4bKa'],
        ['alias', null],
      ]),
    ],
    ['SIP/2.0/UDP host : 5070', via('UDP', 'host', 5070, [])],
  ];
  for (const [text, expected] of cases) {
    void test(`parses ${text}`, () => {
      assert.deepEqual(parseVia(text), { ok: true, value: expected });
    });
  }
  void test('formats a Via with IPv6 brackets and flag parameters', () => {
    assert.equal(
      formatVia(
        via('UDP', '2001:db8::1', 5060, [
          ['rport', null],
          ['branch', 'z9hG4bKq'],
        ]),
      ),
      'SIP/2.0/UDP [2001:db8::1]:5060;rport;branch=z9hG4bKq',
    );
    for (const [, v] of cases) assert.deepEqual(parseVia(formatVia(v)), { ok: true, value: v });
  });
  const bad: string[] = [
    '',
    'SIP/2.0 host',
    'SIP/2.0/UDP',
    'SIP/2.0/UDP 192.0.2.15;;',
    'SIP/2.0/UDP host;branch=',
    'SIP/2.0/UDP host:99999',
    'SIP/2.0/UDP [::1',
    'SIP/2.0/UDP host garbage',
  ];
  for (const text of bad)
    void test(`rejects malformed Via ${JSON.stringify(text)}`, () => assert.equal(parseVia(text).ok, false));
});

void describe('name-addr and addr-spec (RFC 3261 §20.10, §25.1)', () => {
  const na = (
    uri: string,
    displayName: string | undefined,
    params: Array<[string, string | null]>,
  ): NameAddr => {
    const v: NameAddr = { uri, params: new Map(params) };
    if (displayName !== undefined) v.displayName = displayName;
    return v;
  };
  const cases: Array<[string, NameAddr]> = [
    ['"Bob" <sips:bob@biloxi.com> ;tag=a48s', na('sips:bob@biloxi.com', 'Bob', [['tag', 'a48s']])],
    [
      'Anonymous <sip:c8oqz84zk7z@privacy.org>;tag=hyh8',
      na('sip:c8oqz84zk7z@privacy.org', 'Anonymous', [['tag', 'hyh8']]),
    ],
    ['Lee M. Foote <sip:lee@example.com>', na('sip:lee@example.com', 'Lee M. Foote', [])],
    ['caller<sip:caller@example.com>;tag=323', na('sip:caller@example.com', 'caller', [['tag', '323']])],
    ['<sip:alice@atlanta.com>', na('sip:alice@atlanta.com', undefined, [])],
    ['"" <sip:x@y>', na('sip:x@y', '', [])],
    ['"J Rosenberg \\\\\\"" <sip:jdrosen@example.com>', na('sip:jdrosen@example.com', 'J Rosenberg \\"', [])],
    [
      '"Quoted, with comma; and <angle>" <sip:q@example.com>',
      na('sip:q@example.com', 'Quoted, with comma; and <angle>', []),
    ],
    // addr-spec: what follows the URI are header parameters (RFC 3261 §20.10)
    [
      'sip:+12125551212@phone2net.com;tag=887s',
      na('sip:+12125551212@phone2net.com', undefined, [['tag', '887s']]),
    ],
    [
      'sip:+16505552222@ss1.example.net;user=phone',
      na('sip:+16505552222@ss1.example.net', undefined, [['user', 'phone']]),
    ],
    [
      'sip:user@example.com ;   tag    = 1918181833n',
      na('sip:user@example.com', undefined, [['tag', '1918181833n']]),
    ],
    [
      '<sip:a@[2001:db8::1]:5060;transport=udp>;expires=3600;q=0.7',
      na('sip:a@[2001:db8::1]:5060;transport=udp', undefined, [
        ['expires', '3600'],
        ['q', '0.7'],
      ]),
    ],
    [
      '<sip:a@b>;+sip.instance="<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>"',
      na('sip:a@b', undefined, [['+sip.instance', '"<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>"']]),
    ],
    ['isbn:2983792873', na('isbn:2983792873', undefined, [])],
    ['<tel:+1-201-555-0123>', na('tel:+1-201-555-0123', undefined, [])],
  ];
  for (const [text, expected] of cases) {
    void test(`parses ${text}`, () => {
      assert.deepEqual(parseNameAddr(text), { ok: true, value: expected });
    });
    void test(`formats with <uri> and re-parses ${text}`, () => {
      const f = formatNameAddr(expected);
      assert.ok(f.includes(`<${expected.uri}>`));
      assert.deepEqual(parseNameAddr(f), { ok: true, value: expected });
    });
  }
  void test('formatting escapes quotes and backslashes in the display name', () => {
    assert.equal(
      formatNameAddr(na('sip:a@b', 'say "hi" \\o/', [['tag', 'x']])),
      '"say \\"hi\\" \\\\o/" <sip:a@b>;tag=x',
    );
  });
  const bad: Array<[string, string]> = [
    ['"Mr. J. User <sip:j.user@example.com>', 'unterminated quoted display name'],
    ['"Watson, Thomas" < sip:t.watson@example.org >', 'spaces inside <>'],
    ['Bell, Alexander <sip:a.g.bell@example.com>;tag=43', 'non-token display name'],
    ['sip:user@example.com?Route=%3Csip:sip.example.com%3E', 'addr-spec with ? not in <>'],
    ['"Joe" <sip:joe@example.org>;;;;', 'empty parameters'],
    ['<sip:a@b', "missing '>'"],
    ['Bob sip:bob@example.com', 'addr-spec after a display name'],
    ['', 'empty'],
  ];
  for (const [text, why] of bad)
    void test(`rejects ${JSON.stringify(text)} (${why})`, () => assert.equal(parseNameAddr(text).ok, false));

  void test('getTag reads the tag of From/To, in either form', () => {
    assert.equal(getTag('"Bob" <sip:bob@b.com>;tag=abc'), 'abc');
    assert.equal(getTag('sip:bob@b.com;tag=def'), 'def');
    assert.equal(getTag('<sip:bob@b.com;tag=not-a-header-param>'), undefined);
    assert.equal(getTag('<sip:bob@b.com>;tag'), undefined);
    assert.equal(getTag('"broken'), undefined);
  });
});

void describe('CSeq (RFC 3261 §20.16)', () => {
  const cases: Array<[string, { seq: number; method: string } | undefined]> = [
    ['4711 INVITE', { seq: 4711, method: 'INVITE' }],
    ['0009  INVITE', { seq: 9, method: 'INVITE' }],
    ['4294967295 ACK', { seq: 4294967295, method: 'ACK' }],
    ['4294967296 ACK', undefined],
    ['36893488147419103232 REGISTER', undefined],
    ['INVITE', undefined],
    ['1', undefined],
    ['-1 INVITE', undefined],
    ['1 INVITE extra', undefined],
  ];
  for (const [text, expected] of cases) {
    void test(`${expected ? 'parses' : 'rejects'} CSeq ${JSON.stringify(text)}`, () => {
      const r = parseCSeq(text);
      if (expected) assert.deepEqual(r, { ok: true, value: expected });
      else assert.equal(r.ok, false);
    });
  }
});

void describe('authentication headers (RFC 3261 §20.7, §20.44, RFC 2617)', () => {
  void test('parses a Digest challenge with quoted values, unquoting and unescaping them', () => {
    const r = parseAuthHeader(
      'Digest realm="atlanta.com",\r\n domain="sip:ss1.carrier.com", qop="auth,auth-int", nonce="f84f1cec41e6cbe5aea9c8e88d359", opaque="", stale=FALSE, algorithm=MD5, Extra="a\\"b"',
    );
    assert.ok(r.ok);
    assert.equal(r.value.scheme, 'Digest');
    assert.deepEqual(Object.fromEntries(r.value.params), {
      realm: 'atlanta.com',
      domain: 'sip:ss1.carrier.com',
      qop: 'auth,auth-int',
      nonce: 'f84f1cec41e6cbe5aea9c8e88d359',
      opaque: '',
      stale: 'FALSE',
      algorithm: 'MD5',
      extra: 'a"b',
    });
  });
  void test('parses an unknown scheme with its parameters (RFC 4475 §3.3.7 regaut01)', () => {
    const r = parseAuthHeader('NoOneKnowsThisScheme opaque-data=here');
    assert.deepEqual(r, {
      ok: true,
      value: { scheme: 'NoOneKnowsThisScheme', params: new Map([['opaque-data', 'here']]) },
    });
  });
  void test('keeps token68 credentials', () => {
    const r = parseAuthHeader('Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==');
    assert.ok(r.ok);
    assert.equal(r.value.token68, 'QWxhZGRpbjpvcGVuIHNlc2FtZQ==');
  });
  for (const bad of ['', 'Digest realm="unterminated', 'Digest realm=,nonce=x', 'Digest a=b c=d']) {
    void test(`rejects ${JSON.stringify(bad)}`, () => assert.equal(parseAuthHeader(bad).ok, false));
  }
});

void describe('media types and multipart bodies (RFC 3261 §20.15, RFC 2046 §5.1)', () => {
  void test('parses a media type with quoted parameters', () => {
    const r = parseMediaType('Multipart/Mixed ; boundary="a b c";charset=utf-8');
    assert.deepEqual(r, {
      ok: true,
      value: {
        type: 'multipart',
        subtype: 'mixed',
        params: new Map([
          ['boundary', 'a b c'],
          ['charset', 'utf-8'],
        ]),
      },
    });
  });
  const body = Buffer.concat([
    Buffer.from(
      'preamble\r\n--b1\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n\r\n--b1 \r\nContent-Type: application/octet-stream\r\nContent-ID:\r\n <x@y>\r\n\r\n',
    ),
    Buffer.from([0x00, 0xff, 0x0d, 0x0a, 0x2d, 0x2d]),
    Buffer.from('\r\n--b1\r\n\r\nno headers\r\n--b1--\r\nepilogue'),
  ]);
  void test('splits parts at the boundary, with headers, folded headers, binary content and no-header parts', () => {
    const r = parseMultipart('multipart/mixed;boundary=b1', body);
    assert.ok(r.ok, r.ok ? '' : r.error.message);
    assert.equal(r.value.length, 3);
    const [a, b, c] = r.value;
    assert.equal(a?.headers.get('content-type'), 'application/sdp');
    assert.equal(a?.body.toString(), 'v=0\r\n');
    assert.equal(b?.headers.get('content-id'), '<x@y>');
    assert.deepEqual([...(b?.body ?? [])], [0x00, 0xff, 0x0d, 0x0a, 0x2d, 0x2d]);
    assert.equal(c?.headers.size, 0);
    assert.equal(c?.body.toString(), 'no headers');
  });
  const bad: Array<[string, Buffer, string]> = [
    ['application/sdp', body, 'not multipart'],
    ['multipart/mixed', body, 'no boundary'],
    ['multipart/mixed;boundary=zz', body, 'boundary absent'],
    ['multipart/mixed;boundary=b1', body.subarray(0, 60), 'truncated'],
  ];
  for (const [ct, b, why] of bad)
    void test(`rejects a multipart body: ${why}`, () => assert.equal(parseMultipart(ct, b).ok, false));
});
