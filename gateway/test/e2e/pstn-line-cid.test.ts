/**
 * Caller ID sent before the first ring (EN 300 659-1: line reversal, data, reversal back, then
 * ringing) on a call the extension answers at once: the gateway goes off hook while the line may
 * still be reversed for the data, and the exchange's return to normal polarity must not be taken
 * for the far end clearing. The call stays up and audio flows both ways.
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

interface SimCall {
  id: string;
  state: string;
  recording: { digits: string; frames: number };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('PSTN line: caller ID before the first ring, answered at once (simulated card)', { skip }, () => {
  let gw: GatewayProcess;
  const work = mkdtempSync(join(tmpdir(), 'pstn-line-cid-'));
  const up = chirp({ durationS: 3, fromHz: 300, toHz: 3000 });
  const down = chirp({ durationS: 2, fromHz: 3000, toHz: 300 });
  const upWav = join(work, 'up.wav');
  let phone: Baresip | null = null;

  before(async () => {
    // baresip ends the call when its source file ends: the chirp is followed by a long silence.
    const padded = new Int16Array(up.samples.length + 30 * 8000);
    padded.set(up.samples);
    writeWav(upWav, { sampleRate: 8000, samples: padded });
    gw = await startGateway({ demo: true, env: { EDGELINE_LOG_LEVEL: 'info' } });
    writeWav(join(gw.dataDir, 'down.wav'), down);
  });

  after(async () => {
    await phone?.stop();
    await gw?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  const cases = [
    { cidMode: 'fsk-v23', number: '13800138000' },
    { cidMode: 'fsk-bell202', number: '13800138010' },
  ] as const;

  for (const c of cases) {
    test(`${c.cidMode} before the first ring, answered at once: the call stays up ≥ 3 s and audio flows both ways`, async (t) => {
      phone ??= await startBaresip({
        user: '1001',
        password: 'demo1001',
        registrar: { host: '127.0.0.1', port: gw.sipPort, domain: 'edgeline.local' },
        codec: 'PCMU',
        playWav: upWav,
      });
      const p = phone;
      await p.waitRegistered();
      const logFrom = gw.output().length;
      const closedBefore = p.events().filter((e) => e.type === 'CALL_CLOSED').length;
      const r = await gw.api<SimCall>('POST', '/api/sim/calls', {
        line: 1,
        callerId: { number: c.number },
        cidMode: c.cidMode,
        cidTiming: 'before-ring',
      });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      const id = r.body.id;
      const established = await p.waitEvent('CALL_ESTABLISHED', { timeoutMs: 15_000 });
      assert.match(established.peeruri ?? '', new RegExp(`sip:${c.number}@`));

      const play = await gw.api('POST', `/api/sim/calls/${id}/play`, { wav: 'down.wav' });
      assert.equal(play.status, 200, JSON.stringify(play.body));
      await sleep(3500);
      const sim = (await gw.api<SimCall>('GET', `/api/sim/calls/${id}`)).body;
      const log = gw.output().slice(logFrom);
      assert.equal(
        sim.state,
        'answered',
        `the PSTN call is still up after 3.5 s: ${JSON.stringify(sim)} ${JSON.stringify(p.events().slice(-2))}\n${log}`,
      );
      assert.equal(
        p.events().filter((e) => e.type === 'CALL_CLOSED').length,
        closedBefore,
        'the extension still has the call',
      );
      assert.doesNotMatch(log, /far end disconnected/i);

      // The phone's chirp started at its answer: let it reach the line whole.
      await sleep(1500);
      const wav = await fetch(`http://127.0.0.1:${gw.httpPort}/api/sim/calls/${id}/recording`);
      assert.equal(wav.status, 200);
      const atCallerPath = join(work, `at-caller-${c.cidMode}.wav`);
      writeFileSync(atCallerPath, Buffer.from(await wav.arrayBuffer()));
      const upward = crossCorrelate(up, readWav(atCallerPath));

      await gw.api('POST', `/api/sim/calls/${id}/hangup`);
      await p.waitEvent('CALL_CLOSED', { timeoutMs: 5000 });
      const atPhone = await p.receivedAudio();
      assert.ok(atPhone, 'the phone recorded what it heard');
      const downward = crossCorrelate(down, readWav(atPhone));
      t.diagnostic(`phone→line NCC ${upward.peak.toFixed(4)}; line→phone NCC ${downward.peak.toFixed(4)}`);
      assert.ok(upward.peak >= MIN_CORRELATION, `phone→line correlation ${upward.peak}`);
      assert.ok(downward.peak >= MIN_CORRELATION, `line→phone correlation ${downward.peak}`);
      // The line is free again for the next case.
      for (let i = 0; i < 60; i++) {
        const lines = (
          await gw.api<{ lines: { key: string; state: string; call: unknown }[] }>('GET', '/api/pstn/lines')
        ).body.lines;
        const l = lines.find((x) => x.key === 'fxo1');
        if (l?.state === 'idle' && l.call === null) break;
        await sleep(50);
      }
    });
  }
});
