/**
 * PSTN calls with real peers, media and signalling: a simulated PSTN caller and a baresip extension
 * talk both ways through the gateway (audio correlated, DTMF crossing as in-band tones on the line
 * and RFC 4733 events on SIP), caller ID of every standard reaches the extension, an E1 timeslot
 * carries calls both ways, and a far end that leaves only busy tone frees its port within 2 s.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGateway, type GatewayProcess } from '../peers/gateway-process.ts';
import { baresipAvailable, startBaresip, type Baresip } from '../peers/baresip.ts';
import { chirp, crossCorrelate, readWav, writeWav } from '../peers/audio.ts';

const skip = baresipAvailable() ? false : 'baresip (Debian package baresip) is not installed';
const MIN_CORRELATION = 0.9;

interface LineView {
  id: string;
  key: string;
  state: string;
  call: unknown;
}
interface SimCall {
  id: string;
  state: string;
  recording: { digits: string; frames: number };
}
interface Cdr {
  interactionId: string;
  direction: string;
  technology: string;
  peer: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Dominant frequency by zero crossings over the loud part of a recording. */
function toneHz(samples: Int16Array, rate: number): number {
  let start = 0;
  while (start < samples.length && Math.abs(samples[start] ?? 0) < 2000) start++;
  const seg = samples.subarray(
    Math.min(samples.length, start + rate / 10),
    Math.min(samples.length, start + rate),
  );
  if (seg.length < rate / 10) return 0;
  let crossings = 0;
  for (let i = 1; i < seg.length; i++) if ((seg[i - 1] ?? 0) < 0 !== (seg[i] ?? 0) < 0) crossings++;
  return (crossings / 2) * (rate / seg.length);
}

describe('PSTN media and signalling with real peers (simulated card)', { skip }, () => {
  let gw: GatewayProcess;
  const work = mkdtempSync(join(tmpdir(), 'pstn-media-'));
  const up = chirp({ durationS: 4, fromHz: 300, toHz: 3000 });
  const down = chirp({ durationS: 3, fromHz: 3000, toHz: 300 });
  const upWav = join(work, 'up.wav');
  const phones = new Map<string, Baresip>();

  before(async () => {
    // baresip ends the call when its source file ends: the chirp is followed by a long silence.
    const padded = new Int16Array(up.samples.length + 40 * 8000);
    padded.set(up.samples);
    writeWav(upWav, { sampleRate: 8000, samples: padded });
    gw = await startGateway({ demo: true });
    writeWav(join(gw.dataDir, 'down.wav'), down);
  });

  after(async () => {
    await Promise.all([...phones.values()].map((p) => p.stop()));
    await gw?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  async function phone(ext: string, playWav?: string): Promise<Baresip> {
    const had = phones.get(ext);
    if (had) return had;
    const p = await startBaresip({
      user: ext,
      password: `demo${ext}`,
      registrar: { host: '127.0.0.1', port: gw.sipPort, domain: 'edgeline.local' },
      codec: 'PCMU',
      ...(playWav ? { playWav } : {}),
    });
    phones.set(ext, p);
    await p.waitRegistered();
    return p;
  }

  const lines = async () => (await gw.api<{ lines: LineView[] }>('GET', '/api/pstn/lines')).body.lines;
  const simCall = async (id: string) => (await gw.api<SimCall>('GET', `/api/sim/calls/${id}`)).body;

  async function waitLineIdle(key: string, withinMs: number): Promise<number> {
    const t0 = performance.now();
    for (;;) {
      const l = (await lines()).find((x) => x.key === key);
      if (l && (l.state === 'idle' || l.state === 'fault') && l.call === null) return performance.now() - t0;
      if (performance.now() - t0 > withinMs)
        assert.fail(`line ${key} not idle within ${withinMs} ms: ${JSON.stringify(l)}`);
      await sleep(50);
    }
  }

  async function until<T>(
    what: string,
    get: () => Promise<T>,
    ok: (v: T) => boolean,
    withinMs: number,
  ): Promise<T> {
    const t0 = performance.now();
    for (;;) {
      const v = await get();
      if (ok(v)) return v;
      if (performance.now() - t0 > withinMs)
        assert.fail(`${what} within ${withinMs} ms; last: ${JSON.stringify(v)}`);
      await sleep(100);
    }
  }

  test('a PSTN caller on line 1 and extension 1001 hear each other (NCC ≥ 0.9 both ways) and DTMF crosses both ways', async (t) => {
    const p = await phone('1001', upWav);
    const r = await gw.api<SimCall>('POST', '/api/sim/calls', {
      line: 1,
      callerId: { number: '13800138000', name: 'ZHANG WEI' },
      cidMode: 'fsk-bell202',
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const id = r.body.id;
    const established = await p.waitEvent('CALL_ESTABLISHED', { timeoutMs: 15_000 });
    assert.match(established.peeruri ?? '', /13800138000/);
    await until(
      'the sim call answered',
      () => simCall(id),
      (c) => c.state === 'answered',
      3000,
    );

    // PSTN → SIP audio: the caller plays a falling chirp down the line.
    const play = await gw.api('POST', `/api/sim/calls/${id}/play`, { wav: 'down.wav' });
    assert.equal(play.status, 200, JSON.stringify(play.body));
    // Both chirps (the phone's 4 s from the answer, the caller's 3 s) are over before the digits.
    await sleep(5000);

    // PSTN → SIP DTMF: in-band on the line, RFC 4733 telephone-events at the phone.
    const digits = await gw.api('POST', `/api/sim/calls/${id}/digits`, { digits: '159#' });
    assert.equal(
      digits.status,
      200,
      JSON.stringify(await simCall(id)) + JSON.stringify(p.events().map((e) => e.type)),
    );
    const heardAtPhone: string[] = [];
    for (let i = 0; i < 4; i++)
      heardAtPhone.push((await p.waitEvent('CALL_DTMF_START', { timeoutMs: 5000 })).param ?? '?');
    t.diagnostic(`phone received RFC 4733 digits ${heardAtPhone.join('')}`);
    assert.equal(heardAtPhone.join(''), '159#');

    // SIP → PSTN DTMF: RFC 4733 from the phone, in-band tones on the line heard by the caller.
    await sleep(500);
    for (const d of ['7', '3', '*']) {
      await p.sendDigit(d);
      await sleep(400);
    }
    const afterDigits = await until(
      'the caller hears 73* in band',
      () => simCall(id),
      (c) => c.recording.digits.includes('73*'),
      5000,
    );
    t.diagnostic(`caller heard digits ${afterDigits.recording.digits}`);

    // SIP → PSTN audio: what the caller heard against what the phone played.
    const wav = await fetch(`http://127.0.0.1:${gw.httpPort}/api/sim/calls/${id}/recording`);
    assert.equal(wav.status, 200);
    const atCallerPath = join(work, 'at-caller.wav');
    writeFileSync(atCallerPath, Buffer.from(await wav.arrayBuffer()));
    const upward = crossCorrelate(up, readWav(atCallerPath));

    await gw.api('POST', `/api/sim/calls/${id}/hangup`);
    await p.waitEvent('CALL_CLOSED', { timeoutMs: 5000 });
    const atPhone = await p.receivedAudio();
    assert.ok(atPhone, 'the phone recorded what it heard');
    const downward = crossCorrelate(down, readWav(atPhone));
    t.diagnostic(
      `phone→line NCC ${upward.peak.toFixed(4)} (lag ${upward.lagMs} ms); line→phone NCC ${downward.peak.toFixed(4)} (lag ${downward.lagMs} ms)`,
    );
    assert.ok(upward.peak >= MIN_CORRELATION, `phone→line correlation ${upward.peak}`);
    assert.ok(downward.peak >= MIN_CORRELATION, `line→phone correlation ${downward.peak}`);
    await waitLineIdle('fxo1', 3000);

    // The PSTN leg's record names the technology and the line.
    const cdrs = await until(
      'the CDR rows of the call',
      async () => (await gw.api<{ cdrs: Cdr[] }>('GET', '/api/cdrs?limit=20')).body.cdrs,
      (rows) => rows.some((c) => c.technology === 'pstn' && c.direction === 'inbound'),
      3000,
    );
    const pstnLeg = cdrs.find((c) => c.technology === 'pstn' && c.direction === 'inbound');
    assert.equal(pstnLeg?.peer, 'fxo1');
    const sipLeg = cdrs.find((c) => c.interactionId === pstnLeg?.interactionId && c.direction === 'outbound');
    assert.equal(sipLeg?.technology, 'sip');
    assert.equal(sipLeg?.peer, '1001');
  });

  // Caller ID standards × timing: the decoded number reaches the extension's INVITE (From).
  const cidCases = [
    { cidMode: 'fsk-bell202', cidTiming: 'before-ring', number: '13800138001', name: 'LI NA' },
    { cidMode: 'fsk-bell202', cidTiming: 'after-first-ring', number: '13800138002', name: 'WANG FANG' },
    { cidMode: 'fsk-v23', cidTiming: 'before-ring', number: '13800138003', name: 'LIU YANG' },
    { cidMode: 'fsk-v23', cidTiming: 'after-first-ring', number: '13800138004', name: 'CHEN JING' },
    { cidMode: 'dtmf', cidTiming: 'before-ring', number: '13800138005', name: null },
    { cidMode: 'dtmf', cidTiming: 'after-first-ring', number: '13800138006', name: null },
  ] as const;
  for (const c of cidCases) {
    test(`caller ID ${c.cidMode} ${c.cidTiming} is decoded and presented to the extension`, async (t) => {
      const p = await phone('1001', upWav);
      await waitLineIdle('fxo2', 5000);
      const r = await gw.api<SimCall>('POST', '/api/sim/calls', {
        line: 2,
        callerId: { number: c.number, ...(c.name ? { name: c.name } : {}) },
        cidMode: c.cidMode,
        cidTiming: c.cidTiming,
      });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      const established = await p.waitEvent('CALL_ESTABLISHED', { timeoutMs: 20_000 });
      t.diagnostic(`extension sees ${established.peeruri}`);
      assert.match(established.peeruri ?? '', new RegExp(`sip:${c.number}@`));
      await gw.api('POST', `/api/sim/calls/${r.body.id}/hangup`);
      await p.waitEvent('CALL_CLOSED', { timeoutMs: 5000 });
      await waitLineIdle('fxo2', 3000);
    });
  }

  test('an E1 timeslot carries a call out (9 → E1 group, 1004 Hz heard) and a call in (to 1001)', async (t) => {
    // A group of the E1 span alone, reached with 6 + the number.
    const cfg = (await gw.api<Record<string, unknown>>('GET', '/api/config')).body as {
      pstn: { groups: Array<{ id: string; members: string[]; hunt: string }> };
      routes: { outbound: Array<Record<string, unknown>> };
    };
    cfg.pstn.groups.push({ id: 'e1-out', members: ['e1-1'], hunt: 'sequential' });
    cfg.routes.outbound.unshift({
      id: 'e1',
      pattern: '6.',
      strip: 1,
      targets: [{ type: 'group', id: 'e1-out' }],
      permission: 'local',
    });
    const put = await gw.api('PUT', '/api/config', cfg);
    assert.equal(put.status, 200, JSON.stringify(put.body));

    const caller = await phone('1004');
    await caller.dial('sip:695001@edgeline.local');
    await caller.waitEvent('CALL_ESTABLISHED', { timeoutMs: 15_000 });
    const busy = (await lines()).filter((l) => l.state === 'connected').map((l) => l.key);
    t.diagnostic(`connected ports: ${busy.join(', ')}`);
    assert.ok(
      busy.some((k) => k.startsWith('e1-1/')),
      'an E1 timeslot carries the call',
    );
    await sleep(2000);
    await caller.hangup();
    await caller.waitEvent('CALL_CLOSED', { timeoutMs: 5000 });
    const rec = await caller.receivedAudio();
    assert.ok(rec);
    const audio = readWav(rec);
    const hz = toneHz(audio.samples, audio.sampleRate);
    t.diagnostic(`tone over E1: ${hz.toFixed(1)} Hz`);
    assert.ok(Math.abs(hz - 1004) < 15, `heard ${hz} Hz`);

    const p = await phone('1001', upWav);
    const sims = (
      await gw.api<{ lines: Array<{ id: string; kind?: string; number: string }> }>('GET', '/api/sim/lines')
    ).body.lines;
    const e1Line = sims.find((l) => /e1/.test(l.id));
    assert.ok(e1Line, JSON.stringify(sims));
    const r = await gw.api<SimCall>('POST', '/api/sim/calls', {
      line: e1Line.id,
      callerId: { number: '13900139000' },
      calledNumber: '55601',
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const established = await p.waitEvent('CALL_ESTABLISHED', { timeoutMs: 15_000 });
    assert.match(established.peeruri ?? '', /13900139000/);
    await until(
      'the E1 call answered',
      () => simCall(r.body.id),
      (c) => c.state === 'answered',
      3000,
    );
    await gw.api('POST', `/api/sim/calls/${r.body.id}/hangup`);
    await p.waitEvent('CALL_CLOSED', { timeoutMs: 5000 });
  });

  test('9 + 95004: the far end leaves only busy tone, the gateway releases the port within 2 s and sends BYE', async (t) => {
    const p = await phone('1002');
    for (const k of ['fxo1', 'fxo2', 'fxo3', 'fxo4']) await waitLineIdle(k, 5000);
    await p.dial('sip:995004@edgeline.local');
    const established = await p.waitEvent('CALL_ESTABLISHED', { timeoutMs: 15_000 });
    const port = (await lines()).find((l) => l.state === 'connected')?.key;
    assert.ok(port, 'a port carries the call');
    // The office hangs up 5 s after its answer, leaving busy tone (no reversal, no loop drop).
    const closed = await p.waitEvent('CALL_CLOSED', { timeoutMs: 12_000 });
    const heldMs = closed.atMs - established.atMs;
    t.diagnostic(`call held ${heldMs.toFixed(0)} ms (office clears at 5000 ms) on ${port}`);
    assert.ok(heldMs <= 5000 + 2000, `released ${heldMs - 5000} ms after the far end left`);
    await waitLineIdle(port, 500);
  });

  test('a tandem call: a PBX on the E1 span routed out on the analog lines hears the 1004 Hz test tone, with no RTP port pair; one interaction, two CDR rows', async (t) => {
    for (const k of ['fxo1', 'fxo2', 'fxo3', 'fxo4']) await waitLineIdle(k, 5000);
    const cfg = (await gw.api<Record<string, unknown>>('GET', '/api/config')).body as {
      pstn: { groups: Array<{ id: string; members: string[]; hunt: string }> };
      routes: { inbound: Array<Record<string, unknown>> };
    };
    cfg.pstn.groups.push({ id: 'analog', members: ['fxo1', 'fxo2', 'fxo3', 'fxo4'], hunt: 'sequential' });
    cfg.routes.inbound.unshift({
      id: 'pbx-out',
      line: 'e1-1',
      did: '95001',
      destination: { type: 'group', target: 'analog' },
    });
    const put = await gw.api('PUT', '/api/config', cfg);
    assert.equal(put.status, 200, JSON.stringify(put.body));

    const sims = (await gw.api<{ lines: Array<{ id: string }> }>('GET', '/api/sim/lines')).body.lines;
    const e1Line = sims.find((l) => /e1/.test(l.id));
    assert.ok(e1Line, JSON.stringify(sims));
    const r = await gw.api<SimCall>('POST', '/api/sim/calls', {
      line: e1Line.id,
      callerId: { number: '13900139000' },
      calledNumber: '95001',
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    await until(
      'the tandem call answered',
      () => simCall(r.body.id),
      (c) => c.state === 'answered',
      15_000,
    );
    const connected = await until(
      'an analog line carries the call out',
      lines,
      (ls) => ls.some((l) => l.key.startsWith('fxo') && l.state === 'connected'),
      5000,
    );
    t.diagnostic(
      `connected: ${connected
        .filter((l) => l.state === 'connected')
        .map((l) => l.key)
        .join(', ')}`,
    );
    const engine = (await gw.api<{ media: { engine: { ports: { inUse: number[] } } } }>('GET', '/api/status'))
      .body.media.engine;
    assert.deepEqual(engine.ports.inUse, [], 'no RTP port pair: the two channels are wired in their worker');
    await sleep(2000);
    const wav = await fetch(`http://127.0.0.1:${gw.httpPort}/api/sim/calls/${r.body.id}/recording`);
    assert.equal(wav.status, 200);
    const path = join(work, 'tandem.wav');
    writeFileSync(path, Buffer.from(await wav.arrayBuffer()));
    // Ringback (450 Hz) while the far line rang, then the far end's tone: the last 1.5 s.
    const heard = readWav(path).samples;
    const hz = toneHz(heard.subarray(Math.max(0, heard.length - 12_000)), 8000);
    t.diagnostic(`tone heard by the E1 caller once answered: ${hz.toFixed(1)} Hz`);
    assert.ok(Math.abs(hz - 1004) < 15, `heard ${hz} Hz`);
    await gw.api('POST', `/api/sim/calls/${r.body.id}/hangup`);
    for (const k of ['fxo1', 'fxo2', 'fxo3', 'fxo4']) await waitLineIdle(k, 5000);

    const cdrs = await until(
      'both CDR rows of the tandem call',
      async () => (await gw.api<{ cdrs: Cdr[] }>('GET', '/api/cdrs?limit=20')).body.cdrs,
      (rows) => {
        const inbound = rows.find((c) => c.technology === 'pstn' && c.direction === 'inbound');
        return rows.some(
          (c) =>
            c.interactionId === inbound?.interactionId &&
            c.direction === 'outbound' &&
            c.technology === 'pstn',
        );
      },
      5000,
    );
    const inbound = cdrs.find((c) => c.technology === 'pstn' && c.direction === 'inbound');
    const out = cdrs.find((c) => c.interactionId === inbound?.interactionId && c.direction === 'outbound');
    assert.match(out?.peer ?? '', /^fxo\d$/, 'the outbound row names the analog port');
  });
});
