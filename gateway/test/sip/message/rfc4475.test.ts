/**
 * RFC 4475 "SIP Torture Test Messages": one case per message, with the outcome the RFC gives for
 * a conforming element. §3.1.1 valid messages parse and round-trip; §3.1.2 invalid messages fail
 * with the response a UAS sends (or are dropped); §3.2–§3.4 messages parse, and `checkRequest`
 * gives the application-layer answer.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import {
  checkRequest,
  checkResponse,
  createErrorResponse,
  formatNameAddr,
  formatUri,
  formatVia,
  parseMessage,
  parseNameAddr,
  parseUri,
  parseVia,
  serializeMessage,
} from '../../../src/sip/message/index.ts';
import type { CheckRequestOptions, SipMessage, SipRequest } from '../../../src/sip/message/index.ts';

const corpus = new URL('../../fixtures/rfc4475', import.meta.url);
const load = (name: string): Buffer => readFileSync(new URL(`${name}.dat`, corpus));

type Outcome =
  /** Parses; `check` is what checkRequest answers as a UAS (undefined: process normally). */
  | { parse: 'ok'; check?: number; proxyCheck?: number; checkOpts?: CheckRequestOptions; dropAsUac?: boolean }
  /** Parse error; status undefined means drop silently. */
  | { parse: 'error'; status: number | undefined; field?: string };

interface Case {
  section: string;
  rule: string;
  outcome: Outcome;
}

const cases: Record<string, Case> = {
  // §3.1.1 Valid messages
  wsinv: { section: '3.1.1.1', rule: 'short tortuous INVITE parses', outcome: { parse: 'ok' } },
  intmeth: { section: '3.1.1.2', rule: 'wide range of valid characters parses', outcome: { parse: 'ok' } },
  esc01: {
    section: '3.1.1.3',
    rule: 'valid use of the % escaping mechanism parses',
    outcome: { parse: 'ok' },
  },
  escnull: { section: '3.1.1.4', rule: 'escaped nulls in URIs parse', outcome: { parse: 'ok' } },
  esc02: { section: '3.1.1.5', rule: 'use of % when it is not an escape parses', outcome: { parse: 'ok' } },
  lwsdisp: { section: '3.1.1.6', rule: 'no LWS between display name and < parses', outcome: { parse: 'ok' } },
  longreq: { section: '3.1.1.7', rule: 'long values in header fields parse', outcome: { parse: 'ok' } },
  dblreq: {
    section: '3.1.1.8',
    rule: 'extra trailing octets in a UDP datagram are ignored',
    outcome: { parse: 'ok' },
  },
  semiuri: {
    section: '3.1.1.9',
    rule: 'semicolon-separated parameters in URI user part parse',
    outcome: { parse: 'ok' },
  },
  transports: {
    section: '3.1.1.10',
    rule: 'varied and unknown transport types parse',
    outcome: { parse: 'ok' },
  },
  mpart01: { section: '3.1.1.11', rule: 'multipart MIME message parses', outcome: { parse: 'ok' } },
  unreason: { section: '3.1.1.12', rule: 'unusual reason phrase parses', outcome: { parse: 'ok' } },
  noreason: { section: '3.1.1.13', rule: 'empty reason phrase parses', outcome: { parse: 'ok' } },
  // §3.1.2 Invalid messages
  badinv01: {
    section: '3.1.2.1',
    rule: 'extraneous header field separators get 400',
    outcome: { parse: 'error', status: 400, field: 'Via' },
  },
  clerr: {
    section: '3.1.2.2',
    rule: 'Content-Length larger than message gets 400',
    outcome: { parse: 'error', status: 400, field: 'Content-Length' },
  },
  ncl: {
    section: '3.1.2.3',
    rule: 'negative Content-Length gets 400',
    outcome: { parse: 'error', status: 400, field: 'Content-Length' },
  },
  scalar02: {
    section: '3.1.2.4',
    rule: 'request with overlarge CSeq gets 400',
    outcome: { parse: 'error', status: 400, field: 'CSeq' },
  },
  scalarlg: {
    section: '3.1.2.5',
    rule: 'response with overlarge scalar fields is dropped',
    outcome: { parse: 'error', status: undefined },
  },
  quotbal: {
    section: '3.1.2.6',
    rule: 'unterminated quoted string in display name gets 400',
    outcome: { parse: 'error', status: 400, field: 'To' },
  },
  ltgtruri: {
    section: '3.1.2.7',
    rule: '<> enclosing Request-URI gets 400',
    outcome: { parse: 'error', status: 400, field: 'Request-URI' },
  },
  lwsruri: {
    section: '3.1.2.8',
    rule: 'Request-URI with embedded LWS gets 400',
    outcome: { parse: 'error', status: 400 },
  },
  lwsstart: {
    section: '3.1.2.9',
    rule: 'multiple SP separating Request-Line elements gets 400',
    outcome: { parse: 'error', status: 400 },
  },
  trws: {
    section: '3.1.2.10',
    rule: 'SP characters at end of Request-Line get 400',
    outcome: { parse: 'error', status: 400 },
  },
  escruri: {
    section: '3.1.2.11',
    rule: 'escaped headers in SIP Request-URI get 400',
    outcome: { parse: 'error', status: 400, field: 'Request-URI' },
  },
  baddate: {
    section: '3.1.2.12',
    rule: 'non-GMT time zone in Date gets 400',
    outcome: { parse: 'error', status: 400, field: 'Date' },
  },
  regbadct: {
    section: '3.1.2.13',
    rule: 'name-addr URI with ? not enclosed in <> gets 400',
    outcome: { parse: 'error', status: 400, field: 'Contact' },
  },
  badaspec: {
    section: '3.1.2.14',
    rule: 'spaces within addr-spec get 400',
    outcome: { parse: 'error', status: 400, field: 'To' },
  },
  baddn: {
    section: '3.1.2.15',
    rule: 'non-token characters in display name get 400',
    outcome: { parse: 'error', status: 400, field: 'From' },
  },
  badvers: {
    section: '3.1.2.16',
    rule: 'unknown protocol version gets 505',
    outcome: { parse: 'error', status: 505 },
  },
  mismatch01: {
    section: '3.1.2.17',
    rule: 'start line and CSeq method mismatch gets 400',
    outcome: { parse: 'error', status: 400, field: 'CSeq' },
  },
  mismatch02: {
    section: '3.1.2.18',
    rule: 'unknown method with CSeq method mismatch gets 400',
    outcome: { parse: 'error', status: 400, field: 'CSeq' },
  },
  bigcode: {
    section: '3.1.2.19',
    rule: 'overlarge response code is dropped',
    outcome: { parse: 'error', status: undefined },
  },
  // §3.2 Transaction layer semantics
  badbranch: {
    section: '3.2.1',
    rule: 'missing transaction identifier (bare magic cookie) is accepted',
    outcome: { parse: 'ok' },
  },
  // §3.3 Application-layer semantics
  insuf: {
    section: '3.3.1',
    rule: 'missing required header fields get 400',
    outcome: { parse: 'error', status: 400 },
  },
  unkscm: {
    section: '3.3.2',
    rule: 'Request-URI with unknown scheme gets 416',
    outcome: { parse: 'ok', check: 416, proxyCheck: 416 },
  },
  novelsc: {
    section: '3.3.3',
    rule: 'Request-URI with known but atypical scheme gets 416',
    outcome: { parse: 'ok', check: 416, proxyCheck: 416 },
  },
  unksm2: {
    section: '3.3.4',
    rule: 'unknown URI schemes in header fields parse; a registrar answers 400 (To is no AOR)',
    outcome: { parse: 'ok', check: 400 },
  },
  bext01: {
    section: '3.3.5',
    rule: 'unknown Require gets 420 with Unsupported; unknown Proxy-Require gets 420 at a proxy',
    outcome: { parse: 'ok', check: 420, proxyCheck: 420 },
  },
  invut: {
    section: '3.3.6',
    rule: 'unknown Content-Type gets 415 with Accept',
    outcome: { parse: 'ok', check: 415 },
  },
  regaut01: {
    section: '3.3.7',
    rule: 'unknown authorization scheme parses and is left to the registrar',
    outcome: { parse: 'ok' },
  },
  multi01: {
    section: '3.3.8',
    rule: 'multiple values in single-value required fields get 400',
    outcome: { parse: 'error', status: 400 },
  },
  mcl01: {
    section: '3.3.9',
    rule: 'multiple Content-Length values get 400',
    outcome: { parse: 'error', status: 400, field: 'Content-Length' },
  },
  bcast: {
    section: '3.3.10',
    rule: '200 OK with broadcast Via sent-by parses; a UAC and a proxy drop it',
    outcome: { parse: 'ok', dropAsUac: true },
  },
  zeromf: {
    section: '3.3.11',
    rule: 'Max-Forwards of zero: a UAS processes it, a proxy answers 483',
    outcome: { parse: 'ok', proxyCheck: 483 },
  },
  cparam01: {
    section: '3.3.12',
    rule: 'REGISTER with a contact header parameter is accepted',
    outcome: { parse: 'ok' },
  },
  cparam02: {
    section: '3.3.13',
    rule: 'REGISTER with a url-parameter is accepted',
    outcome: { parse: 'ok' },
  },
  regescrt: {
    section: '3.3.14',
    rule: 'REGISTER with a URL escaped header is accepted',
    outcome: { parse: 'ok' },
  },
  sdp01: {
    section: '3.3.15',
    rule: 'INVITE whose Accept rules out SDP gets 406',
    outcome: { parse: 'ok', check: 406 },
  },
  // §3.4 Backward compatibility
  inv2543: { section: '3.4.1', rule: 'INVITE with RFC 2543 syntax is accepted', outcome: { parse: 'ok' } },
};

/** The semantic content of a message: start line, headers (Content-Length aside), body, and the structured views. */
function semantic(m: SipMessage): unknown {
  const headers = [...m.headers.entries()].filter(([n]) => n !== 'content-length');
  const structured = {
    via: m.headers.getList('via').map((v) => parseVia(v)),
    from: parseNameAddr(m.headers.get('from') ?? ''),
    to: parseNameAddr(m.headers.get('to') ?? ''),
    contact: m.headers.getList('contact').map((c) => parseNameAddr(c)),
  };
  const start = m.kind === 'request' ? [m.method, m.uri, parseUri(m.uri)] : [m.status, m.reason];
  return { kind: m.kind, start, headers, body: m.body.toString('hex'), structured };
}

void describe('RFC 4475 torture messages', () => {
  void test('the corpus has exactly the 49 messages of RFC 4475 and every one has a case', () => {
    const names = readdirSync(corpus)
      .filter((f) => f.endsWith('.dat'))
      .map((f) => f.slice(0, -4))
      .sort();
    assert.equal(names.length, 49);
    assert.deepEqual(names, Object.keys(cases).sort());
  });

  for (const [name, c] of Object.entries(cases)) {
    void test(`§${c.section} ${name}: ${c.rule}`, () => {
      const r = parseMessage(load(name));
      const o = c.outcome;
      if (o.parse === 'error') {
        assert.equal(r.ok, false, 'must not parse');
        if (r.ok) return;
        assert.equal(r.error.status, o.status);
        if (o.field !== undefined) assert.equal(r.error.field, o.field);
        const res = createErrorResponse(r.error);
        if (o.status === undefined) assert.equal(res, undefined);
        else {
          assert.ok(res, 'an error response can be built');
          assert.equal(res.status, o.status);
          assert.deepEqual(res.headers.getLines('via'), r.error.partial?.headers.getLines('via'));
          assert.ok(serializeMessage(res).toString('latin1').startsWith(`SIP/2.0 ${o.status} `));
        }
        return;
      }
      assert.ok(r.ok, r.ok ? '' : `${r.error.message} (${r.error.field ?? ''})`);
      const m = r.value;
      // serialize → parse gives the same semantic content
      const again = parseMessage(serializeMessage(m));
      assert.ok(again.ok);
      assert.deepEqual(semantic(again.value), semantic(m));
      // structured views re-formatted and re-parsed are unchanged
      for (const v of m.headers.getList('via')) {
        const via = parseVia(v);
        assert.ok(via.ok, v);
        assert.deepEqual(parseVia(formatVia(via.value)), via);
      }
      for (const h of ['from', 'to', ...m.headers.getList('contact').map(() => 'contact')]) {
        for (const v of h === 'contact' ? m.headers.getList('contact') : [m.headers.get(h) ?? '']) {
          const na = parseNameAddr(v);
          assert.ok(na.ok, v);
          assert.deepEqual(parseNameAddr(formatNameAddr(na.value)), na);
          const u = parseUri(na.value.uri);
          assert.ok(u.ok);
          assert.deepEqual(parseUri(formatUri(u.value)), u);
        }
      }
      if (m.kind === 'response') {
        assert.equal(checkResponse(m) !== undefined, o.dropAsUac === true);
        return;
      }
      const uri = parseUri(m.uri);
      assert.ok(uri.ok);
      assert.deepEqual(parseUri(formatUri(uri.value)), uri);
      assert.equal(checkRequest(m, o.checkOpts)?.status, o.check, 'UAS check');
      assert.equal(checkRequest(m, { ...o.checkOpts, role: 'proxy' })?.status, o.proxyCheck, 'proxy check');
    });
  }
});

void describe('RFC 4475 details', () => {
  const ok = (name: string): SipMessage => {
    const r = parseMessage(load(name));
    assert.ok(r.ok);
    return r.value;
  };
  const req = (name: string): SipRequest => {
    const m = ok(name);
    assert.ok(m.kind === 'request');
    return m;
  };

  void test('wsinv: folded, spaced and compact headers read as their unfolded values', () => {
    const m = ok('wsinv');
    assert.equal(m.headers.get('max-forwards'), '0068');
    assert.equal(m.headers.get('cseq'), '0009 INVITE');
    assert.equal(m.headers.get('subject'), '');
    const to = parseNameAddr(m.headers.get('to') ?? '');
    assert.ok(to.ok);
    assert.equal(to.value.uri, 'sip:vivekg@chair-dnrc.example.com');
    assert.equal(to.value.params.get('tag'), '1918181833n');
    const from = parseNameAddr(m.headers.get('from') ?? '');
    assert.ok(from.ok);
    assert.equal(from.value.displayName, 'J Rosenberg \\"');
    assert.equal(from.value.params.get('tag'), '98asjd8');
    const vias = m.headers.getList('via').map((v) => parseVia(v));
    assert.deepEqual(
      vias.map((v) => (v.ok ? [v.value.transport, v.value.host, v.value.params.get('branch')] : null)),
      [
        ['UDP', '192.0.2.2', '390skdjuw'],
        ['TCP', 'spindle.example.com', 'z9hG4bK9ikj8'],
        ['UDP', '192.168.255.111', 'z9hG4bK30239'],
      ],
    );
    const contact = parseNameAddr(m.headers.get('contact') ?? '');
    assert.ok(contact.ok);
    assert.equal(contact.value.displayName, 'Quoted string ""');
    assert.deepEqual(
      [...contact.value.params],
      [
        ['newparam', 'newvalue'],
        ['secondparam', null],
        ['q', '0.33'],
      ],
    );
  });

  void test('esc01: escaped user parts decode to the same characters', () => {
    const m = req('esc01');
    const ruri = parseUri(m.uri);
    assert.ok(ruri.ok && 'user' in ruri.value);
    assert.equal(ruri.value.user, 'sips:user@example.com');
    const to = parseUri(m.headers.get('to') ?? '');
    assert.ok(to.ok && 'user' in to.value);
    assert.equal(to.value.user, 'user');
    const c = parseNameAddr(m.headers.get('contact') ?? '');
    assert.ok(c.ok);
    const cu = parseUri(c.value.uri);
    assert.ok(cu.ok && 'params' in cu.value && 'user' in cu.value);
    assert.equal(cu.value.user, 'caller');
    assert.deepEqual(
      [...cu.value.params],
      [
        ['lr', null],
        ['name', 'value%41'],
      ],
    );
  });

  void test('escnull: %00 decodes to a NUL in the user part', () => {
    const contact = parseNameAddr(ok('escnull').headers.getList('contact')[1] ?? '');
    assert.ok(contact.ok);
    const u = parseUri(contact.value.uri);
    assert.ok(u.ok && 'user' in u.value);
    assert.equal(u.value.user, '\0\0');
    assert.equal(formatUri(u.value), 'sip:%00%00@host5.example.com');
  });

  void test('esc02: %-bearing method and header names are tokens, not escapes', () => {
    const m = ok('esc02');
    assert.equal(m.kind === 'request' && m.method, 'RE%47IST%45R');
    assert.equal(m.headers.getList('contact').length, 2);
    assert.equal(m.headers.get('C%6Fntact'), '<sip:alias2@host2.example.com>');
  });

  void test('dblreq: only the first message of the datagram is read', () => {
    const m = ok('dblreq');
    assert.equal(m.kind === 'request' && m.method, 'REGISTER');
    assert.equal(m.body.length, 0);
  });

  void test('semiuri: ; and escaped @ inside the user part', () => {
    const u = parseUri(req('semiuri').uri);
    assert.ok(u.ok && 'user' in u.value);
    assert.equal(u.value.user, 'user;par=u@example.net');
    assert.equal(u.value.host, 'example.com');
    assert.equal(u.value.params.size, 0);
  });

  void test('longreq: 34 Via values in various spellings, all kept in order', () => {
    const vias = ok('longreq').headers.getList('via');
    assert.equal(vias.length, 34);
    assert.equal(vias[0], 'SIP/2.0/TCP sip33.example.com');
  });

  void test('intmeth: the method, the odd URI and UTF-8 values survive', () => {
    const m = ok('intmeth');
    assert.ok(m.kind === 'request');
    assert.equal(m.method, "!interesting-Method0123456789_*+`.%indeed'~");
    const u = parseUri(m.uri);
    assert.ok(u.ok && 'user' in u.value);
    assert.equal(u.value.user, "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
    assert.equal(u.value.password, "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)");
    const to = parseNameAddr(m.headers.get('to') ?? '');
    assert.ok(to.ok);
    assert.equal(to.value.displayName, 'BEL:\x07 NUL:\x00 DEL:\x7f');
    const from = parseNameAddr(m.headers.get('from') ?? '');
    assert.ok(from.ok);
    assert.equal(from.value.displayName, "token1~` token2'+_ token3*%!.-");
    assert.equal(from.value.params.get("fromparam''~+*_!.-%"), '"работающий"');
  });

  void test('unreason: a UTF-8 reason phrase is read as text and written back byte for byte', () => {
    const buf = load('unreason');
    const m = ok('unreason');
    assert.ok(m.kind === 'response');
    assert.ok(m.reason.startsWith('= 2**3 * 5**2 но сто девяносто девять'));
    assert.equal(serializeMessage(m).toString('hex'), buf.toString('hex'));
  });

  void test('noreason: an empty reason phrase is an empty string', () => {
    const m = ok('noreason');
    assert.ok(m.kind === 'response');
    assert.equal(m.status, 100);
    assert.equal(m.reason, '');
  });

  void test('bext01: the 420 lists every unknown option in Unsupported', () => {
    const m = ok('bext01');
    assert.ok(m.kind === 'request');
    assert.deepEqual(checkRequest(m)?.headers, [
      ['Unsupported', 'nothingSupportsThis, nothingSupportsThisEither'],
    ]);
    assert.deepEqual(checkRequest(m, { role: 'proxy' })?.headers, [
      ['Unsupported', 'noProxiesSupportThis, norDoAnyProxiesSupportThis'],
    ]);
    assert.equal(
      checkRequest(m, { supportedExtensions: ['nothingsupportsthis', 'nothingSupportsThisEither'] }),
      undefined,
    );
  });

  void test('invut: the 415 carries Accept', () => {
    const m = ok('invut');
    assert.ok(m.kind === 'request');
    assert.deepEqual(checkRequest(m, { acceptedContentTypes: ['application/sdp'] })?.headers, [
      ['Accept', 'application/sdp'],
    ]);
  });

  void test('bcast: a proxy drops a response whose next Via is a broadcast address', () => {
    const m = ok('bcast');
    assert.ok(m.kind === 'response');
    assert.match(checkResponse(m, { role: 'proxy' }) ?? '', /broadcast/);
  });

  void test('cparam01/cparam02: addr-spec parameters belong to the header, bracketed ones to the URI', () => {
    const c1 = parseNameAddr(ok('cparam01').headers.get('contact') ?? '');
    assert.ok(c1.ok);
    assert.equal(c1.value.uri, 'sip:+19725552222@gw1.example.net');
    assert.equal(c1.value.params.get('unknownparam'), null);
    const c2 = parseNameAddr(ok('cparam02').headers.get('contact') ?? '');
    assert.ok(c2.ok);
    assert.equal(c2.value.params.size, 0);
    const u = parseUri(c2.value.uri);
    assert.ok(u.ok && 'params' in u.value);
    assert.equal(u.value.params.get('unknownparam'), null);
  });

  void test('regescrt: the escaped Route header of a Contact URI decodes', () => {
    const c = parseNameAddr(ok('regescrt').headers.get('contact') ?? '');
    assert.ok(c.ok);
    const u = parseUri(c.value.uri);
    assert.ok(u.ok && 'headers' in u.value);
    assert.equal(u.value.headers.get('Route'), '<sip:sip.example.com>');
  });

  void test('inv2543: no Content-Length on a datagram means the body is the rest of it', () => {
    const m = ok('inv2543');
    assert.ok(m.body.toString('latin1').startsWith('v=0'));
    assert.ok(m.body.toString('latin1').endsWith('RTP/AVP 0\r\n'));
  });
});
