import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SipHeaders } from '../../../src/sip/message/headers-store.ts';
import type { SipRequest, SipResponse } from '../../../src/sip/message/types.ts';
import { checkRequest, checkResponse } from '../../../src/sip/message/validate.ts';
import type { CheckRequestOptions } from '../../../src/sip/message/validate.ts';

function request(
  method: string,
  extra: Array<[string, string]> = [],
  uri = 'sip:bob@biloxi.com',
  body = '',
): SipRequest {
  const headers = SipHeaders.from([
    ['Via', 'SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds'],
    ['Max-Forwards', '70'],
    ['To', '<sip:bob@biloxi.com>'],
    ['From', '<sip:alice@atlanta.com>;tag=1'],
    ['Call-ID', 'c1@atlanta.com'],
    ['CSeq', `1 ${method}`],
  ]);
  for (const [n, v] of extra) headers.set(n, v);
  return { kind: 'request', method, uri, version: 'SIP/2.0', headers, body: Buffer.from(body) };
}

const cases: Array<{
  rule: string;
  req: SipRequest;
  opts?: CheckRequestOptions;
  status: number | undefined;
}> = [
  { rule: 'a plain INVITE is fine', req: request('INVITE'), status: undefined },
  {
    rule: 'a tel: Request-URI is supported',
    req: request('INVITE', [], 'tel:+12015550123'),
    status: undefined,
  },
  {
    rule: '416 for an unsupported Request-URI scheme (§8.2.2.1)',
    req: request('INVITE', [], 'mailto:bob@biloxi.com'),
    status: 416,
  },
  {
    rule: '416 when sips is not in the supported schemes',
    req: request('INVITE', [], 'sips:bob@biloxi.com'),
    opts: { supportedSchemes: ['sip'] },
    status: 416,
  },
  {
    rule: '420 for an unknown Require option (§8.2.2.3)',
    req: request('INVITE', [['Require', 'foo']]),
    status: 420,
  },
  {
    rule: 'a supported Require option is fine, case-insensitively',
    req: request('INVITE', [['Require', '100REL']]),
    opts: { supportedExtensions: ['100rel'] },
    status: undefined,
  },
  {
    rule: 'ACK is never rejected for Require (§8.2.2.3)',
    req: request('ACK', [['Require', 'foo']]),
    status: undefined,
  },
  {
    rule: 'a UAS ignores Proxy-Require',
    req: request('INVITE', [['Proxy-Require', 'foo']]),
    status: undefined,
  },
  {
    rule: 'a proxy answers 420 for an unknown Proxy-Require (§16.3)',
    req: request('INVITE', [['Proxy-Require', 'foo']]),
    opts: { role: 'proxy' },
    status: 420,
  },
  {
    rule: 'a proxy answers 483 to Max-Forwards 0 (§16.3 step 2)',
    req: request('INVITE', [['Max-Forwards', '0']]),
    opts: { role: 'proxy' },
    status: 483,
  },
  {
    rule: 'a UAS processes Max-Forwards 0 normally',
    req: request('INVITE', [['Max-Forwards', '0']]),
    status: undefined,
  },
  {
    rule: '400 when the CSeq method differs from the request method',
    req: request('INVITE', [['CSeq', '1 BYE']]),
    status: 400,
  },
  {
    rule: '400 when a mandatory header is missing',
    req: (() => {
      const r = request('INVITE');
      r.headers.remove('call-id');
      return r;
    })(),
    status: 400,
  },
  {
    rule: '415 for a body type the UAS does not understand (§8.2.3)',
    req: request('INVITE', [['Content-Type', 'application/x-unknown']], undefined, 'x'),
    status: 415,
  },
  {
    rule: 'an SDP body is understood',
    req: request('INVITE', [['Content-Type', 'application/sdp']], undefined, 'v=0'),
    status: undefined,
  },
  {
    rule: 'Accept with a wildcard admits SDP',
    req: request('INVITE', [['Accept', 'text/plain, application/*']]),
    status: undefined,
  },
  {
    rule: '406 when Accept of an INVITE rules out SDP',
    req: request('INVITE', [['Accept', 'text/plain']]),
    status: 406,
  },
  {
    rule: 'a REGISTER To must be a SIP URI (§10.3)',
    req: request('REGISTER', [['To', '<tel:+12015550123>']], 'sip:biloxi.com'),
    status: 400,
  },
];

void describe('checkRequest (RFC 3261 §8.2, §16.3)', () => {
  for (const c of cases) {
    void test(c.rule, () => {
      assert.equal(checkRequest(c.req, c.opts)?.status, c.status);
    });
  }
  void test('the 415 lists the accepted types in Accept', () => {
    const r = checkRequest(request('MESSAGE', [['Content-Type', 'image/png']], undefined, 'x'), {
      acceptedContentTypes: ['text/plain', 'application/sdp'],
    });
    assert.deepEqual(r, {
      status: 415,
      reason: 'Unsupported Media Type',
      headers: [['Accept', 'text/plain, application/sdp']],
    });
  });
});

void describe('checkResponse (RFC 3261 §8.1.3.3)', () => {
  const response = (vias: string[]): SipResponse => ({
    kind: 'response',
    status: 200,
    reason: 'OK',
    version: 'SIP/2.0',
    headers: SipHeaders.from([
      ...vias.map((v): [string, string] => ['Via', v]),
      ['To', '<sip:bob@biloxi.com>;tag=2'],
      ['From', '<sip:alice@atlanta.com>;tag=1'],
      ['Call-ID', 'c1'],
      ['CSeq', '1 INVITE'],
    ]),
    body: Buffer.alloc(0),
  });
  void test('a UAC processes a response with one Via', () => {
    assert.equal(checkResponse(response(['SIP/2.0/UDP a;branch=z9hG4bK1'])), undefined);
  });
  void test('a UAC discards a response with more than one Via', () => {
    assert.ok(checkResponse(response(['SIP/2.0/UDP a;branch=z9hG4bK1', 'SIP/2.0/UDP b;branch=z9hG4bK2'])));
  });
  void test('a proxy forwards a response whose next Via is unicast', () => {
    assert.equal(
      checkResponse(response(['SIP/2.0/UDP a;branch=z9hG4bK1', 'SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK2']), {
        role: 'proxy',
      }),
      undefined,
    );
  });
  void test('a proxy discards a response whose next Via is multicast', () => {
    assert.ok(
      checkResponse(response(['SIP/2.0/UDP a;branch=z9hG4bK1', 'SIP/2.0/UDP 224.0.1.75;branch=z9hG4bK2']), {
        role: 'proxy',
      }),
    );
  });
});
