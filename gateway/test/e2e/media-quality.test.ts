/**
 * RTCP terminated per leg by the real gateway (RFC 3550 §6): during a call between two baresip
 * phones each leg's jitter, loss, round-trip time and E-model MOS (ITU-T G.107) are live in
 * `/api/status`, and they are written into each leg's CDR (`extra.media`) when the call ends.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { demoConfig } from '../../src/store/demo-config.ts';
import { startGateway, type GatewayProcess } from '../peers/gateway-process.ts';
import { baresipAvailable, startBaresip, type Baresip } from '../peers/baresip.ts';
import { chirp, writeWav } from '../peers/audio.ts';

const skip = baresipAvailable() ? false : 'baresip (Debian package baresip) is not installed';

interface Quality {
  received: number;
  lost: number;
  lossPercent: number;
  jitterMs: number;
  rttMs: number | null;
  mos: number;
  rFactor: number;
  reportsSent: number;
  reportsReceived: number;
}
interface EngineView {
  calls: Array<{ callKey: string; a: { quality?: Quality }; b: { quality?: Quality } }>;
}
interface Cdr {
  legId: string;
  interactionId: string;
  direction: string;
  extra?: { media?: Quality & { codec: string | null } };
}

describe('call quality from RTCP in the live dump and the CDR (baresip phones)', { skip }, () => {
  let gw: GatewayProcess;
  const work = mkdtempSync(join(tmpdir(), 'media-quality-'));
  const dataDir = mkdtempSync(join(tmpdir(), 'edgeline-quality-'));
  const wav = join(work, 'tone.wav');

  before(async () => {
    writeWav(wav, chirp({ durationS: 20, fromHz: 300, toHz: 3000 }));
    const cfg = demoConfig();
    for (const number of ['1021', '1022'])
      cfg.extensions.push({ number, password: `demo${number}`, permission: 'international', enabled: true });
    writeFileSync(join(dataDir, 'config.json'), JSON.stringify(cfg, null, 2));
    gw = await startGateway({ dataDir });
  });

  after(async () => {
    await gw?.stop();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  });

  test('MUST keep per-leg jitter, loss, RTT and MOS live and write them into each leg’s CDR (clean loopback: loss 0, MOS ≈ 4.4)', async (t) => {
    const phones: Baresip[] = [];
    try {
      const registrar = { host: '127.0.0.1', port: gw.sipPort, domain: 'edgeline.local' };
      const caller = await startBaresip({
        user: '1021',
        password: 'demo1021',
        registrar,
        codec: 'PCMU',
        playWav: wav,
      });
      phones.push(caller);
      const callee = await startBaresip({
        user: '1022',
        password: 'demo1022',
        registrar,
        codec: 'PCMU',
        playWav: wav,
      });
      phones.push(callee);
      await Promise.all([caller.waitRegistered(), callee.waitRegistered()]);
      await caller.dial('sip:1022@edgeline.local');
      await caller.waitEvent('CALL_ESTABLISHED', { timeoutMs: 10_000 });
      // RTCP intervals are 5 s randomised by 0.5-1.5 (RFC 3550 §6.3.1) on both sides, and the
      // live dump is at most 1 s old: wait until each leg has sent and received a report (bounded).
      let live: EngineView['calls'][number] | undefined;
      for (const end = Date.now() + 16_000; Date.now() < end; await new Promise((r) => setTimeout(r, 500))) {
        live = (await gw.api<{ media: { engine: EngineView } }>('GET', '/api/status')).body.media.engine
          .calls[0];
        const legs = [live?.a.quality, live?.b.quality];
        if (legs.every((q) => q && q.reportsReceived >= 1 && q.reportsSent >= 1 && q.received > 300)) break;
      }
      assert.ok(live?.a.quality && live.b.quality, 'quality in the live dump');
      for (const q of [live.a.quality, live.b.quality]) {
        t.diagnostic(JSON.stringify(q));
        assert.ok(q.received > 300, `received ${q.received}`);
        assert.equal(q.lost, 0);
        assert.equal(q.lossPercent, 0);
        assert.ok(q.jitterMs < 5, `jitter ${q.jitterMs} ms`);
        assert.ok(q.mos >= 4.3 && q.mos <= 4.5, `MOS ${q.mos}`);
        assert.ok(q.reportsSent >= 1, 'the gateway sent its own reports');
        assert.ok(q.reportsReceived >= 1, 'the phone’s reports were consumed');
      }
      await caller.hangup();
      await caller.waitEvent('CALL_CLOSED', { timeoutMs: 5000 });
      const key = live.callKey;
      let cdrs: Cdr[] = [];
      for (const end = Date.now() + 5000; Date.now() < end; await new Promise((r) => setTimeout(r, 200))) {
        cdrs = (await gw.api<{ cdrs: Cdr[] }>('GET', `/api/cdrs?interaction=${key}`)).body.cdrs;
        if (cdrs.length >= 2) break;
      }
      const a = cdrs.find((c) => c.direction === 'inbound');
      const b = cdrs.find((c) => c.direction === 'outbound');
      assert.ok(a?.extra?.media && b?.extra?.media, `CDR rows with media quality: ${JSON.stringify(cdrs)}`);
      for (const m of [a.extra.media, b.extra.media]) {
        assert.equal(m.codec, 'PCMU');
        assert.equal(m.lost, 0);
        assert.ok(m.mos >= 4.3 && m.mos <= 4.5, `CDR MOS ${m.mos}`);
        assert.ok(m.received > 300);
      }
    } catch (e) {
      t.diagnostic(gw.output().slice(-3000));
      throw e;
    } finally {
      await Promise.all(phones.map((p) => p.stop()));
    }
  });
});
