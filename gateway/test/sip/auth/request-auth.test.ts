import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../../../base/clock.ts';
import { DigestAuthenticator, computeDigestAuthorization } from '../../../src/sip/auth/digest.ts';
import { authenticateRequest } from '../../../src/sip/auth/request-auth.ts';
import { getTag, parseMessage } from '../../../src/sip/message/index.ts';
import type { SipRequest } from '../../../src/sip/message/index.ts';

const REALM = 'pbx.example';
const users: Record<string, { password: string }> = { '1001': { password: 'pw1001' } };
const lookupUser = (u: string) => users[u];

function makeAuth() {
  return new DigestAuthenticator({
    realm: REALM,
    algorithms: ['SHA-256', 'MD5'],
    nonceTtlMs: 300_000,
    clock: new ManualClock(),
    secret: Buffer.alloc(32, 3),
  });
}

function request(method: string, uri: string, extra: string[] = []): SipRequest {
  const text = [
    `${method} ${uri} SIP/2.0`,
    'Via: SIP/2.0/UDP 192.168.1.10:5062;branch=z9hG4bK-abc;rport',
    'Max-Forwards: 70',
    `From: <sip:1001@${REALM}>;tag=f1`,
    `To: <${method === 'REGISTER' ? `sip:1001@${REALM}` : uri}>`,
    'Call-ID: c1@192.168.1.10',
    `CSeq: 1 ${method}`,
    'Contact: <sip:1001@192.168.1.10:5062>',
    ...extra,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  const parsed = parseMessage(Buffer.from(text));
  assert.ok(parsed.ok && parsed.value.kind === 'request', 'fixture parses');
  return parsed.value;
}

function answer(challenge: string, method: string, uri: string, password = 'pw1001'): string {
  const r = computeDigestAuthorization({ challenge, method, uri, username: '1001', password });
  assert.ok(r.ok);
  return r.value;
}

void describe('authenticateRequest (RFC 3261 §22.1, §22.3)', () => {
  const roles = [
    { method: 'INVITE', status: 407, challenge: 'proxy-authenticate', credentials: 'Proxy-Authorization' },
    { method: 'SUBSCRIBE', status: 407, challenge: 'proxy-authenticate', credentials: 'Proxy-Authorization' },
    { method: 'REGISTER', status: 401, challenge: 'www-authenticate', credentials: 'Authorization' },
  ];
  for (const r of roles) {
    void test(`${r.method} without credentials gets ${r.status} with ${r.challenge} and a To tag; the answer in ${r.credentials} is accepted`, () => {
      const auth = makeAuth();
      const uri = r.method === 'REGISTER' ? `sip:${REALM}` : `sip:2000@${REALM}`;
      const first = authenticateRequest(request(r.method, uri), auth, lookupUser);
      assert.equal(first.ok, false);
      if (first.ok) return;
      assert.equal(first.reason, 'missing');
      assert.equal(first.response.status, r.status);
      assert.ok(
        getTag(first.response.headers.get('to') ?? ''),
        'RFC 3261 §8.2.6.2: the response carries a To tag',
      );
      const challenges = first.response.headers.getLines(r.challenge);
      assert.equal(challenges.length, 2);
      const creds = answer(challenges[0] ?? '', r.method, uri);
      const second = authenticateRequest(
        request(r.method, uri, [`${r.credentials}: ${creds}`]),
        auth,
        lookupUser,
      );
      assert.deepEqual(second, { ok: true, username: '1001' });
    });
  }

  void test('credentials in the wrong header (Authorization on INVITE) are not looked at', () => {
    const auth = makeAuth();
    const uri = `sip:2000@${REALM}`;
    const creds = answer(auth.challenge()[0] ?? '', 'INVITE', uri);
    const res = authenticateRequest(request('INVITE', uri, [`Authorization: ${creds}`]), auth, lookupUser);
    assert.equal(res.ok, false);
    assert.equal(res.ok ? undefined : res.reason, 'missing');
  });

  void test('§22.3: of credentials for several realms, the ones for this realm are used', () => {
    const auth = makeAuth();
    const uri = `sip:2000@${REALM}`;
    const ours = answer(auth.challenge()[0] ?? '', 'INVITE', uri);
    const theirs = answer('Digest realm="upstream.example", nonce="n1", qop="auth"', 'INVITE', uri);
    const res = authenticateRequest(
      request('INVITE', uri, [`Proxy-Authorization: ${theirs}`, `Proxy-Authorization: ${ours}`]),
      auth,
      lookupUser,
    );
    assert.deepEqual(res, { ok: true, username: '1001' });
  });

  void test('a wrong password gets a fresh 407 challenge without stale', () => {
    const auth = makeAuth();
    const uri = `sip:2000@${REALM}`;
    const creds = answer(auth.challenge()[0] ?? '', 'INVITE', uri, 'wrong');
    const res = authenticateRequest(
      request('INVITE', uri, [`Proxy-Authorization: ${creds}`]),
      auth,
      lookupUser,
    );
    assert.equal(res.ok, false);
    if (res.ok) return;
    assert.equal(res.reason, 'bad-response');
    assert.equal(res.response.status, 407);
    assert.doesNotMatch(res.response.headers.getLines('proxy-authenticate').join(), /stale/);
  });

  void test('a digest-uri naming the server is accepted, and the same credentials cannot be replayed', () => {
    const auth = makeAuth();
    // SIPp and several phones put the server's address in digest-uri rather than the dialled URI.
    const creds = answer(auth.challenge()[0] ?? '', 'INVITE', 'sip:127.0.0.1:5060');
    const req = request('INVITE', `sip:3000@${REALM}`, [`Proxy-Authorization: ${creds}`]);
    const first = authenticateRequest(req, auth, lookupUser);
    assert.equal(first.ok, true);
    const replay = authenticateRequest(req, auth, lookupUser);
    assert.equal(replay.ok ? undefined : replay.reason, 'replay');
  });
});
