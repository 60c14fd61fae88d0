/**
 * PSTN routing under pressure and bad input, through the running gateway in demo mode: every port
 * of a group busy moves the call to the route's next group or SIP trunk (SIPp), then 503; line
 * faults fail over or answer 503 with a fault event and a metric and never leave a port stuck;
 * configuration that names missing ports or loops is refused with its JSON path; a learned busy
 * tone is stored as a revision and used by its line; a user trunk named `pstn` is a trunk like any
 * other.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, type GatewayProcess } from '../peers/gateway-process.ts';
import { baresipAvailable, startBaresip, type Baresip } from '../peers/baresip.ts';
import { sippBinary, startSipp, type SippServer } from '../peers/sipp.ts';
import { freePort } from '../peers/free-port.ts';

const skip = !baresipAvailable()
  ? 'baresip (Debian package baresip) is not installed'
  : !sippBinary()
    ? 'SIPp (Debian package sip-tester) is not installed'
    : false;

interface LineView {
  id: string;
  key: string;
  state: string;
  call: unknown;
  lastFault: { reason: string } | null;
  busyTone: string | null;
}
interface Cdr {
  interactionId: string;
  direction: string;
  technology: string;
  peer: string;
  status: number;
}
type Json = Record<string, unknown>;
interface ConfigDoc {
  pstn: {
    groups: Array<{ id: string; members: string[]; hunt: string }>;
    lines: Array<Json & { id: string }>;
  };
  routes: { outbound: Json[]; inbound: Json[] };
  trunks: Json[];
  timeConditions?: Json[];
  extensions: Json[];
}
interface ApiError {
  error: { code: string; field?: string; problems?: Array<{ field: string; message: string }> };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('PSTN failover, faults and configuration (simulated card, SIPp trunk)', { skip }, () => {
  let gw: GatewayProcess;
  let sipp: SippServer;
  let sippPort: number;
  const phones = new Map<string, Baresip>();

  before(async () => {
    gw = await startGateway({ demo: true });
    sippPort = await freePort('udp');
    sipp = await startSipp({ scenario: 'uas.xml', localPort: sippPort, timeoutS: 300 });
    // Groups of one port each, a SIP trunk to SIPp, and routes over them.
    const cfg = await config();
    cfg.pstn.groups.push(
      { id: 'solo', members: ['fxo4'], hunt: 'sequential' },
      { id: 'duo', members: ['fxo3'], hunt: 'sequential' },
      { id: 'two', members: ['fxo2'], hunt: 'sequential' },
    );
    cfg.trunks.push(
      {
        id: 'far',
        members: [{ host: '127.0.0.1', port: sippPort, transport: 'udp' }],
        probe: { enabled: false },
      },
      // A user trunk whose id is the word the internal trunk used to take.
      {
        id: 'pstn',
        members: [{ host: '127.0.0.1', port: sippPort, transport: 'udp' }],
        probe: { enabled: false },
      },
    );
    const route = (id: string, pattern: string, targets: Json[]) => ({
      id,
      pattern,
      strip: 1,
      targets,
      permission: 'local',
    });
    cfg.routes.outbound.unshift(
      route('groups-then-trunk', '8.', [
        { type: 'group', id: 'solo' },
        { type: 'group', id: 'duo' },
        { type: 'trunk', id: 'far' },
      ]),
      route('groups-only', '7.', [
        { type: 'group', id: 'solo' },
        { type: 'group', id: 'duo' },
      ]),
      route('line-two', '5.', [{ type: 'group', id: 'two' }]),
      route('user-trunk-pstn', '4.', [{ type: 'trunk', id: 'pstn' }]),
    );
    const put = await gw.api('PUT', '/api/config', cfg);
    assert.equal(put.status, 200, JSON.stringify(put.body));
  });

  after(async () => {
    await Promise.all([...phones.values()].map((p) => p.stop()));
    await sipp?.stop(500).catch(() => undefined);
    await gw?.stop();
  });

  async function config(): Promise<ConfigDoc> {
    return (await gw.api<ConfigDoc>('GET', '/api/config')).body;
  }

  async function phone(ext: string): Promise<Baresip> {
    const had = phones.get(ext);
    if (had) return had;
    const p = await startBaresip({
      user: ext,
      password: `demo${ext}`,
      registrar: { host: '127.0.0.1', port: gw.sipPort, domain: 'edgeline.local' },
      codec: 'PCMU',
    });
    phones.set(ext, p);
    await p.waitRegistered();
    return p;
  }

  const lines = async () => (await gw.api<{ lines: LineView[] }>('GET', '/api/pstn/lines')).body.lines;
  const line = async (key: string) => (await lines()).find((l) => l.key === key);

  async function waitLineIdle(key: string, withinMs: number): Promise<void> {
    const t0 = performance.now();
    for (;;) {
      const l = await line(key);
      if (l && (l.state === 'idle' || l.state === 'fault') && l.call === null) return;
      if (performance.now() - t0 > withinMs) assert.fail(`line ${key} stuck: ${JSON.stringify(l)}`);
      await sleep(50);
    }
  }

  function sippInvites(): Promise<number> {
    return Promise.resolve(sipp.stats()?.incomingCalls ?? 0);
  }

  test('all ports of the first group busy → the next group, then the SIP trunk; all busy → 503', async (t) => {
    // 95003 rings and never answers: each such call holds its port.
    const a = await phone('1002');
    await a.dial('sip:895003@edgeline.local');
    await a.waitEvent('CALL_RINGING', { timeoutMs: 10_000 });
    assert.equal((await line('fxo4'))?.state, 'seized', 'the first call holds the group of one');

    const b = await phone('1003');
    await b.dial('sip:895003@edgeline.local');
    await b.waitEvent('CALL_RINGING', { timeoutMs: 10_000 });
    assert.equal((await line('fxo3'))?.state, 'seized', 'the second call went to the next group');

    const before = await sippInvites();
    const c = await phone('1005');
    await c.dial('sip:895001@edgeline.local');
    await c.waitEvent('CALL_ESTABLISHED', { timeoutMs: 10_000 });
    for (let i = 0; i < 30 && (await sippInvites()) === before; i++) await sleep(100);
    t.diagnostic(`SIPp trunk calls: ${before} → ${await sippInvites()}`);
    assert.ok((await sippInvites()) > before, 'the third call reached the SIP trunk');
    await c.hangup();
    await c.waitEvent('CALL_CLOSED', { timeoutMs: 5000 });

    const d = await phone('1006');
    await d.dial('sip:795001@edgeline.local');
    const refused = await d.waitEvent('CALL_CLOSED', { timeoutMs: 10_000 });
    t.diagnostic(`with both groups busy: ${refused.param}`);
    assert.match(refused.param ?? '', /503/);

    await a.hangup();
    await b.hangup();
    await a.waitEvent('CALL_CLOSED', { timeoutMs: 5000 });
    await b.waitEvent('CALL_CLOSED', { timeoutMs: 5000 });
    await waitLineIdle('fxo4', 3000);
    await waitLineIdle('fxo3', 3000);
  });

  test('a user trunk named pstn is a SIP trunk, not the PSTN user agent', async () => {
    const before = await sippInvites();
    const p = await phone('1007');
    await p.dial('sip:412345@edgeline.local');
    await p.waitEvent('CALL_ESTABLISHED', { timeoutMs: 10_000 });
    for (let i = 0; i < 30 && (await sippInvites()) === before; i++) await sleep(100);
    assert.ok((await sippInvites()) > before, 'the call reached SIPp through trunk pstn');
    await p.hangup();
    await p.waitEvent('CALL_CLOSED', { timeoutMs: 5000 });
    assert.ok(
      (await lines()).every((l) => l.call === null),
      'no PSTN port took it',
    );
  });

  test('no dial tone on line 1: the call fails over to line 2, the fault is recorded and counted, line 1 is not stuck', async (t) => {
    for (const k of ['fxo1', 'fxo2']) await waitLineIdle(k, 5000);
    const f = await gw.api('PUT', '/api/sim/lines/1/faults', { faults: ['no-dial-tone'] });
    assert.equal(f.status, 200, JSON.stringify(f.body));
    try {
      const p = await phone('1002');
      await p.dial('sip:995001@edgeline.local');
      await p.waitEvent('CALL_ESTABLISHED', { timeoutMs: 20_000 });
      const now = await lines();
      t.diagnostic(now.map((l) => `${l.key}:${l.state}`).join(' '));
      assert.equal(now.find((l) => l.key === 'fxo2')?.state, 'connected');
      const l1 = now.find((l) => l.key === 'fxo1');
      assert.equal(l1?.lastFault?.reason, 'no-dial-tone');
      assert.ok(l1?.call === null && l1.state !== 'seized', `line 1 released: ${JSON.stringify(l1)}`);
      const metrics = String((await gw.api('GET', '/metrics')).body);
      assert.match(
        metrics,
        /edgeline_pstn_faults_total\{[^}]*line="fxo1"[^}]*reason="no-dial-tone"[^}]*\} [1-9]/,
      );
      await p.hangup();
      await p.waitEvent('CALL_CLOSED', { timeoutMs: 5000 });
      await waitLineIdle('fxo2', 3000);
      // The outbound PSTN leg's record names its line.
      await sleep(300);
      const cdrs = (await gw.api<{ cdrs: Cdr[] }>('GET', '/api/cdrs?limit=10')).body.cdrs;
      const leg = cdrs.find((c) => c.direction === 'outbound' && c.technology === 'pstn' && c.status === 200);
      assert.equal(leg?.peer, 'fxo2', JSON.stringify(cdrs));
    } finally {
      await gw.api('PUT', '/api/sim/lines/1/faults', { faults: [] });
    }
  });

  test('a dead line in a group of one: 503, a fault, and the port back to rest', async (t) => {
    await waitLineIdle('fxo4', 5000);
    await waitLineIdle('fxo3', 5000);
    await gw.api('PUT', '/api/sim/lines/4/faults', { faults: ['dead-line'] });
    await gw.api('PUT', '/api/sim/lines/3/faults', { faults: ['dead-line'] });
    try {
      const p = await phone('1003');
      await p.dial('sip:795001@edgeline.local');
      const closed = await p.waitEvent('CALL_CLOSED', { timeoutMs: 20_000 });
      t.diagnostic(`dead lines: ${closed.param}`);
      assert.match(closed.param ?? '', /503/);
      for (const k of ['fxo3', 'fxo4']) {
        const l = await line(k);
        assert.equal(l?.lastFault?.reason, 'dead-line', JSON.stringify(l));
        await waitLineIdle(k, 3000);
      }
    } finally {
      await gw.api('PUT', '/api/sim/lines/4/faults', { faults: [] });
      await gw.api('PUT', '/api/sim/lines/3/faults', { faults: [] });
    }
  });

  test('configuration naming a missing port or looping between routes is refused with the JSON path', async () => {
    const revisionBefore = (await gw.api<{ revisions: unknown[] }>('GET', '/api/config/revisions')).body
      .revisions.length;
    const missing = await config();
    const g = missing.pstn.groups.find((x) => x.id === 'pstn-out');
    g?.members.push('fxo9');
    const r1 = await gw.api<ApiError>('PUT', '/api/config', missing);
    assert.equal(r1.status, 400);
    const fields1 = [r1.body.error.field, ...(r1.body.error.problems ?? []).map((p) => p.field)];
    assert.ok(
      fields1.some((f) => f !== undefined && /^\/pstn\/groups\/\d+\/members\/5$/.test(f)),
      JSON.stringify(r1.body),
    );

    const loop = await config();
    loop.timeConditions = [...(loop.timeConditions ?? []), { id: 'office', timeZone: 'Asia/Shanghai' }];
    loop.routes.inbound.push({
      id: 'looping',
      did: '5550009',
      destination: {
        type: 'time-condition',
        target: 'office',
        whenOpen: { type: 'extension', target: '1001' },
        whenClosed: {
          type: 'time-condition',
          target: 'office',
          whenOpen: { type: 'extension', target: '1001' },
          whenClosed: { type: 'extension', target: '1001' },
        },
      },
    });
    const r2 = await gw.api<ApiError>('PUT', '/api/config', loop);
    assert.equal(r2.status, 400, JSON.stringify(r2.body));
    const fields2 = [r2.body.error.field, ...(r2.body.error.problems ?? []).map((p) => p.field)];
    assert.ok(
      fields2.some(
        (f) => f !== undefined && /^\/routes\/inbound\/\d+\/destination\/whenClosed\/target$/.test(f),
      ),
      JSON.stringify(r2.body),
    );
    const revisionAfter = (await gw.api<{ revisions: unknown[] }>('GET', '/api/config/revisions')).body
      .revisions.length;
    assert.equal(revisionAfter, revisionBefore, 'nothing was written');
  });

  test('learning fxo2’s busy tone stores it as a new revision and the line then releases on it', async (t) => {
    await waitLineIdle('fxo2', 5000);
    const revs = async () =>
      (await gw.api<{ revisions: unknown[] }>('GET', '/api/config/revisions')).body.revisions.length;
    const before = await revs();
    const r = await gw.api<{
      learnedBusyTone: { frequenciesHz: number[]; onMs: number; offMs: number };
      revision: number;
    }>('POST', '/api/pstn/lines/fxo2/learn-busy-tone', { maxMs: 4000 });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    t.diagnostic(`learned ${JSON.stringify(r.body.learnedBusyTone)} in revision ${r.body.revision}`);
    // The office's busy tone (China): 450 Hz, 350 ms on, 350 ms off.
    assert.ok(r.body.learnedBusyTone.frequenciesHz.some((f) => Math.abs(f - 450) <= 15));
    assert.ok(Math.abs(r.body.learnedBusyTone.onMs - 350) <= 60);
    assert.ok(Math.abs(r.body.learnedBusyTone.offMs - 350) <= 60);
    assert.equal(await revs(), before + 1);
    const stored = (await config()).pstn.lines.find((l) => l.id === 'fxo2');
    assert.deepEqual(stored?.['learnedBusyTone'], r.body.learnedBusyTone);
    await waitLineIdle('fxo2', 3000);
    assert.equal((await line('fxo2'))?.busyTone, 'learned');

    const p = await phone('1005');
    await p.dial('sip:595004@edgeline.local');
    const established = await p.waitEvent('CALL_ESTABLISHED', { timeoutMs: 15_000 });
    assert.equal((await line('fxo2'))?.state, 'connected');
    const closed = await p.waitEvent('CALL_CLOSED', { timeoutMs: 12_000 });
    const heldMs = closed.atMs - established.atMs;
    t.diagnostic(`held ${heldMs.toFixed(0)} ms (the office clears at 5000 ms)`);
    assert.ok(heldMs <= 7000, `released ${heldMs - 5000} ms after the far end left`);
    await waitLineIdle('fxo2', 1000);
  });
});
