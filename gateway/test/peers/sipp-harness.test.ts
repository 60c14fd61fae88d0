// Proves the real-peer harness itself, without the gateway: SIPp against SIPp, and SIPp
// through Kamailio, for every shipped scenario pair. When a gateway test fails, this file says
// whether the peers or the gateway are to blame.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { freePort } from './free-port.ts';
import { describeSippResult, runSipp, sippBinary, startSipp } from './sipp.ts';
import type { SippResult, SippServer } from './sipp.ts';
import { kamailioUnavailableReason, startKamailio } from './kamailio.ts';
import type { KamailioProxy } from './kamailio.ts';

const sippMissing = sippBinary() === null ? 'sipp is not installed (Debian package sip-tester)' : false;
const kamailioMissing = kamailioUnavailableReason() ?? false;
if (kamailioMissing !== false) console.log(`# skipping Kamailio cases: ${kamailioMissing}`);

const md5 = (s: string): string => createHash('md5').update(s).digest('hex');

function digestParams(headerValue: string): Record<string, string> {
  const params: Record<string, string> = {};
  for (const m of headerValue.matchAll(/(\w+)=(?:"([^"]*)"|([^,\s]+))/g)) {
    if (m[1] !== undefined) params[m[1]] = m[2] ?? m[3] ?? '';
  }
  return params;
}

function assertAllSucceeded(r: SippResult, calls: number): void {
  assert.equal(r.exitCode, 0, describeSippResult(r));
  assert.equal(r.stats?.successful, calls, describeSippResult(r));
  assert.equal(r.stats?.failed, 0, describeSippResult(r));
}

async function withServers<T>(
  servers: Array<SippServer | KamailioProxy>,
  body: () => Promise<T>,
): Promise<T> {
  try {
    return await body();
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
  }
}

describe('SIPp peer harness', { skip: sippMissing }, () => {
  test(
    'a SIPp uac completes 5 calls against the SIPp uas (INVITE/200/ACK/BYE)',
    { timeout: 30_000 },
    async () => {
      const uas = await startSipp({ scenario: 'uas.xml', localPort: await freePort(), timeoutS: 25 });
      await withServers([uas], async () => {
        const r = await runSipp({
          scenario: 'uac.xml',
          remote: `127.0.0.1:${uas.port}`,
          localPort: await freePort(),
          service: '2000',
          calls: 5,
          rate: 50,
          timeoutS: 15,
        });
        assertAllSucceeded(r, 5);
        assert.equal(r.stats?.outgoingCalls, 5);
      });
    },
  );

  test(
    'the uas answers OPTIONS probes while it is taking calls, as a trunk member must',
    { timeout: 30_000 },
    async () => {
      const uas = await startSipp({
        scenario: 'uas.xml',
        localPort: await freePort(),
        timeoutS: 25,
        countMessages: true,
      });
      const remote = `127.0.0.1:${uas.port}`;
      await withServers([uas], async () => {
        const [probes, calls] = await Promise.all([
          runSipp({
            scenario: 'uac-options.xml',
            remote,
            localPort: await freePort(),
            calls: 4,
            rate: 10,
            timeoutS: 15,
          }),
          runSipp({
            scenario: 'uac.xml',
            remote,
            localPort: await freePort(),
            service: '2000',
            calls: 4,
            rate: 10,
            holdMs: 300,
            timeoutS: 15,
          }),
        ]);
        assertAllSucceeded(probes, 4);
        assertAllSucceeded(calls, 4);
      });
      const final = await uas.stop();
      assert.equal(final.messageCounts?.['0_OPTIONS_Recv'], 4, describeSippResult(final));
      assert.equal(final.messageCounts?.['1_INVITE_Recv'], 4, describeSippResult(final));
    },
  );

  test(
    'uac-auth answers 407 with Proxy-Authorization whose digest covers the Request-URI (RFC 2617 3.2.2)',
    { timeout: 30_000 },
    async () => {
      const uas = await startSipp({
        scenario: 'uas-challenge.xml',
        localPort: await freePort(),
        timeoutS: 25,
        cleanup: 'never',
      });
      const remote = `127.0.0.1:${uas.port}`;
      await withServers([uas], async () => {
        const r = await runSipp({
          scenario: 'uac-auth.xml',
          remote,
          localPort: await freePort(),
          service: '2000',
          auth: { username: '1001', password: 'demo1001' },
          keys: { caller_domain: 'edgeline.local' },
          calls: 2,
          rate: 20,
          timeoutS: 15,
        });
        assertAllSucceeded(r, 2);
      });
      const final = await uas.stop();
      assert.ok(final.messageTrace !== null, 'the uas keeps its message trace');
      const trace = readFileSync(final.messageTrace, 'utf8');
      rmSync(final.workDir, { recursive: true, force: true });
      const headers = [...trace.matchAll(/^Proxy-Authorization: Digest (.*)$/gm)].map((m) => m[1] ?? '');
      assert.equal(headers.length, 2, 'one authorised INVITE per call');
      for (const header of headers) {
        const p = digestParams(header);
        assert.equal(p.username, '1001');
        assert.equal(p.realm, 'edgeline.local');
        assert.equal(p.uri, `sip:2000@${remote}`);
        const expected = md5(`${md5(`1001:edgeline.local:demo1001`)}:${p.nonce}:${md5(`INVITE:${p.uri}`)}`);
        assert.equal(p.response, expected);
      }
    },
  );

  const registerCases = [
    {
      rule: 'register-auth registers after a 401 with the right password',
      password: 'demo1001',
      succeeds: true,
    },
    { rule: 'register-auth is refused with a wrong password', password: 'wrong', succeeds: false },
  ];
  for (const c of registerCases) {
    test(c.rule, { timeout: 30_000 }, async () => {
      const registrar = await startSipp({
        scenario: 'registrar-auth.xml',
        localPort: await freePort(),
        timeoutS: 25,
      });
      await withServers([registrar], async () => {
        const r = await runSipp({
          scenario: 'register-auth.xml',
          remote: `127.0.0.1:${registrar.port}`,
          localPort: await freePort(),
          auth: { username: '1001', password: c.password, uri: 'edgeline.local' },
          keys: { caller_domain: 'edgeline.local' },
          calls: 1,
          rate: 10,
          timeoutS: 10,
        });
        if (c.succeeds) assertAllSucceeded(r, 1);
        else assert.equal(r.stats?.failed, 1, describeSippResult(r));
      });
    });
  }

  describe('through Kamailio', { skip: kamailioMissing }, () => {
    test(
      'a SIPp uac completes 5 calls through the Kamailio proxy to the SIPp uas',
      { timeout: 30_000 },
      async () => {
        const uas = await startSipp({ scenario: 'uas.xml', localPort: await freePort(), timeoutS: 25 });
        const proxy = await startKamailio({
          listenPort: await freePort(),
          targetPort: uas.port,
          timeoutS: 25,
        });
        await withServers([uas, proxy], async () => {
          const r = await runSipp({
            scenario: 'uac.xml',
            remote: `127.0.0.1:${proxy.port}`,
            localPort: await freePort(),
            service: '2000',
            calls: 5,
            rate: 50,
            timeoutS: 15,
          });
          assertAllSucceeded(r, 5);
        });
      },
    );

    // Kamailio with WITH_AUTH is an independent digest implementation and a record-routing
    // hop, so each caller scenario meets a real 407 and each callee scenario a real route set.
    const pairs = [
      { uac: 'uac-auth.xml', uas: 'uas.xml', rule: 'caller hangs up' },
      {
        uac: 'uac-auth-callee-bye.xml',
        uas: 'uas-bye.xml',
        rule: 'callee hangs up along the recorded route',
      },
      { uac: 'uac-auth-cancel.xml', uas: 'uas-ring-forever.xml', rule: 'CANCEL while ringing ends in 487' },
      { uac: 'uac-auth-expect-486.xml', uas: 'uas-486.xml', rule: '486 reaches the caller' },
      { uac: 'uac-auth-expect-404.xml', uas: 'uas-404.xml', rule: '404 reaches the caller' },
      // RFC 3261 16.7 step 6: a proxy does not forward a 503 upstream; it sends 500 instead.
      {
        uac: 'uac-auth-expect-500.xml',
        uas: 'uas-503.xml',
        rule: '503 from the callee reaches the caller as 500',
      },
    ];
    for (const p of pairs) {
      test(`${p.uac} → Kamailio (407 digest) → ${p.uas}: ${p.rule}`, { timeout: 30_000 }, async () => {
        const uas = await startSipp({
          scenario: p.uas,
          localPort: await freePort(),
          timeoutS: 25,
          holdMs: 200,
        });
        const proxy = await startKamailio({
          listenPort: await freePort(),
          targetPort: uas.port,
          timeoutS: 25,
          auth: true,
        });
        await withServers([uas, proxy], async () => {
          const r = await runSipp({
            scenario: p.uac,
            remote: `127.0.0.1:${proxy.port}`,
            localPort: await freePort(),
            service: '2000',
            auth: { username: '1001', password: 'demo1001' },
            keys: { caller_domain: 'edgeline.local' },
            calls: 2,
            rate: 20,
            holdMs: 200,
            timeoutS: 15,
          });
          assertAllSucceeded(r, 2);
        });
      });
    }
  });
});
