/**
 * PSTN calls end to end through the running gateway in demo mode: baresip phones register as
 * extensions, the simulated card's lines carry the calls to and from the simulated exchange.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGateway, type GatewayProcess } from '../peers/gateway-process.ts';
import { baresipAvailable, startBaresip, type Baresip } from '../peers/baresip.ts';
import { chirp, readWav, writeWav } from '../peers/audio.ts';

const skip = baresipAvailable() ? false : 'baresip (Debian package baresip) is not installed';

interface LineView {
  id: string;
  key: string;
  state: string;
  lastFault: { reason: string } | null;
}

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

describe('PSTN calls through the gateway (simulated card)', { skip }, () => {
  let gw: GatewayProcess;
  const work = mkdtempSync(join(tmpdir(), 'pstn-e2e-'));
  const upWav = join(work, 'up.wav');
  const phones: Baresip[] = [];

  before(async () => {
    writeWav(upWav, chirp({ durationS: 8, fromHz: 300, toHz: 3000 }));
    gw = await startGateway({ demo: true });
  });

  after(async () => {
    await Promise.all(phones.map((p) => p.stop()));
    await gw?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  async function phone(ext: string): Promise<Baresip> {
    const p = await startBaresip({
      user: ext,
      password: `demo${ext}`,
      registrar: { host: '127.0.0.1', port: gw.sipPort, domain: 'edgeline.local' },
      codec: 'PCMU',
      playWav: upWav,
    });
    phones.push(p);
    await p.waitRegistered();
    return p;
  }

  const lines = async () => (await gw.api<{ lines: LineView[] }>('GET', '/api/pstn/lines')).body.lines;

  test('9 + 95001: a port is seized, answered by reversal, the 1004 Hz tone reaches the caller, the port is freed', async (t) => {
    const p = await phone('1002');
    await p.dial('sip:995001@edgeline.local');
    await p.waitEvent('CALL_ESTABLISHED', { timeoutMs: 15_000 });
    const during = await lines();
    assert.equal(during.find((l) => l.key === 'fxo1')?.state, 'connected');
    await new Promise((r) => setTimeout(r, 2000));
    await p.hangup();
    await p.waitEvent('CALL_CLOSED', { timeoutMs: 5000 });
    const rec = await p.receivedAudio();
    assert.ok(rec, 'the phone recorded what it heard');
    const audio = readWav(rec);
    t.diagnostic(`recorded ${audio.samples.length} samples`);
    const hz = toneHz(audio.samples, audio.sampleRate);
    t.diagnostic(`tone at the SIP side: ${hz.toFixed(1)} Hz`);
    assert.ok(Math.abs(hz - 1004) < 15, `heard ${hz} Hz`);
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal((await lines()).find((l) => l.key === 'fxo1')?.state, 'idle');
  });

  test('9 + 95002: the caller gets 486 Busy Here', async () => {
    const p = await phone('1003');
    await p.dial('sip:995002@edgeline.local');
    const closed = await p.waitEvent('CALL_CLOSED', { timeoutMs: 15_000 });
    assert.match(closed.param ?? '', /486/);
  });

  test('a PSTN caller on line 1 reaches extension 1001 with the FSK caller ID', async () => {
    const p = await phone('1001');
    // The busy call of the previous case may still be clearing on line 1.
    for (let i = 0; i < 50 && (await lines()).find((l) => l.key === 'fxo1')?.state !== 'idle'; i++)
      await new Promise((r) => setTimeout(r, 100));
    const r = await gw.api<{ id: string }>('POST', '/api/sim/calls', {
      line: 1,
      callerId: { number: '13800138000', name: 'Zhang' },
      cidMode: 'fsk-bell202',
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    // Auto-answered: the established call names the caller the line decoded from FSK.
    const established = await p.waitEvent('CALL_ESTABLISHED', { timeoutMs: 15_000 });
    assert.match(established.peeruri ?? '', /13800138000/);
    await new Promise((r) => setTimeout(r, 1000));
    const sim = await gw.api<{ state: string }>('GET', `/api/sim/calls/${r.body.id}`);
    assert.equal(sim.body.state, 'answered');
    await gw.api('POST', `/api/sim/calls/${r.body.id}/hangup`);
    await p.waitEvent('CALL_CLOSED', { timeoutMs: 5000 });
  });
});
