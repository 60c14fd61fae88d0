/**
 * The gateway against real SIP peers: SIPp user agents on loopback register through a digest
 * challenge, call each other through the B2BUA and through a trunk, hang up from either side,
 * cancel, get busy and not-found answers passed back, survive 2 % packet loss, and fail over when
 * a trunk member stops.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, type GatewayProcess } from '../peers/gateway-process.ts';
import { freePort } from '../peers/free-port.ts';
import {
  describeSippResult,
  runSipp,
  startSipp,
  sippBinary,
  type SippOptions,
  type SippServer,
} from '../peers/sipp.ts';

const sipp = sippBinary();
const skip = sipp === null ? 'sip-tester (SIPp) is not installed: npm test installs it' : false;

interface Interaction {
  interactionId: string;
  outcome: string;
  status: number;
  callee: string;
}
interface LegRow {
  interactionId: string;
  direction: string;
  status: number;
  trunkMember: string | null;
  hangupBy: string | null;
}

const ext = (n: string) => ({ caller: n, caller_domain: 'edgeline.local' });

describe('SIP calls through the gateway (SIPp peers)', { skip }, () => {
  let gw: GatewayProcess;
  let trunkA: number;
  let trunkB: number;
  const servers: SippServer[] = [];

  const remote = () => `127.0.0.1:${gw.sipPort}`;

  async function register(user: string, port: number): Promise<void> {
    const r = await runSipp({
      scenario: 'register-auth.xml',
      remote: remote(),
      localPort: port,
      calls: 1,
      auth: { username: user, password: `demo${user}`, uri: 'edgeline.local' },
      keys: { ...ext(user), expires: '300' },
      timeoutS: 15,
    });
    assert.equal(r.exitCode, 0, describeSippResult(r));
  }

  async function uac(
    opts: Partial<SippOptions> & { scenario: string; service: string; calls: number },
  ): Promise<Awaited<ReturnType<typeof runSipp>>> {
    return runSipp({
      remote: remote(),
      localPort: await freePort('udp'),
      rate: 10,
      auth: { username: '1001', password: 'demo1001' },
      keys: ext('1001'),
      timeoutS: 30,
      ...opts,
    });
  }

  async function server(
    scenario: string,
    port: number,
    extra: Partial<SippOptions> = {},
  ): Promise<SippServer> {
    const s = await startSipp({ scenario, localPort: port, timeoutS: 120, ...extra });
    servers.push(s);
    return s;
  }

  /** CDRs are committed at most 100 ms after a call ends (batched fsync): read them after that. */
  async function interactions(): Promise<Interaction[]> {
    await new Promise((r) => setTimeout(r, 200));
    const r = await gw.api<{ interactions: Interaction[] }>('GET', '/api/interactions?limit=1000');
    return r.body.interactions;
  }

  async function legs(interactionId: string): Promise<LegRow[]> {
    const r = await gw.api<{ cdrs: LegRow[] }>('GET', `/api/cdrs?interaction=${interactionId}`);
    return r.body.cdrs;
  }

  async function trunkState(): Promise<Record<string, string>> {
    const r = await gw.api<{
      trunks: { trunks: Array<{ id: string; members: Array<{ member: string; state: string }> }> };
    }>('GET', '/api/status');
    const out: Record<string, string> = {};
    for (const t of r.body.trunks.trunks) for (const m of t.members) out[m.member] = m.state;
    return out;
  }

  /** Probing stays off while members come and go between tests; the failover test turns it on. */
  async function configure(probe: boolean): Promise<void> {
    const cfg = await gw.api<Record<string, unknown>>('GET', '/api/config');
    assert.equal(cfg.status, 200);
    const member = (port: number) => ({ host: '127.0.0.1', port, transport: 'udp', weight: 1 });
    const put = await gw.api('PUT', '/api/config', {
      ...cfg.body,
      trunks: [
        {
          id: 'itsp',
          name: 'upstream',
          members: [member(trunkA), member(trunkB)],
          probe: { enabled: probe, intervalMs: 500, timeoutMs: 400, downAfter: 2, upAfter: 2 },
          failover: { inviteTimeoutMs: 1500, onStatus: [408, 500, 502, 503, 504] },
          identity: { trusted: true, acceptPai: true, sendPai: true },
        },
      ],
      routes: {
        outbound: [{ id: 'out', pattern: '9.', strip: 1, prefix: '', trunks: ['itsp'], permission: 'local' }],
        inbound: [],
      },
    });
    assert.equal(put.status, 200, JSON.stringify(put.body));
  }

  before(async () => {
    gw = await startGateway({ demo: true });
    trunkA = await freePort('udp');
    trunkB = await freePort('udp');
    await configure(false);
  });

  after(async () => {
    for (const s of servers) await s.stop(500).catch(() => undefined);
    const code = await gw.stop();
    assert.equal(code, 0, 'SIGTERM drains and exits 0');
  });

  test('REGISTER through a digest challenge binds the extension', async () => {
    const port = await freePort('udp');
    await register('1005', port);
    const status = await gw.api<{ registrar: { bindings: Array<{ aor: string; contact: string }> } }>(
      'GET',
      '/api/status',
    );
    assert.ok(
      status.body.registrar.bindings.some((b) => b.aor.includes('1005') && b.contact.includes(String(port))),
      JSON.stringify(status.body.registrar),
    );
  });

  test('extension calls extension, the caller hangs up (BYE relayed), one CDR per leg and per interaction', async () => {
    const port = await freePort('udp');
    await register('1002', port);
    const callee = await server('uas.xml', port);
    const before = (await interactions()).length;
    const r = await uac({ scenario: 'uac-auth.xml', service: '1002', calls: 3 });
    assert.equal(r.exitCode, 0, describeSippResult(r));
    assert.equal(r.stats?.successful, 3);
    const calleeResult = await callee.stop();
    assert.equal(calleeResult.stats?.successful, 3, describeSippResult(calleeResult));
    const rows = (await interactions()).slice(0, (await interactions()).length - before);
    assert.equal(rows.length, 3);
    for (const row of rows) {
      assert.equal(row.outcome, 'answered');
      const l = await legs(row.interactionId);
      assert.equal(l.length, 2, 'an inbound and an outbound leg');
      assert.ok(l.every((x) => x.hangupBy === 'caller'));
    }
  });

  test('the callee hangs up: BYE from the far side reaches the caller', async () => {
    const port = await freePort('udp');
    await register('1003', port);
    const callee = await server('uas-bye.xml', port);
    const r = await uac({ scenario: 'uac-auth-callee-bye.xml', service: '1003', calls: 2 });
    assert.equal(r.exitCode, 0, describeSippResult(r));
    assert.equal((await callee.stop()).stats?.successful, 2);
    const last = (await interactions())[0];
    assert.ok(last);
    assert.ok((await legs(last.interactionId)).every((x) => x.hangupBy === 'callee'));
  });

  test('hold, resume and INFO: re-INVITEs and INFO are relayed with their SDP and bodies', async () => {
    const port = await freePort('udp');
    await register('1008', port);
    const callee = await server('uas-hold.xml', port);
    const r = await uac({ scenario: 'uac-auth-hold.xml', service: '1008', calls: 2 });
    assert.equal(r.exitCode, 0, describeSippResult(r));
    const calleeResult = await callee.stop();
    assert.equal(calleeResult.stats?.successful, 2, describeSippResult(calleeResult));
  });

  test('RFC 4028 session timers: 1800 s granted with refresher=uac and Require: timer; 60 s refused with 422 and Min-SE: 90', async () => {
    const port = await freePort('udp');
    await register('1002', port);
    const callee = await server('uas.xml', port);
    const granted = await uac({ scenario: 'uac-auth-timer.xml', service: '1002', calls: 1 });
    assert.equal(granted.exitCode, 0, describeSippResult(granted));
    const refused = await uac({ scenario: 'uac-auth-timer-too-small.xml', service: '1002', calls: 1 });
    assert.equal(refused.exitCode, 0, describeSippResult(refused));
    const calleeResult = await callee.stop();
    assert.equal(calleeResult.stats?.successful, 1, 'the refused call never reached the callee');
  });

  test('CANCEL before answer: 487 to the caller, CANCEL to the callee', async () => {
    const port = await freePort('udp');
    await register('1004', port);
    const callee = await server('uas-ring-forever.xml', port);
    const r = await uac({ scenario: 'uac-auth-cancel.xml', service: '1004', calls: 2 });
    assert.equal(r.exitCode, 0, describeSippResult(r));
    assert.equal((await callee.stop()).stats?.successful, 2);
    const last = (await interactions())[0];
    assert.equal(last?.outcome, 'cancelled');
    assert.equal(last?.status, 487);
  });

  test('486 Busy Here from the trunk is passed back and never failed over', async () => {
    const busy = await server('uas-486.xml', trunkA);
    const other = await server('uas.xml', trunkB);
    const r = await uac({ scenario: 'uac-auth-expect-486.xml', service: '95002', calls: 2 });
    assert.equal(r.exitCode, 0, describeSippResult(r));
    await busy.stop();
    const otherResult = await other.stop();
    assert.equal(otherResult.stats?.incomingCalls ?? 0, 0, 'the second member never saw the busy call');
  });

  test('404 passed back: from the trunk, and for a number no route matches', async () => {
    const notFound = await server('uas-404.xml', trunkA);
    const viaTrunk = await uac({ scenario: 'uac-auth-expect-404.xml', service: '95404', calls: 1 });
    assert.equal(viaTrunk.exitCode, 0, describeSippResult(viaTrunk));
    await notFound.stop();
    const unrouted = await uac({ scenario: 'uac-auth-expect-404.xml', service: '7777', calls: 1 });
    assert.equal(unrouted.exitCode, 0, describeSippResult(unrouted));
  });

  test('2 % UDP loss on both ends: every call still completes through retransmissions', async () => {
    const member = await server('uas.xml', trunkA, { lost: 2 });
    const r = await uac({
      scenario: 'uac-auth.xml',
      service: '95000',
      calls: 50,
      rate: 10,
      lost: 2,
      timeoutS: 60,
    });
    assert.equal(r.stats?.failed, 0, describeSippResult(r));
    assert.equal(r.stats?.successful, 50, describeSippResult(r));
    await member.stop();
  });

  test('a trunk member stopped mid-run is marked down by probing; the next call goes to the other member at once', async () => {
    const a = await server('uas.xml', trunkA);
    const b = await server('uas.xml', trunkB);
    await configure(true);
    // Earlier tests may have left a member down (passive health while probing was off): the
    // probes bring both up before the run starts.
    const upBy = Date.now() + 10_000;
    let states = await trunkState();
    while (
      !(states[`udp:127.0.0.1:${trunkA}`] === 'up' && states[`udp:127.0.0.1:${trunkB}`] === 'up') &&
      Date.now() < upBy
    ) {
      await new Promise((r) => setTimeout(r, 200));
      states = await trunkState();
    }
    assert.equal(states[`udp:127.0.0.1:${trunkA}`], 'up', JSON.stringify(states));
    const first = await uac({ scenario: 'uac-auth.xml', service: '95000', calls: 1 });
    assert.equal(first.exitCode, 0, describeSippResult(first));
    const firstLegs = await legs((await interactions())[0]?.interactionId ?? '');
    assert.equal(
      firstLegs.find((l) => l.direction === 'outbound' && l.status === 200)?.trunkMember,
      `udp:127.0.0.1:${trunkA}`,
    );

    await a.stop();
    const deadline = Date.now() + 10_000;
    let state = await trunkState();
    while (state[`udp:127.0.0.1:${trunkA}`] !== 'down' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      state = await trunkState();
    }
    assert.equal(state[`udp:127.0.0.1:${trunkA}`], 'down', JSON.stringify(state));

    const started = Date.now();
    const next = await uac({ scenario: 'uac-auth.xml', service: '95000', calls: 1 });
    const tookMs = Date.now() - started;
    assert.equal(next.exitCode, 0, describeSippResult(next));
    const nextLegs = await legs((await interactions())[0]?.interactionId ?? '');
    const outbound = nextLegs.filter((l) => l.direction === 'outbound');
    assert.equal(outbound.length, 1, 'the down member was not tried');
    assert.equal(outbound[0]?.trunkMember, `udp:127.0.0.1:${trunkB}`);
    assert.ok(tookMs < 1500 + 2000, `the call did not wait for a timeout (${tookMs} ms)`);
    await b.stop();
  });
});
