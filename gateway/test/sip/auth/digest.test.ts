import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../../../base/clock.ts';
import {
  DigestAuthenticator,
  computeDigestAuthorization,
  digestResponse,
  pickChallenge,
  type DigestAlgorithm,
} from '../../../src/sip/auth/digest.ts';
import { parseAuthHeader } from '../../../src/sip/message/index.ts';

const secret = Buffer.alloc(32, 7);
const users: Record<string, string> = { '1001': 'secret-1001', '1002': 'other' };
const lookup = (u: string) => users[u];

function makeAuth(clock = new ManualClock(), algorithms: DigestAlgorithm[] = ['SHA-256', 'MD5']) {
  return new DigestAuthenticator({ realm: 'pbx.example', algorithms, nonceTtlMs: 300_000, clock, secret });
}

function params(value: string): Map<string, string> {
  const p = parseAuthHeader(value);
  assert.ok(p.ok, `parses: ${value}`);
  return p.value.params;
}

function answer(
  challenge: string,
  o: { user?: string; password?: string; method?: string; uri?: string; nc?: number; cnonce?: string } = {},
): string {
  const r = computeDigestAuthorization({
    challenge,
    method: o.method ?? 'REGISTER',
    uri: o.uri ?? 'sip:pbx.example',
    username: o.user ?? '1001',
    password: o.password ?? 'secret-1001',
    nc: o.nc ?? 1,
    cnonce: o.cnonce ?? 'c0ffee01',
  });
  assert.ok(r.ok);
  return r.value;
}

void describe('digest computation: published vectors', () => {
  const cases = [
    {
      name: 'RFC 2617 §3.5 (MD5, qop=auth)',
      algorithm: 'MD5' as const,
      realm: 'testrealm@host.com',
      password: 'Circle Of Life',
      nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093',
      cnonce: '0a4f113b',
      expected: '6629fae49393a05397450978507c4ef1',
    },
    {
      name: 'RFC 7616 §3.9.1 (SHA-256, qop=auth)',
      algorithm: 'SHA-256' as const,
      realm: 'http-auth@example.org',
      password: 'Circle of Life',
      nonce: '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v',
      cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ',
      expected: '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1',
    },
    {
      name: 'RFC 7616 §3.9.1 (MD5, qop=auth)',
      algorithm: 'MD5' as const,
      realm: 'http-auth@example.org',
      password: 'Circle of Life',
      nonce: '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v',
      cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ',
      expected: '8ca523f5e9506fed4657c9700eebdbec',
    },
  ];
  for (const c of cases) {
    void test(`request-digest matches ${c.name}`, () => {
      const common = {
        username: 'Mufasa',
        method: 'GET',
        uri: '/dir/index.html',
        nc: '00000001',
        qop: 'auth' as const,
      };
      assert.equal(digestResponse({ ...common, ...c }), c.expected);
    });
    void test(`client Authorization carries the response of ${c.name}`, () => {
      const challenge = `Digest realm="${c.realm}", nonce="${c.nonce}", algorithm=${c.algorithm}, qop="auth, auth-int", opaque="FQhe"`;
      const r = computeDigestAuthorization({
        challenge,
        method: 'GET',
        uri: '/dir/index.html',
        username: 'Mufasa',
        password: c.password,
        cnonce: c.cnonce,
        nc: 1,
      });
      assert.ok(r.ok);
      const p = params(r.value);
      assert.equal(p.get('response'), c.expected);
      assert.equal(p.get('nc'), '00000001');
      assert.equal(p.get('qop'), 'auth');
      assert.equal(p.get('opaque'), 'FQhe', 'opaque MUST be returned unchanged');
      assert.equal(p.get('algorithm'), c.algorithm);
    });
  }

  void test('client answers an RFC 2069 challenge (no qop) without cnonce and nc', () => {
    const r = computeDigestAuthorization({
      challenge: 'Digest realm="trunk", nonce="abc"',
      method: 'INVITE',
      uri: 'sip:+4930123@trunk.example',
      username: 'gw',
      password: 'pw',
    });
    assert.ok(r.ok);
    const p = params(r.value);
    assert.equal(p.has('cnonce'), false);
    assert.equal(p.has('nc'), false);
    assert.equal(
      p.get('response'),
      digestResponse({
        algorithm: 'MD5',
        username: 'gw',
        realm: 'trunk',
        password: 'pw',
        method: 'INVITE',
        uri: 'sip:+4930123@trunk.example',
        nonce: 'abc',
      }),
    );
  });

  const refused = [
    ['a non-Digest scheme', 'Basic realm="x"'],
    ['an unknown algorithm', 'Digest realm="x", nonce="n", algorithm=SHA-512-256'],
    ['a -sess algorithm', 'Digest realm="x", nonce="n", algorithm=MD5-sess'],
    ['qop auth-int only', 'Digest realm="x", nonce="n", qop="auth-int"'],
    ['no nonce', 'Digest realm="x"'],
    ['garbage', '"'],
  ] as const;
  for (const [name, challenge] of refused) {
    void test(`client refuses to answer ${name}`, () => {
      const r = computeDigestAuthorization({
        challenge,
        method: 'REGISTER',
        uri: 'sip:x',
        username: 'u',
        password: 'p',
      });
      assert.equal(r.ok, false);
    });
  }

  void test('RFC 8760 §2.4: the client takes the topmost challenge with an algorithm it supports', () => {
    const picked = pickChallenge([
      'Digest realm="x", nonce="1", algorithm=SHA-512-256',
      'Digest realm="x", nonce="1", algorithm=SHA-256',
      'Digest realm="x", nonce="1", algorithm=MD5',
    ]);
    assert.match(picked ?? '', /SHA-256/);
  });
});

void describe('DigestAuthenticator (server side)', () => {
  void test('RFC 8760 §2.4: one challenge per algorithm, SHA-256 first, sharing a nonce, qop="auth"', () => {
    const auth = makeAuth();
    const ch = auth.challenge();
    assert.equal(ch.length, 2);
    const [a, b] = ch.map(params);
    assert.equal(a?.get('algorithm'), 'SHA-256');
    assert.equal(b?.get('algorithm'), 'MD5');
    assert.equal(a?.get('nonce'), b?.get('nonce'));
    assert.equal(a?.get('qop'), 'auth');
    assert.equal(a?.get('realm'), 'pbx.example');
    assert.equal(a?.has('stale'), false);
    assert.notEqual(auth.challenge()[0], ch[0], 'every challenge has a fresh nonce');
  });

  for (const algorithm of ['SHA-256', 'MD5'] as const) {
    void test(`round trip client → server with ${algorithm}`, () => {
      const auth = makeAuth();
      const challenge = auth.challenge().find((c) => c.includes(`algorithm=${algorithm}`)) ?? '';
      const v = auth.verify(
        { method: 'REGISTER', authorization: answer(challenge), requestUri: 'sip:pbx.example' },
        lookup,
      );
      assert.deepEqual(v, { ok: true, username: '1001' });
    });
  }

  void test('an algorithm that is not offered is refused', () => {
    const auth = makeAuth(new ManualClock(), ['SHA-256']);
    const md5 = (auth.challenge()[0] ?? '').replace('SHA-256', 'MD5');
    const v = auth.verify({ method: 'REGISTER', authorization: answer(md5) }, lookup);
    assert.deepEqual(v, { ok: false, reason: 'bad-algorithm' });
  });

  void test('a nonce stays valid across a restart with the same secret', () => {
    const clock = new ManualClock();
    const challenge = makeAuth(clock).challenge()[0] ?? '';
    const v = makeAuth(clock).verify({ method: 'REGISTER', authorization: answer(challenge) }, lookup);
    assert.equal(v.ok, true);
  });

  void test('RFC 2617 §3.2.1: an expired nonce with a correct response is stale, and the new challenge says stale=true', () => {
    const clock = new ManualClock();
    const auth = makeAuth(clock);
    const challenge = auth.challenge()[0] ?? '';
    clock.advance(300_001);
    const v = auth.verify({ method: 'REGISTER', authorization: answer(challenge) }, lookup);
    assert.deepEqual(v, { ok: false, reason: 'stale' });
    const again = auth.challengeFor(v);
    assert.equal(params(again[0] ?? '').get('stale'), 'true');
  });

  void test('an expired nonce with a wrong password is a bad response, not stale', () => {
    const clock = new ManualClock();
    const auth = makeAuth(clock);
    const challenge = auth.challenge()[0] ?? '';
    clock.advance(300_001);
    const v = auth.verify(
      { method: 'REGISTER', authorization: answer(challenge, { password: 'nope' }) },
      lookup,
    );
    assert.deepEqual(v, { ok: false, reason: 'bad-response' });
    assert.equal(params(auth.challengeFor(v)[0] ?? '').has('stale'), false);
  });

  void test('a nonce minted under another secret, with a correct response, is stale', () => {
    const clock = new ManualClock();
    const other = new DigestAuthenticator({
      realm: 'pbx.example',
      algorithms: ['MD5'],
      nonceTtlMs: 300_000,
      clock,
    });
    const v = makeAuth(clock).verify(
      { method: 'REGISTER', authorization: answer(other.challenge()[0] ?? '') },
      lookup,
    );
    assert.deepEqual(v, { ok: false, reason: 'stale' });
  });

  void test('RFC 2617 §3.2.2: a nonce-count seen twice is a replay and is refused; the next nc is accepted', () => {
    const auth = makeAuth();
    const challenge = auth.challenge()[0] ?? '';
    const first = answer(challenge, { nc: 1 });
    assert.equal(auth.verify({ method: 'REGISTER', authorization: first }, lookup).ok, true);
    assert.deepEqual(auth.verify({ method: 'REGISTER', authorization: first }, lookup), {
      ok: false,
      reason: 'replay',
    });
    assert.equal(
      auth.verify({ method: 'REGISTER', authorization: answer(challenge, { nc: 2 }) }, lookup).ok,
      true,
    );
  });

  void test('replay memory is bounded; nonces forgotten by the cache are answered stale, never re-accepted', () => {
    const clock = new ManualClock();
    const auth = new DigestAuthenticator({
      realm: 'pbx.example',
      algorithms: ['MD5'],
      nonceTtlMs: 300_000,
      clock,
      secret,
      replayCacheNonces: 2,
    });
    const creds: string[] = [];
    for (let i = 0; i < 4; i++) {
      clock.advance(1);
      const a = answer(auth.challenge()[0] ?? '');
      assert.equal(auth.verify({ method: 'REGISTER', authorization: a }, lookup).ok, true);
      creds.push(a);
    }
    assert.equal(auth.dump().trackedNonces, 2);
    assert.deepEqual(auth.verify({ method: 'REGISTER', authorization: creds[0] ?? '' }, lookup), {
      ok: false,
      reason: 'stale',
    });
    assert.deepEqual(auth.verify({ method: 'REGISTER', authorization: creds[3] ?? '' }, lookup), {
      ok: false,
      reason: 'replay',
    });
  });

  const tamper: Array<[string, (a: string) => string, string]> = [
    [
      'a tampered response',
      (a) => a.replace(/response="([0-9a-f])/, (_m, c: string) => `response="${c === '0' ? '1' : '0'}`),
      'bad-response',
    ],
    ['a tampered cnonce', (a) => a.replace('c0ffee01', 'c0ffee02'), 'bad-response'],
    ['another username', (a) => a.replace('username="1001"', 'username="1002"'), 'bad-response'],
    ['an unknown user', (a) => a.replace('username="1001"', 'username="9999"'), 'unknown-user'],
    ['another realm', (a) => a.replace('realm="pbx.example"', 'realm="evil"'), 'wrong-realm'],
    ['no qop', (a) => a.replace(', qop=auth', ''), 'bad-qop'],
    ['a bad nc', (a) => a.replace('nc=00000001', 'nc=1'), 'malformed'],
    ['no response', (a) => a.replace(/response="[0-9a-f]+", /, ''), 'malformed'],
    ['Basic credentials', () => 'Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==', 'malformed'],
    ['an empty header', () => '', 'missing'],
  ];
  for (const [name, mutate, reason] of tamper) {
    void test(`refuses ${name} (${reason})`, () => {
      const auth = makeAuth();
      const a = mutate(answer(auth.challenge()[1] ?? ''));
      assert.deepEqual(auth.verify({ method: 'REGISTER', authorization: a }, lookup), { ok: false, reason });
    });
  }

  void test('the method is part of the digest: credentials for REGISTER do not authorize INVITE', () => {
    const auth = makeAuth();
    const a = answer(auth.challenge()[0] ?? '', { method: 'REGISTER' });
    assert.deepEqual(auth.verify({ method: 'INVITE', authorization: a }, lookup), {
      ok: false,
      reason: 'bad-response',
    });
  });

  const uris: Array<[string, string, boolean]> = [
    ['sip:pbx.example', 'sip:pbx.example', true],
    ['sip:PBX.example:5060', 'sip:pbx.example', true],
    ['sip:pbx.example;transport=udp', 'sip:pbx.example', true],
    ['sip:other.example', 'sip:pbx.example', false],
    ['sip:pbx.example:5070', 'sip:pbx.example', false],
    ['sips:pbx.example', 'sip:pbx.example', false],
  ];
  for (const [digestUri, requestUri, accepted] of uris) {
    void test(`RFC 2617 §3.2.2.5: digest uri ${digestUri} ${accepted ? 'designates' : 'does not designate'} Request-URI ${requestUri}`, () => {
      const auth = makeAuth();
      const a = answer(auth.challenge()[0] ?? '', { uri: digestUri });
      const v = auth.verify({ method: 'REGISTER', authorization: a, requestUri }, lookup);
      assert.deepEqual(v, accepted ? { ok: true, username: '1001' } : { ok: false, reason: 'bad-uri' });
    });
  }

  void test('dump() is plain JSON with counters', () => {
    const auth = makeAuth();
    auth.challenge();
    auth.verify({ method: 'REGISTER', authorization: undefined }, lookup);
    const d = auth.dump();
    assert.deepEqual(JSON.parse(JSON.stringify(d)), d);
    assert.equal(d.stats.challenges, 1);
    assert.equal(d.stats.refused, 1);
    auth.close();
  });
});
