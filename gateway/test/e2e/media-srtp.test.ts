/**
 * SRTP terminated per leg by the real gateway, with real phones: two baresip instances with SDES
 * SRTP (RFC 4568, AES_CM_128_HMAC_SHA1_80) call through the gateway; each leg has its own keys
 * (the gateway answers the caller with its key and offers the callee another), and the audio
 * correlates end to end. Also a caller with SRTP to a callee with plain RTP.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { demoConfig } from '../../src/store/demo-config.ts';
import { startGateway, type GatewayProcess } from '../peers/gateway-process.ts';
import { baresipAvailable, startBaresip, type Baresip, type BaresipSrtp } from '../peers/baresip.ts';
import { chirp, crossCorrelate, readWav, writeWav } from '../peers/audio.ts';
import { metricSum } from '../peers/raw-sip.ts';

const skip = baresipAvailable() ? false : 'baresip (Debian package baresip) is not installed';
const GATEWAY_RTP = { lo: 20000, hi: 29999 };

interface LegView {
  transport: {
    proto: string | null;
    srtp: { suite: string; localKeyId: string; remoteKeyId: string } | null;
  };
  srtp?: { unprotected: number; protected: number; dropped: Record<string, number> } | null;
}
interface EngineView {
  calls: Array<{ callKey: string; a: LegView; b: LegView }>;
  counters: { srtpDropped: Record<string, number> };
}

describe('SRTP terminated per leg by the gateway (baresip phones)', { skip }, () => {
  let gw: GatewayProcess;
  const work = mkdtempSync(join(tmpdir(), 'media-srtp-'));
  const dataDir = mkdtempSync(join(tmpdir(), 'edgeline-srtp-'));
  const up = chirp({ durationS: 3, fromHz: 200, toHz: 3400 });
  const down = chirp({ durationS: 6, fromHz: 3400, toHz: 200 });
  const upWav = join(work, 'up.wav');
  const downWav = join(work, 'down.wav');

  before(async () => {
    writeWav(upWav, up);
    writeWav(downWav, down);
    const cfg = demoConfig();
    cfg.sip.digestAlgorithms = ['MD5'];
    for (const number of ['1011', '1012', '1013', '1014'])
      cfg.extensions.push({ number, password: `demo${number}`, permission: 'international', enabled: true });
    // A phone that insists on SRTP is offered RTP/SAVP by the gateway (its extension's policy).
    for (const e of cfg.extensions) if (e.number === '1012') e.srtp = 'required';
    writeFileSync(join(dataDir, 'config.json'), JSON.stringify(cfg, null, 2));
    gw = await startGateway({ dataDir, extraArgs: ['--rtp-ports', `${GATEWAY_RTP.lo}-${GATEWAY_RTP.hi}`] });
  });

  after(async () => {
    await gw?.stop();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  });

  const engine = async (): Promise<EngineView> =>
    (await gw.api<{ media: { engine: EngineView } }>('GET', '/api/status')).body.media.engine;

  const cases: Array<{
    name: string;
    caller: { ext: string; srtp: BaresipSrtp };
    callee: { ext: string; srtp: BaresipSrtp };
    calleeSrtp: boolean;
  }> = [
    {
      name: 'both phones SRTP mandatory: each leg SRTP with its own keys',
      caller: { ext: '1011', srtp: 'mandatory' },
      callee: { ext: '1012', srtp: 'mandatory' },
      calleeSrtp: true,
    },
    {
      name: 'SRTP caller, plain-RTP callee: SRTP on the caller leg only',
      caller: { ext: '1013', srtp: 'mandatory' },
      callee: { ext: '1014', srtp: 'off' },
      calleeSrtp: false,
    },
  ];

  for (const c of cases) {
    test(`an SRTP call carries audio (correlation ≥ 0.9) with SRTP terminated per leg (${c.name})`, async (t) => {
      const phones: Baresip[] = [];
      try {
        const registrar = { host: '127.0.0.1', port: gw.sipPort, domain: 'edgeline.local' };
        const caller = await startBaresip({
          user: c.caller.ext,
          password: `demo${c.caller.ext}`,
          registrar,
          codec: 'PCMU',
          srtp: c.caller.srtp,
          playWav: upWav,
        });
        phones.push(caller);
        const callee = await startBaresip({
          user: c.callee.ext,
          password: `demo${c.callee.ext}`,
          registrar,
          codec: 'PCMU',
          srtp: c.callee.srtp,
          playWav: downWav,
        });
        phones.push(callee);
        await Promise.all([caller.waitRegistered(), callee.waitRegistered()]);
        await caller.dial(`sip:${c.callee.ext}@edgeline.local`);
        await caller.waitEvent('CALL_ESTABLISHED', { timeoutMs: 10_000 });
        assert.match((await caller.waitEvent('CALL_MENC')).param ?? '', /AES_CM_128_HMAC_SHA1_80/);
        // While the call runs: the gateway's dump shows how each leg is secured.
        await new Promise((r) => setTimeout(r, 1500));
        const call = (await engine()).calls[0];
        assert.ok(call, 'the call is anchored');
        const sa = call.a.transport.srtp;
        assert.ok(sa, 'SRTP on the caller leg');
        assert.equal(call.a.transport.proto, 'RTP/SAVP');
        assert.ok((call.a.srtp?.unprotected ?? 0) > 0, 'the gateway unprotects the caller’s SRTP');
        if (c.calleeSrtp) {
          const sb = call.b.transport.srtp;
          assert.ok(sb, 'SRTP on the callee leg');
          assert.notEqual(sa.localKeyId, sb.localKeyId, 'the gateway keys each leg separately');
          assert.notEqual(sa.remoteKeyId, sb.remoteKeyId, 'the phones’ keys are their own');
          assert.notEqual(sa.remoteKeyId, sb.localKeyId, 'the caller’s key is never passed to the callee');
          assert.ok((call.b.srtp?.unprotected ?? 0) > 0);
        } else {
          assert.equal(call.b.transport.srtp, null, 'plain RTP on the callee leg');
          assert.equal(call.b.transport.proto, 'RTP/AVP');
        }
        await caller.waitEvent('CALL_CLOSED', { timeoutMs: 10_000 });
        await callee.waitEvent('CALL_CLOSED', { timeoutMs: 5_000 });
        const atCallee = await callee.receivedAudio();
        const atCaller = await caller.receivedAudio();
        assert.ok(atCallee !== null && atCaller !== null);
        const forward = crossCorrelate(up, readWav(atCallee));
        const backward = crossCorrelate(down, readWav(atCaller));
        t.diagnostic(
          `caller→callee NCC ${forward.peak.toFixed(4)}; callee→caller NCC ${backward.peak.toFixed(4)}`,
        );
        assert.ok(forward.peak >= 0.9, `caller→callee correlation ${forward.peak}`);
        assert.ok(backward.peak >= 0.9, `callee→caller correlation ${backward.peak}`);
        const metrics = await fetch(`http://127.0.0.1:${gw.httpPort}/metrics`).then((r) => r.text());
        assert.equal(metricSum(metrics, 'edgeline_media_srtp_dropped_total', /reason="auth"/), 0);
      } catch (e) {
        t.diagnostic(gw.output().slice(-3000));
        throw e;
      } finally {
        await Promise.all(phones.map((p) => p.stop()));
      }
    });
  }
});
