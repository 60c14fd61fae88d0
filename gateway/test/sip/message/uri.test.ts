import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { formatUri, isSipUri, parseUri } from '../../../src/sip/message/uri.ts';
import type { Uri } from '../../../src/sip/message/uri.ts';

/** [input, expected structure] — RFC 3261 §19.1, RFC 3966. */
const valid: Array<[string, Uri]> = [
  [
    'sip:alice@atlanta.com',
    { scheme: 'sip', user: 'alice', host: 'atlanta.com', params: new Map(), headers: new Map() },
  ],
  [
    'sips:alice:secretword@atlanta.com:5061;transport=tcp',
    {
      scheme: 'sips',
      user: 'alice',
      password: 'secretword',
      host: 'atlanta.com',
      port: 5061,
      params: new Map([['transport', 'tcp']]),
      headers: new Map(),
    },
  ],
  ['sip:192.0.2.4', { scheme: 'sip', host: '192.0.2.4', params: new Map(), headers: new Map() }],
  [
    'sip:[2001:db8::1]:5060',
    { scheme: 'sip', host: '2001:db8::1', port: 5060, params: new Map(), headers: new Map() },
  ],
  [
    'sip:bob@[2001:db8::10];maddr=[2001:db8::20]',
    {
      scheme: 'sip',
      user: 'bob',
      host: '2001:db8::10',
      params: new Map([['maddr', '[2001:db8::20]']]),
      headers: new Map(),
    },
  ],
  [
    'sip:proxy.example.com;lr;TRANSPORT=udp',
    {
      scheme: 'sip',
      host: 'proxy.example.com',
      params: new Map<string, string | null>([
        ['lr', null],
        ['transport', 'udp'],
      ]),
      headers: new Map(),
    },
  ],
  [
    'sip:+1-212-555-1212:1234@gateway.com;user=phone',
    {
      scheme: 'sip',
      user: '+1-212-555-1212',
      password: '1234',
      host: 'gateway.com',
      params: new Map([['user', 'phone']]),
      headers: new Map(),
    },
  ],
  [
    'sip:atlanta.com;method=REGISTER?to=alice%40atlanta.com',
    {
      scheme: 'sip',
      host: 'atlanta.com',
      params: new Map([['method', 'REGISTER']]),
      headers: new Map([['to', 'alice@atlanta.com']]),
    },
  ],
  [
    'sip:alice@atlanta.com?subject=project%20x&priority=urgent',
    {
      scheme: 'sip',
      user: 'alice',
      host: 'atlanta.com',
      params: new Map(),
      headers: new Map([
        ['subject', 'project x'],
        ['priority', 'urgent'],
      ]),
    },
  ],
  [
    'sip:%61lice@atlanta.com',
    { scheme: 'sip', user: 'alice', host: 'atlanta.com', params: new Map(), headers: new Map() },
  ],
  [
    'sip:caf%C3%A9@example.com',
    { scheme: 'sip', user: 'café', host: 'example.com', params: new Map(), headers: new Map() },
  ],
  [
    'SIP:Bob@Example.COM',
    { scheme: 'sip', user: 'Bob', host: 'Example.COM', params: new Map(), headers: new Map() },
  ],
  ['tel:+1-201-555-0123', { scheme: 'tel', number: '+1-201-555-0123', params: new Map() }],
  [
    'tel:7042;phone-context=example.com',
    { scheme: 'tel', number: '7042', params: new Map([['phone-context', 'example.com']]) },
  ],
  [
    'tel:%2B358-555-1234567;isub=1411',
    { scheme: 'tel', number: '+358-555-1234567', params: new Map([['isub', '1411']]) },
  ],
  [
    'nobodyKnowsThisScheme:totallyopaquecontent',
    { scheme: 'nobodyknowsthisscheme', raw: 'nobodyKnowsThisScheme:totallyopaquecontent' },
  ],
  ['soap.beep://192.0.2.103:3002', { scheme: 'soap.beep', raw: 'soap.beep://192.0.2.103:3002' }],
  ['urn:service:sos', { scheme: 'urn', raw: 'urn:service:sos' }],
];

const invalid: Array<[string, string]> = [
  ['', 'empty'],
  ['alice@atlanta.com', 'no scheme'],
  ['sip:', 'nothing after the scheme'],
  ['sip:alice@', 'no host'],
  ['sip:alice@atlanta.com:99999', 'port out of range'],
  ['sip:alice@atlanta.com:50x', 'port not numeric'],
  ['sip:[2001:db8::1', 'unterminated IPv6 reference'],
  ['sip:alice@atl anta.com', 'embedded space'],
  ['<sip:alice@atlanta.com>', 'angle brackets'],
  ['sip:al%zzice@atlanta.com', 'bad escape'],
  ['sip:alice@atlanta.com;=x', 'parameter without a name'],
  ['sip:alice@atlanta.com;a=', 'parameter with an empty value'],
  ['sip:alice@atlanta.com?subject', 'header without a value separator'],
  ['1sip:alice@atlanta.com', 'scheme starting with a digit'],
  ['tel:', 'empty telephone number'],
];

void describe('URIs (RFC 3261 §19.1)', () => {
  for (const [input, expected] of valid) {
    void test(`parses ${input}`, () => {
      const r = parseUri(input);
      assert.ok(r.ok, r.ok ? '' : r.error.message);
      assert.deepEqual(r.value, expected);
    });
    void test(`formats and re-parses ${input} to the same URI`, () => {
      const r = parseUri(input);
      assert.ok(r.ok);
      assert.deepEqual(parseUri(formatUri(r.value)), r);
    });
  }
  for (const [input, why] of invalid) {
    void test(`rejects ${JSON.stringify(input)} (${why})`, () => {
      const r = parseUri(input);
      assert.equal(r.ok, false);
    });
  }

  void test('formatting escapes only what the grammar requires (RFC 3261 §19.1.2)', () => {
    const cases: Array<[Uri, string]> = [
      [
        {
          scheme: 'sip',
          user: 'sips:user@example.com',
          host: 'example.net',
          params: new Map(),
          headers: new Map(),
        },
        'sip:sips%3Auser%40example.com@example.net',
      ],
      [
        { scheme: 'sip', user: 'I have spaces', host: 'example.net', params: new Map(), headers: new Map() },
        'sip:I%20have%20spaces@example.net',
      ],
      [
        {
          scheme: 'sip',
          user: "user;par=x&y+z$,?/-_.!~*'()",
          host: 'h',
          params: new Map(),
          headers: new Map(),
        },
        "sip:user;par=x&y+z$,?/-_.!~*'()@h",
      ],
      [
        {
          scheme: 'sip',
          host: '2001:db8::1',
          port: 5060,
          params: new Map([['lr', null]]),
          headers: new Map([['Route', '<sip:a;lr>']]),
        },
        'sip:[2001:db8::1]:5060;lr?Route=%3Csip:a%3Blr%3E',
      ],
      [
        { scheme: 'sip', user: 'café', host: 'example.com', params: new Map(), headers: new Map() },
        'sip:caf%C3%A9@example.com',
      ],
      [{ scheme: 'tel', number: '+1 555', params: new Map() }, 'tel:+1%20555'],
    ];
    for (const [uri, text] of cases) assert.equal(formatUri(uri), text);
  });

  void test('isSipUri distinguishes sip/sips from tel and other schemes', () => {
    const kinds = ['sip:a@b', 'sips:a@b', 'tel:+1', 'mailto:a@b'].map((s) => {
      const r = parseUri(s);
      assert.ok(r.ok);
      return isSipUri(r.value);
    });
    assert.deepEqual(kinds, [true, true, false, false]);
  });
});
