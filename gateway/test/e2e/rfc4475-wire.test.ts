/**
 * Every RFC 4475 torture message, as bytes on the wire, to the real gateway process over UDP.
 *
 * RFC 4475 §1: "the messages ... are designed to test ... parsers"; each section says what a
 * conforming element does with its message: process it (a valid request gets a response, here the
 * challenge, refusal or 4xx the gateway's policy gives an unknown source), reject it (400, or the
 * specific 505/416/420/415/406), or discard it (responses that reach no client transaction).
 *
 * Only the top Via's sent-by is rewritten, to this test's loopback socket: RFC 3261 §18.2.2 sends
 * the answer there, and the corpus names documentation hosts (RFC 5737) no test may send to. Each
 * message gets its own socket, so corpus messages that share a branch (z9hG4bKkdjuw) stay distinct
 * transactions as they would from their distinct senders.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startGateway, type GatewayProcess } from '../peers/gateway-process.ts';
import { callIdOf, headerOf, metricSum, openUdp, statusOf } from '../peers/raw-sip.ts';

const corpus = join(process.cwd(), 'gateway', 'test', 'fixtures', 'rfc4475');

type Expected = { answer: readonly number[]; header?: [string, RegExp] } | 'silence';

interface Case {
  file: string;
  section: string;
  rule: string;
  expect: Expected;
  /** Refused by the UAS core's request checks, after the transaction layer took it. */
  core?: true;
  /** The request's To cannot be parsed (or is absent): no tag can be added to it. */
  badTo?: true;
}

const challenge = (status: 401 | 407): Expected => ({
  answer: [status],
  header: status === 401 ? ['www-authenticate', /^Digest /] : ['proxy-authenticate', /^Digest /],
});
const badRequest: Expected = { answer: [400] };

const cases: readonly Case[] = [
  // §3.1.1 Valid messages: the element processes them.
  {
    file: 'wsinv',
    section: '3.1.1.1',
    rule: 'a tortuous but valid INVITE is parsed; its To tag names no dialog, so 481',
    expect: { answer: [481] },
  },
  {
    file: 'intmeth',
    section: '3.1.1.2',
    rule: 'an unknown method made of token characters is parsed and answered 501',
    expect: { answer: [501], header: ['allow', /INVITE/] },
    core: true,
  },
  {
    file: 'esc01',
    section: '3.1.1.3',
    rule: 'escaped characters in URIs are valid: the INVITE is processed (challenged)',
    expect: challenge(407),
  },
  {
    file: 'escnull',
    section: '3.1.1.4',
    rule: 'an escaped NUL in a URI is valid: the REGISTER is processed (challenged)',
    expect: challenge(401),
  },
  {
    file: 'esc02',
    section: '3.1.1.5',
    rule: 'a method with %-escapes is a distinct unknown method: 501',
    expect: { answer: [501] },
    core: true,
  },
  {
    file: 'lwsdisp',
    section: '3.1.1.6',
    rule: 'a display name followed by no LWS before < is valid: processed (challenged)',
    expect: challenge(407),
  },
  {
    file: 'longreq',
    section: '3.1.1.7',
    rule: 'a long, many-header INVITE is valid: processed (challenged)',
    expect: challenge(407),
  },
  {
    file: 'dblreq',
    section: '3.1.1.8',
    rule: 'octets after the Content-Length body are ignored: one REGISTER answered, the trailing INVITE not',
    expect: challenge(401),
  },
  {
    file: 'semiuri',
    section: '3.1.1.9',
    rule: 'a semicolon-separated user part is valid: processed (challenged)',
    expect: challenge(407),
  },
  {
    file: 'transports',
    section: '3.1.1.10',
    rule: 'unknown transports in lower Vias are valid: processed (challenged)',
    expect: challenge(407),
  },
  {
    file: 'mpart01',
    section: '3.1.1.11',
    rule: 'a multipart MESSAGE is valid; MESSAGE is known but not allowed: 405 with Allow',
    expect: { answer: [405], header: ['allow', /INVITE/] },
    core: true,
  },
  {
    file: 'unreason',
    section: '3.1.1.12',
    rule: 'a response (unusual reason phrase) matching no client transaction is discarded',
    expect: 'silence',
  },
  {
    file: 'noreason',
    section: '3.1.1.13',
    rule: 'a response with an empty reason phrase matching no client transaction is discarded',
    expect: 'silence',
  },
  // §3.1.2 Invalid messages: a request is answered 400 (or the specific code), a response dropped.
  {
    file: 'badinv01',
    section: '3.1.2.1',
    rule: 'extraneous header-field separators in Via: 400',
    expect: badRequest,
  },
  {
    file: 'clerr',
    section: '3.1.2.2',
    rule: 'Content-Length larger than the message: 400',
    expect: badRequest,
  },
  { file: 'ncl', section: '3.1.2.3', rule: 'negative Content-Length: 400', expect: badRequest },
  {
    file: 'scalar02',
    section: '3.1.2.4',
    rule: 'scalar fields with overlarge values (CSeq): 400',
    expect: badRequest,
  },
  {
    file: 'scalarlg',
    section: '3.1.2.5',
    rule: 'a response with overlarge scalar fields is discarded',
    expect: 'silence',
  },
  {
    file: 'quotbal',
    section: '3.1.2.6',
    rule: 'unterminated quoted string in a display name: 400',
    expect: badRequest,
    badTo: true,
  },
  { file: 'ltgtruri', section: '3.1.2.7', rule: '<> enclosing the Request-URI: 400', expect: badRequest },
  { file: 'lwsruri', section: '3.1.2.8', rule: 'LWS inside the Request-URI: 400', expect: badRequest },
  {
    file: 'lwsstart',
    section: '3.1.2.9',
    rule: 'several SP separating Request-Line elements: 400',
    expect: badRequest,
  },
  { file: 'trws', section: '3.1.2.10', rule: 'SP after the SIP-Version: 400', expect: badRequest },
  {
    file: 'escruri',
    section: '3.1.2.11',
    rule: 'escaped headers in the Request-URI: 400',
    expect: badRequest,
  },
  { file: 'baddate', section: '3.1.2.12', rule: 'a Date not in GMT: 400', expect: badRequest },
  {
    file: 'regbadct',
    section: '3.1.2.13',
    rule: 'a Contact URI with ? and ; outside <>: 400',
    expect: badRequest,
  },
  {
    file: 'badaspec',
    section: '3.1.2.14',
    rule: 'spaces within an addr-spec: 400',
    expect: badRequest,
    badTo: true,
  },
  {
    file: 'baddn',
    section: '3.1.2.15',
    rule: 'non-token characters in an unquoted display name: 400',
    expect: badRequest,
    badTo: true,
  },
  {
    file: 'badvers',
    section: '3.1.2.16',
    rule: 'an unknown protocol version: 505',
    expect: { answer: [505] },
  },
  {
    file: 'mismatch01',
    section: '3.1.2.17',
    rule: 'Request-Line method unlike the CSeq method: 400',
    expect: badRequest,
  },
  {
    file: 'mismatch02',
    section: '3.1.2.18',
    rule: 'an unknown method unlike the CSeq method: 400',
    expect: badRequest,
  },
  {
    file: 'bigcode',
    section: '3.1.2.19',
    rule: 'a response with an overlarge status code is discarded',
    expect: 'silence',
  },
  // §3.2 Transaction layer semantics.
  {
    file: 'badbranch',
    section: '3.2.1',
    rule: 'a branch of only the magic cookie is still a request to process (challenged)',
    expect: challenge(407),
  },
  // §3.3 Application layer semantics.
  {
    file: 'insuf',
    section: '3.3.1',
    rule: 'missing mandatory header fields (Call-ID, From, To): 400',
    expect: badRequest,
    badTo: true,
  },
  {
    file: 'unkscm',
    section: '3.3.2',
    rule: 'an unknown Request-URI scheme: 416',
    expect: { answer: [416] },
    core: true,
  },
  {
    file: 'novelsc',
    section: '3.3.3',
    rule: 'a novel Request-URI scheme: 416',
    expect: { answer: [416] },
    core: true,
  },
  {
    file: 'unksm2',
    section: '3.3.4',
    rule: 'a REGISTER whose To is not a SIP URI: 400',
    expect: badRequest,
    core: true,
  },
  {
    file: 'bext01',
    section: '3.3.5',
    rule: 'unknown option tags in Require: 420 listing them in Unsupported',
    expect: { answer: [420], header: ['unsupported', /nothingSupportsThis.*nothingSupportsThisEither/] },
    core: true,
  },
  {
    file: 'invut',
    section: '3.3.6',
    rule: 'a body of an unknown type: 415 with Accept',
    expect: { answer: [415], header: ['accept', /application\/sdp/] },
    core: true,
  },
  {
    file: 'regaut01',
    section: '3.3.7',
    rule: 'credentials of an unknown scheme: 401 with a Digest challenge',
    expect: challenge(401),
  },
  {
    file: 'multi01',
    section: '3.3.8',
    rule: 'several values in single-valued header fields: 400',
    expect: badRequest,
  },
  { file: 'mcl01', section: '3.3.9', rule: 'several Content-Length values: 400', expect: badRequest },
  {
    file: 'bcast',
    section: '3.3.10',
    rule: 'a response toward a broadcast Via matching no client transaction is discarded',
    expect: 'silence',
  },
  {
    file: 'zeromf',
    section: '3.3.11',
    rule: 'Max-Forwards 0 at a UAS: processed, not 483 (challenged)',
    expect: challenge(407),
  },
  {
    file: 'cparam01',
    section: '3.3.12',
    rule: 'Contact parameters that look like header parameters are valid: processed (challenged)',
    expect: challenge(401),
  },
  {
    file: 'cparam02',
    section: '3.3.13',
    rule: 'Contact parameters with escaped values are valid: processed (challenged)',
    expect: challenge(401),
  },
  {
    file: 'regescrt',
    section: '3.3.14',
    rule: 'escaped headers in a Contact URI are valid: processed (challenged)',
    expect: challenge(401),
  },
  {
    file: 'sdp01',
    section: '3.3.15',
    rule: 'an INVITE whose Accept rules out SDP: 406',
    expect: { answer: [406] },
    core: true,
  },
  // §3.4 Backward compatibility.
  {
    file: 'inv2543',
    section: '3.4.1',
    rule: 'an RFC 2543 INVITE (no branch, no Max-Forwards) is processed (challenged)',
    expect: challenge(407),
  },
];

/** The top Via's sent-protocol and sent-by, folded or not (wsinv folds it over three lines). */
const topViaSentBy =
  /^((?:via|v)[ \t]*:[ \t]*)SIP[ \t]*\/[ \t]*2\.0[ \t]*(?:\r\n[ \t]+)?\/[ \t]*(?:\r\n[ \t]+)?[A-Za-z]+\s+[^;,\s]+/im;

function pointViaAt(message: Buffer, port: number, all: boolean): Buffer {
  const text = message.toString('latin1');
  const re = all ? new RegExp(topViaSentBy.source, 'gim') : topViaSentBy;
  return Buffer.from(text.replace(re, `$1SIP/2.0/UDP 127.0.0.1:${port}`), 'latin1');
}

/** Call-IDs of every message in a datagram (dblreq carries two). */
function callIds(message: Buffer): string[] {
  return [...message.toString('latin1').matchAll(/^(?:call-id|i)[ \t]*:[ \t]*(\S+)/gim)].map(
    (m) => m[1] ?? '',
  );
}

const silenceMs = 400;
const answerMs = 3000;

describe('RFC 4475 torture messages sent over UDP to the running gateway', () => {
  let gw: GatewayProcess;
  const answered: Record<string, number | 'silence'> = {};
  const toOfAnswer: Record<string, string> = {};

  before(async () => {
    gw = await startGateway({ demo: true, env: { EDGELINE_LOG_LEVEL: 'info' } });
  });
  after(async () => {
    const code = await gw.stop();
    assert.equal(code, 0, `gateway exited with ${String(code)}:\n${gw.output().slice(-4000)}`);
  });

  for (const c of cases) {
    test(`RFC 4475 §${c.section} ${c.file}: ${c.rule}`, async () => {
      const raw = readFileSync(join(corpus, `${c.file}.dat`));
      const udp = await openUdp();
      try {
        const message = pointViaAt(raw, udp.port, c.file === 'dblreq');
        const [callId, ...trailing] = callIds(message);
        await udp.send(message, gw.sipPort);
        // insuf has no Call-ID: its socket is its own, so any answer on it is the answer to it.
        const mine = (b: Buffer) => callId === undefined || callIdOf(b) === callId;
        const reply = await udp.receive({
          timeoutMs: c.expect === 'silence' ? silenceMs : answerMs,
          match: mine,
        });
        answered[c.file] = reply ? (statusOf(reply) ?? -1) : 'silence';
        if (reply) toOfAnswer[c.file] = headerOf(reply, 'to', 't') ?? '';
        assert.equal(gw.proc.exitCode, null, `gateway died on ${c.file}:\n${gw.output().slice(-4000)}`);
        if (c.expect === 'silence') {
          assert.equal(
            reply,
            undefined,
            `expected no answer, got: ${reply?.toString('latin1').split('\r\n')[0] ?? ''}`,
          );
          return;
        }
        assert.ok(reply, `no answer to ${c.file} within ${answerMs} ms`);
        const status = statusOf(reply);
        assert.ok(
          status !== undefined && c.expect.answer.includes(status),
          `expected ${c.expect.answer.join('/')}, got: ${reply.toString('latin1').split('\r\n')[0] ?? ''}`,
        );
        // RFC 3261 §8.2.6.2: "The CSeq header field of the response MUST equal the CSeq field of the request."
        assert.ok(headerOf(reply, 'cseq'), 'the answer carries CSeq');
        if (c.expect.header) {
          const [name, pattern] = c.expect.header;
          assert.match(headerOf(reply, name) ?? '', pattern, `${name} of the answer`);
        }
        // RFC 4475 §3.1.1.8: the INVITE after the REGISTER's body is not a second message.
        for (const other of trailing) {
          const extra = await udp.receive({ timeoutMs: silenceMs, match: (b) => callIdOf(b) === other });
          assert.equal(extra, undefined, 'octets past Content-Length were processed as a message');
        }
      } finally {
        await udp.close();
      }
    });
  }

  // RFC 3261 §8.2.6.2: "if the To header field in the request did not contain a tag, the URI in
  // the To header field in the response MUST equal the URI in the To header field; additionally,
  // the UAS MUST add a tag to the To header field in the response".
  const taglessAnswers = (core: boolean): string[] =>
    cases
      .filter((c) => c.expect !== 'silence' && !c.badTo && Boolean(c.core) === core)
      .filter((c) => !/;\s*tag\s*=/i.test(toOfAnswer[c.file] ?? ''))
      .map((c) => c.file);

  test('MUST add a To tag to the error answers the transport and transaction layers send', () => {
    assert.deepEqual(taglessAnswers(false), []);
  });

  test('MUST add a To tag to the rejections of the UAS core (416, 420, 415, 406, 405, 501)', () => {
    assert.deepEqual(taglessAnswers(true), []);
  });

  test('the gateway is still healthy after the corpus and counted what it could not parse', async () => {
    assert.equal(gw.proc.exitCode, null);
    const health = await gw.api('GET', '/healthz');
    assert.equal(health.status, 200);
    const metrics = await gw.api<string>('GET', '/metrics');
    const parseErrors = metricSum(metrics.body, 'edgeline_sip_parse_errors_total');
    assert.ok(parseErrors > 0, `edgeline_sip_parse_errors_total is ${parseErrors}`);
    const silent = Object.entries(answered)
      .filter(([, v]) => v === 'silence')
      .map(([f]) => f);
    assert.deepEqual(silent.sort(), ['bcast', 'bigcode', 'noreason', 'scalarlg', 'unreason']);
  });
});
