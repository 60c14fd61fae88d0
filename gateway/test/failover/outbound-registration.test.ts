import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../../base/clock.ts';
import {
  backoffS,
  OutboundRegistration,
  refreshAfterS,
  type RegisterReply,
  type RegisterRequest,
  type RegistrationState,
} from '../../src/failover/outbound-registration.ts';

const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

type Scripted = RegisterReply | 'hang';

/**
 * A scripted registrar: each REGISTER takes the next reply from the script; when the script runs
 * out, `fallback` answers.
 */
function harness(
  script: Scripted[],
  opts: {
    fallback?: Scripted;
    random?: number;
    expiresS?: number;
    retryMinS?: number;
    retryMaxS?: number;
  } = {},
) {
  const clock = new ManualClock();
  const requests: Array<RegisterRequest & { atMs: number }> = [];
  const states: Array<[RegistrationState, string]> = [];
  let nc = 0;
  const reg = new OutboundRegistration(
    {
      clock,
      timers: clock,
      random: () => opts.random ?? 0,
      sendRegister(req) {
        requests.push({ ...req, atMs: clock.now() });
        const next = script.shift() ?? opts.fallback ?? { status: 200, headers: {} };
        if (next === 'hang') return new Promise(() => {});
        return Promise.resolve(next);
      },
      computeAuthorization(challenge, method, uri) {
        if (!challenge.startsWith('Digest')) return undefined;
        nc++;
        return `Digest method=${method} uri="${uri}" nc=${nc} for(${challenge})`;
      },
      onStateChange: (s, reason) => states.push([s, reason]),
    },
    {
      trunkId: 'itsp',
      registrarUri: 'sip:itsp.example',
      expiresS: opts.expiresS ?? 600,
      retryMinS: opts.retryMinS ?? 2,
      retryMaxS: opts.retryMaxS ?? 16,
    },
  );
  const tick = async (ms: number) => {
    clock.advance(ms);
    await flush();
  };
  return { clock, reg, requests, states, tick };
}

const challenge401 = (c: string): RegisterReply => ({ status: 401, headers: { wwwAuthenticate: [c] } });
const ok = (headers: Record<string, number> = {}): RegisterReply => ({ status: 200, headers });
const fresh = 'Digest realm="itsp", nonce="n1"';
const stale = 'Digest realm="itsp", nonce="n2", stale=true';

void describe('OutboundRegistration', () => {
  void test('a 2xx registers with the granted Contact expiry and CSeq increments per request (§10.2)', async () => {
    const h = harness([ok({ contactExpires: 300, expires: 600 })]);
    h.reg.start();
    assert.equal(h.reg.state, 'registering');
    await h.tick(0);
    assert.equal(h.reg.state, 'registered');
    const d = h.reg.dump();
    assert.equal(d.grantedExpiresS, 300);
    assert.equal(d.bindingExpiresAtMs, 300_000);
    assert.deepEqual(h.requests[0], { expiresS: 600, cseq: 1, atMs: 0 });
    h.reg.close();
  });

  void test('refreshes before expiry: halfway for short grants, Timer F plus margin before long ones', async () => {
    for (const [granted, refreshS] of [
      [60, 30],
      [3600, 3560],
      [10, 5],
    ] as const) {
      const h = harness([ok({ contactExpires: granted })]);
      h.reg.start();
      await h.tick(0);
      assert.equal(h.reg.dump().refreshAtMs, refreshS * 1000, `granted ${granted}`);
      assert.equal(refreshAfterS(granted), refreshS);
      await h.tick(refreshS * 1000 - 1);
      assert.equal(h.requests.length, 1);
      await h.tick(1);
      assert.equal(h.requests.length, 2, `refresh at ${refreshS}s`);
      assert.equal(h.requests[1]?.cseq, 2);
      assert.ok(refreshS < granted);
      h.reg.close();
    }
  });

  void test('back-off doubles from retryMinS up to retryMaxS (RFC 5626 §4.5), then resets after success', async () => {
    const h = harness([], { fallback: { status: 500, headers: {} }, retryMinS: 2, retryMaxS: 16 });
    h.reg.start();
    await h.tick(0);
    const gapsS: number[] = [];
    for (let i = 0; i < 5; i++) {
      const before = h.requests.length;
      const nextAt = h.reg.dump().nextRetryAtMs ?? 0;
      assert.equal(h.reg.state, 'retry-wait');
      await h.tick(nextAt - h.clock.now());
      assert.equal(h.requests.length, before + 1);
      gapsS.push(((h.requests.at(-1)?.atMs ?? 0) - (h.requests.at(-2)?.atMs ?? 0)) / 1000);
    }
    assert.deepEqual(gapsS, [2, 4, 8, 16, 16]);
    assert.equal(h.reg.dump().consecutiveFailures, 6);
    h.reg.close();
  });

  void test('back-off jitter stays between 50% and 100% of W', () => {
    const cases: Array<[number, number, number]> = [
      [1, 0, 2],
      [1, 1, 1],
      [3, 0.5, 6],
      [10, 0, 16],
      [10, 0.999999, 8.000008],
    ];
    for (const [failures, random, want] of cases) {
      assert.ok(Math.abs(backoffS(failures, 2, 16, random) - want) < 1e-6, `${failures} ${random}`);
    }
  });

  void test('honours Retry-After instead of the back-off', async () => {
    const h = harness([{ status: 503, headers: { retryAfterS: 7 } }, ok()]);
    h.reg.start();
    await h.tick(0);
    assert.equal(h.reg.dump().nextRetryAtMs, 7000);
    await h.tick(7000);
    assert.equal(h.reg.state, 'registered');
    assert.equal(h.reg.dump().consecutiveFailures, 0);
    h.reg.close();
  });

  void test('423 Interval Too Brief: retries at once with Min-Expires (§10.2.8)', async () => {
    const h = harness([{ status: 423, headers: { minExpires: 1800 } }, ok()]);
    h.reg.start();
    await h.tick(0);
    assert.deepEqual(
      h.requests.map((r) => [r.expiresS, r.cseq, r.atMs]),
      [
        [600, 1, 0],
        [1800, 2, 0],
      ],
    );
    assert.equal(h.reg.state, 'registered');
    assert.equal(h.reg.dump().grantedExpiresS, 1800, 'without expires in the 2xx, the requested value');
    h.reg.close();
  });

  void test('423 without a usable Min-Expires backs off', async () => {
    const h = harness([{ status: 423, headers: {} }]);
    h.reg.start();
    await h.tick(0);
    assert.equal(h.reg.state, 'retry-wait');
    h.reg.close();
  });

  void test('401: retries once with credentials, incrementing CSeq (§22.2)', async () => {
    const h = harness([challenge401(fresh), ok()]);
    h.reg.start();
    await h.tick(0);
    assert.equal(h.reg.state, 'registered');
    assert.equal(h.requests[0]?.authorization, undefined);
    assert.equal(h.requests[1]?.cseq, 2);
    assert.equal(h.requests[1]?.authHeader, 'authorization');
    assert.match(
      h.requests[1]?.authorization ?? '',
      /^Digest method=REGISTER uri="sip:itsp.example" nc=1 for\(Digest realm/,
    );
    h.reg.close();
  });

  void test('a second 401 without stale=true means the credentials were refused: back off', async () => {
    const h = harness([challenge401(fresh), challenge401(fresh)]);
    h.reg.start();
    await h.tick(0);
    assert.equal(h.requests.length, 2);
    assert.equal(h.reg.state, 'retry-wait');
    assert.equal(h.reg.dump().lastReason, 'auth-rejected');
    h.reg.close();
  });

  void test('a second 401 with stale=true retries once more (RFC 2617 §3.2.1), a third does not', async () => {
    const ok3 = harness([challenge401(fresh), challenge401(stale), ok()]);
    ok3.reg.start();
    await ok3.tick(0);
    assert.equal(ok3.reg.state, 'registered');
    assert.match(ok3.requests[2]?.authorization ?? '', /nonce="n2"/);
    ok3.reg.close();

    const fail = harness([challenge401(fresh), challenge401(stale), challenge401(stale)]);
    fail.reg.start();
    await fail.tick(0);
    assert.equal(fail.requests.length, 3);
    assert.equal(fail.reg.state, 'retry-wait');
    fail.reg.close();
  });

  void test('407 is answered in Proxy-Authorization', async () => {
    const h = harness([{ status: 407, headers: { proxyAuthenticate: [fresh] } }, ok()]);
    h.reg.start();
    await h.tick(0);
    assert.equal(h.requests[1]?.authHeader, 'proxy-authorization');
    assert.equal(h.reg.state, 'registered');
    h.reg.close();
  });

  void test('a challenge that cannot be answered (no credentials) fails until restarted', async () => {
    const h = harness([challenge401('Basic realm="x"')]);
    h.reg.start();
    await h.tick(0);
    assert.equal(h.reg.state, 'failed');
    assert.deepEqual(h.clock.armed(), []);
    h.reg.start();
    await h.tick(0);
    assert.equal(h.reg.state, 'registered');
    h.reg.close();
  });

  void test('refreshes reuse the last challenge so a refresh needs no extra round trip', async () => {
    const h = harness([challenge401(fresh), ok({ expires: 60 })]);
    h.reg.start();
    await h.tick(0);
    await h.tick(30_000);
    assert.equal(h.requests.length, 3);
    assert.match(h.requests[2]?.authorization ?? '', /nc=2/);
    assert.equal(h.reg.state, 'registered');
    h.reg.close();
  });

  void test('a REGISTER that never completes times out on the guard and backs off', async () => {
    const h = harness(['hang', ok()]);
    h.reg.start();
    await h.tick(39_999);
    assert.equal(h.reg.state, 'registering');
    await h.tick(1);
    assert.equal(h.reg.state, 'retry-wait');
    assert.equal(h.reg.dump().lastReason, 'timeout');
    await h.tick(2000);
    assert.equal(h.reg.state, 'registered');
    h.reg.close();
  });

  void test('stop() unregisters with Expires: 0 and settles idle', async () => {
    const h = harness([ok()]);
    h.reg.start();
    await h.tick(0);
    const stopped = h.reg.stop();
    assert.equal(h.reg.state, 'unregistering');
    await stopped;
    assert.equal(h.reg.state, 'idle');
    assert.deepEqual(
      h.requests.map((r) => [r.expiresS, r.cseq]),
      [
        [600, 1],
        [0, 2],
      ],
    );
    assert.deepEqual(h.clock.armed(), []);
  });

  void test('stop() before any binding exists sends nothing', async () => {
    const h = harness([{ status: 500, headers: {} }]);
    h.reg.start();
    await h.tick(0);
    assert.equal(h.reg.state, 'retry-wait');
    await h.reg.stop();
    assert.equal(h.reg.state, 'idle');
    assert.equal(h.requests.length, 1);
    assert.deepEqual(h.clock.armed(), []);
  });

  void test('dump() is plain JSON; close() cancels timers and ignores replies in flight', async () => {
    const h = harness([ok()]);
    h.reg.start();
    await h.tick(0);
    const d = h.reg.dump();
    assert.deepEqual(JSON.parse(JSON.stringify(d)), d);
    h.reg.close();
    assert.equal(h.reg.state, 'idle');
    assert.deepEqual(h.clock.armed(), []);
    assert.deepEqual(
      h.states.map(([s]) => s),
      ['registering', 'registered', 'idle'],
    );
  });
});
