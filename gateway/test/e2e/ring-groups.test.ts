/**
 * Ring groups with real peers: three SIPp extensions are the members, a simulated PSTN caller
 * rings line 1, whose inbound route names the group. `ringall` offers the call to all three at
 * once, the first to answer wins and the others are cancelled; `hunt` rings them one at a time in
 * the configured order, each for its `ringSeconds`.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, type GatewayProcess } from '../peers/gateway-process.ts';
import { freePort } from '../peers/free-port.ts';
import { describeSippResult, runSipp, sippBinary, startSipp, type SippServer } from '../peers/sipp.ts';

const skip = sippBinary() ? false : 'SIPp (Debian package sip-tester) is not installed';

interface Cdr {
  interactionId: string;
  direction: string;
  peer: string;
  status: number;
  startedAt: string;
}
type Doc = Record<string, unknown> & {
  ringGroups: unknown[];
  routes: { inbound: Array<{ destination: { type: string; target: string } }> };
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function count(counts: Record<string, number> | null, suffix: string): number {
  let n = 0;
  for (const [k, v] of Object.entries(counts ?? {})) if (k.endsWith(suffix)) n += v;
  return n;
}

describe('ring groups (SIPp members, simulated PSTN caller)', { skip }, () => {
  let gw: GatewayProcess;

  before(async () => {
    gw = await startGateway({ demo: true });
  });
  after(async () => {
    await gw?.stop();
  });

  async function configure(group: Record<string, unknown>): Promise<void> {
    const doc = (await gw.api<Doc>('GET', '/api/config')).body;
    doc.ringGroups = [group];
    const dest = doc.routes.inbound[0]?.destination;
    assert.ok(dest);
    dest.type = 'ring-group';
    dest.target = 'rg';
    const put = await gw.api('PUT', '/api/config', doc);
    assert.equal(put.status, 200, JSON.stringify(put.body));
  }

  async function member(ext: string, scenario: string, holdMs?: number): Promise<SippServer> {
    const port = await freePort('udp');
    const reg = await runSipp({
      scenario: 'register-auth.xml',
      remote: `127.0.0.1:${gw.sipPort}`,
      localPort: port,
      calls: 1,
      auth: { username: ext, password: `demo${ext}`, uri: 'edgeline.local' },
      keys: { caller: ext, caller_domain: 'edgeline.local', expires: '300' },
      timeoutS: 15,
    });
    assert.equal(reg.exitCode, 0, describeSippResult(reg));
    return startSipp({
      scenario,
      localPort: port,
      timeoutS: 90,
      countMessages: true,
      keys: { rtp_port: String(await freePort('udp')) },
      ...(holdMs !== undefined ? { holdMs } : {}),
    });
  }

  async function callAndCdrs(holdMs: number): Promise<Cdr[]> {
    const r = await gw.api<{ id: string }>('POST', '/api/sim/calls', {
      line: 1,
      callerId: { number: '13800138000' },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    await sleep(holdMs);
    await gw.api('POST', `/api/sim/calls/${r.body.id}/hangup`);
    await sleep(1500);
    const all = (await gw.api<{ cdrs: Cdr[] }>('GET', '/api/cdrs?limit=50')).body.cdrs;
    const inbound = all.find((c) => c.direction === 'inbound');
    assert.ok(inbound, 'the call has records');
    return all
      .filter((c) => c.interactionId === inbound.interactionId && c.direction === 'outbound')
      .sort((a, b) => a.startedAt.localeCompare(b.startedAt));
  }

  test('ringall: all three members get the INVITE, the first to answer wins, the others get CANCEL', async (t) => {
    await configure({ id: 'rg', members: ['1003', '1004', '1005'], strategy: 'ringall', ringTimeoutS: 20 });
    const m3 = await member('1003', 'uas-ring-forever.xml');
    const m4 = await member('1004', 'uas-ring-then-answer.xml', 2000);
    const m5 = await member('1005', 'uas-ring-forever.xml');
    const legs = await callAndCdrs(5000);
    const [r3, r4, r5] = await Promise.all([m3.stop(500), m4.stop(500), m5.stop(500)]);
    t.diagnostic(legs.map((l) => `${l.peer} ${l.status} ${l.startedAt}`).join('; '));
    for (const r of [r3, r4, r5])
      assert.equal(count(r.messageCounts, '_INVITE_Recv'), 1, describeSippResult(r));
    assert.equal(count(r3.messageCounts, '_CANCEL_Recv'), 1, 'member 1003 cancelled');
    assert.equal(count(r5.messageCounts, '_CANCEL_Recv'), 1, 'member 1005 cancelled');
    assert.deepEqual(legs.map((l) => l.peer).sort(), ['1003', '1004', '1005']);
    const spreadMs = Date.parse(legs[2]?.startedAt ?? '') - Date.parse(legs[0]?.startedAt ?? '');
    assert.ok(spreadMs < 500, `all members offered together (spread ${spreadMs} ms)`);
    assert.equal(legs.find((l) => l.peer === '1004')?.status, 200, describeSippResult(r4));
  });

  test('hunt: members ring one at a time, in order, each for ringSeconds; the third answers', async (t) => {
    await configure({
      id: 'rg',
      members: ['1006', '1007', '1008'],
      strategy: 'hunt',
      ringSeconds: 2,
      ringTimeoutS: 30,
    });
    const m6 = await member('1006', 'uas-ring-forever.xml');
    const m7 = await member('1007', 'uas-ring-forever.xml');
    const m8 = await member('1008', 'uas-ring-then-answer.xml', 500);
    const legs = await callAndCdrs(7000);
    const [r6, r7, r8] = await Promise.all([m6.stop(500), m7.stop(500), m8.stop(500)]);
    t.diagnostic(legs.map((l) => `${l.peer} ${l.status} ${l.startedAt}`).join('; '));
    assert.deepEqual(
      legs.map((l) => l.peer),
      ['1006', '1007', '1008'],
    );
    const starts = legs.map((l) => Date.parse(l.startedAt));
    for (let i = 1; i < starts.length; i++) {
      const gap = (starts[i] ?? 0) - (starts[i - 1] ?? 0);
      assert.ok(gap >= 1900 && gap < 2600, `turn ${i} after ${gap} ms`);
    }
    assert.equal(count(r6.messageCounts, '_CANCEL_Recv'), 1, describeSippResult(r6));
    assert.equal(count(r7.messageCounts, '_CANCEL_Recv'), 1, describeSippResult(r7));
    assert.equal(count(r8.messageCounts, '_INVITE_Recv'), 1, describeSippResult(r8));
    assert.equal(legs[2]?.status, 200);
  });
});
