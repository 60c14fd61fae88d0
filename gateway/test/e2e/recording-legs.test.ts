/**
 * Recordings taken on one leg, with `media.recording: 'all'`: a call between a simulated PSTN line
 * and a baresip extension, either way, leaves one stereo WAV per interaction named in the PSTN
 * leg's (or the SIP caller's) CDR row, the caller on the left and the callee on the right, each
 * channel holding its own party's signal only. The recording is taken on the port's own media
 * leg, so it holds what the line said and what it heard, whoever was on the far side.
 *
 * A caller the gateway answers itself (`*48` + extension, from a SIP phone or from a line routed
 * to a connect service) is recorded on the caller's leg from the answer to the end, one file: the
 * announcement, then the extension the app bridged in, on the right; the caller on the left.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { demoConfig } from '../../src/store/demo-config.ts';
import { routeLinesToConnect, startGateway, type GatewayProcess } from '../peers/gateway-process.ts';
import { baresipAvailable, startBaresip, type Baresip } from '../peers/baresip.ts';
import { chirp, crossCorrelate, readWav, writeWav, type PcmAudio } from '../peers/audio.ts';
import { readStereoWav } from '../media/recording-fixtures.ts';

const skip = baresipAvailable() ? false : 'baresip (Debian package baresip) is not installed';
const MIN_CORRELATION = 0.9;
const RATE = 8000;
const PROMPT = fileURLToPath(new URL('../../assets/prompts/connect-hold.wav', import.meta.url));

interface Cdr {
  legId: string;
  interactionId: string;
  direction: string;
  technology: string;
  peer: string;
  extra?: { recording?: string };
}
interface SimCall {
  id: string;
  state: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Dominant frequency by zero crossings over one second of the loud part of a channel. */
function toneHz(samples: Int16Array): number {
  let start = 0;
  while (start < samples.length && Math.abs(samples[start] ?? 0) < 2000) start++;
  const seg = samples.subarray(start + RATE / 10, start + RATE);
  if (seg.length < RATE / 10) return 0;
  let crossings = 0;
  for (let i = 1; i < seg.length; i++) if ((seg[i - 1] ?? 0) < 0 !== (seg[i] ?? 0) < 0) crossings++;
  return (crossings / 2) * (RATE / seg.length);
}

const channel = (samples: Int16Array): PcmAudio => ({ sampleRate: RATE, samples });

describe(
  'recordings taken on one leg: PSTN calls on their port, answered calls on the caller’s leg',
  { skip },
  () => {
    let gw: GatewayProcess;
    const work = mkdtempSync(join(tmpdir(), 'pstn-recording-'));
    const dataDir = mkdtempSync(join(tmpdir(), 'edgeline-pstn-recording-'));
    const up = chirp({ durationS: 3, fromHz: 300, toHz: 3000 });
    const down = chirp({ durationS: 3, fromHz: 3000, toHz: 300 });
    const upWav = join(work, 'up.wav');
    const phones: Baresip[] = [];

    before(async () => {
      // baresip ends the call when its source file ends: the chirp is followed by silence.
      const padded = new Int16Array(up.samples.length + 30 * RATE);
      padded.set(up.samples);
      writeWav(upWav, { sampleRate: RATE, samples: padded });
      const cfg = demoConfig();
      cfg.media.recording = 'all';
      writeFileSync(join(dataDir, 'config.json'), JSON.stringify(cfg, null, 2));
      gw = await startGateway({ dataDir, demo: true });
      writeWav(join(gw.dataDir, 'down.wav'), down);
    });

    after(async () => {
      await Promise.all(phones.map((p) => p.stop()));
      await gw?.stop();
      rmSync(dataDir, { recursive: true, force: true });
      rmSync(work, { recursive: true, force: true });
    });

    async function phone(ext: string, playWav = upWav): Promise<Baresip> {
      const p = await startBaresip({
        user: ext,
        password: `demo${ext}`,
        registrar: { host: '127.0.0.1', port: gw.sipPort, domain: 'edgeline.local' },
        codec: 'PCMU',
        playWav,
      });
      phones.push(p);
      await p.waitRegistered();
      return p;
    }

    /** The interaction's CDR row of `direction`, once it names its recording. */
    async function recordedRow(interactionId: string | undefined, pick: (c: Cdr) => boolean): Promise<Cdr> {
      let rows: Cdr[] = [];
      for (const end = Date.now() + 5000; Date.now() < end; await sleep(100)) {
        rows = (await gw.api<{ cdrs: Cdr[] }>('GET', '/api/cdrs?limit=20')).body.cdrs;
        const row = rows.find(
          (c) => pick(c) && (interactionId === undefined || c.interactionId === interactionId),
        );
        if (row?.extra?.recording) return row;
      }
      assert.fail(`no recorded CDR row: ${JSON.stringify(rows)}`);
    }

    /** The file once the recorder closed it (the row names it while it is still being written). */
    async function closedFile(path: string): Promise<ReturnType<typeof readStereoWav>> {
      for (const end = Date.now() + 5000; ; await sleep(100)) {
        const status = await gw.api<{ media: { engine: { recordings: { active: number } } } }>(
          'GET',
          '/api/status',
        );
        if (status.body.media.engine.recordings.active === 0 || Date.now() > end) break;
      }
      assert.ok(existsSync(path), `${path} exists`);
      return readStereoWav(path);
    }

    test('a PSTN caller to extension 1001: the line on the left, the phone on the right', async (t) => {
      const p = await phone('1001');
      const r = await gw.api<SimCall>('POST', '/api/sim/calls', {
        line: 1,
        callerId: { number: '13800138000' },
      });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      await p.waitEvent('CALL_ESTABLISHED', { timeoutMs: 15_000 });
      for (const end = Date.now() + 3000; Date.now() < end; await sleep(100))
        if ((await gw.api<SimCall>('GET', `/api/sim/calls/${r.body.id}`)).body.state === 'answered') break;
      const play = await gw.api('POST', `/api/sim/calls/${r.body.id}/play`, { wav: 'down.wav' });
      assert.equal(play.status, 200, JSON.stringify(play.body));
      await sleep(4500);
      await gw.api('POST', `/api/sim/calls/${r.body.id}/hangup`);
      await p.waitEvent('CALL_CLOSED', { timeoutMs: 5000 });

      const row = await recordedRow(undefined, (c) => c.technology === 'pstn' && c.direction === 'inbound');
      const file = row.extra?.recording ?? '';
      assert.equal(basename(file), `${row.interactionId}.wav`, 'one file named after the interaction');
      const wav = await closedFile(file);
      const left = crossCorrelate(down, channel(wav.left));
      const right = crossCorrelate(up, channel(wav.right));
      const crossLeft = crossCorrelate(up, channel(wav.left));
      const crossRight = crossCorrelate(down, channel(wav.right));
      t.diagnostic(
        `${(wav.left.length / RATE).toFixed(2)} s; left (line) NCC ${left.peak.toFixed(4)}, right (phone) NCC ${right.peak.toFixed(4)}; ` +
          `cross ${crossLeft.peak.toFixed(3)}/${crossRight.peak.toFixed(3)}`,
      );
      assert.ok(left.peak >= MIN_CORRELATION, `left channel vs the line: ${left.peak}`);
      assert.ok(right.peak >= MIN_CORRELATION, `right channel vs the phone: ${right.peak}`);
      assert.ok(crossLeft.peak < 0.5 && crossRight.peak < 0.5, 'each channel holds one party only');
    });

    test('extension 1002 calls out on a port (9 + 95001): the phone on the left, the line’s 1004 Hz on the right', async (t) => {
      const p = await phone('1002');
      await p.dial('sip:995001@edgeline.local');
      await p.waitEvent('CALL_ESTABLISHED', { timeoutMs: 15_000 });
      await sleep(4000);
      await p.hangup();
      await p.waitEvent('CALL_CLOSED', { timeoutMs: 5000 });

      const caller = await recordedRow(
        undefined,
        (c) => c.technology === 'sip' && c.direction === 'inbound' && c.peer === '1002',
      );
      const file = caller.extra?.recording ?? '';
      assert.equal(basename(file), `${caller.interactionId}.wav`);
      const wav = await closedFile(file);
      const left = crossCorrelate(up, channel(wav.left));
      const hz = toneHz(wav.right);
      t.diagnostic(
        `${(wav.left.length / RATE).toFixed(2)} s; left (phone) NCC ${left.peak.toFixed(4)}, right ${hz.toFixed(1)} Hz`,
      );
      assert.ok(left.peak >= MIN_CORRELATION, `left channel vs the phone: ${left.peak}`);
      assert.ok(Math.abs(hz - 1004) < 15, `right channel holds the line's 1004 Hz, not ${hz} Hz`);
    });

    /**
     * The announcement, then the extension, on the right channel; the caller's signal on the left:
     * both in one file from the answer on.
     */
    function assertAnsweredThenBridged(
      t: { diagnostic(m: string): void },
      wav: ReturnType<typeof readStereoWav>,
      callerSignal: PcmAudio,
      calleeSignal: PcmAudio,
    ): void {
      const prompt = readWav(PROMPT);
      const promptHead = { sampleRate: RATE, samples: prompt.samples.subarray(0, RATE) };
      const heardPrompt = crossCorrelate(promptHead, channel(wav.right));
      const heardCallee = crossCorrelate(calleeSignal, channel(wav.right));
      const caller = crossCorrelate(callerSignal, channel(wav.left));
      t.diagnostic(
        `${(wav.left.length / RATE).toFixed(2)} s; right: prompt NCC ${heardPrompt.peak.toFixed(4)} at ${heardPrompt.lagMs} ms, ` +
          `extension NCC ${heardCallee.peak.toFixed(4)} at ${heardCallee.lagMs} ms; left: caller NCC ${caller.peak.toFixed(4)}`,
      );
      assert.ok(heardPrompt.peak >= MIN_CORRELATION, `the announcement on the right: ${heardPrompt.peak}`);
      assert.ok(heardCallee.peak >= MIN_CORRELATION, `the extension on the right: ${heardCallee.peak}`);
      assert.ok(caller.peak >= MIN_CORRELATION, `the caller on the left: ${caller.peak}`);
      assert.ok(heardPrompt.lagMs < heardCallee.lagMs, 'the announcement before the extension, in one file');
    }

    test('*48 + 1003 from extension 1004: announcement, then 1003, on the caller’s recording', async (t) => {
      const callee = await phone('1003');
      const downWav = join(work, 'down-caller.wav');
      const padded = new Int16Array(down.samples.length + 30 * RATE);
      padded.set(down.samples);
      writeWav(downWav, { sampleRate: RATE, samples: padded });
      const caller = await phone('1004', downWav);
      await caller.dial('sip:*481003@edgeline.local');
      await caller.waitEvent('CALL_ESTABLISHED', { timeoutMs: 10_000 });
      await callee.waitEvent('CALL_ESTABLISHED', { timeoutMs: 20_000 });
      await sleep(4000);
      await caller.hangup();
      await caller.waitEvent('CALL_CLOSED', { timeoutMs: 5000 });
      await callee.waitEvent('CALL_CLOSED', { timeoutMs: 5000 });

      const row = await recordedRow(
        undefined,
        (c) => c.technology === 'sip' && c.direction === 'inbound' && c.peer === '1004',
      );
      const file = row.extra?.recording ?? '';
      assert.equal(basename(file), `${row.interactionId}.wav`);
      assertAnsweredThenBridged(t, await closedFile(file), down, up);
    });

    test('a PSTN line routed to a connect service: announcement, then 1005, on the line’s recording', async (t) => {
      await routeLinesToConnect(gw, '*49', '1005');
      const p = await phone('1005');
      const r = await gw.api<SimCall>('POST', '/api/sim/calls', {
        line: 3,
        callerId: { number: '13800138005' },
      });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      await p.waitEvent('CALL_ESTABLISHED', { timeoutMs: 20_000 });
      const play = await gw.api('POST', `/api/sim/calls/${r.body.id}/play`, { wav: 'down.wav' });
      assert.equal(play.status, 200, JSON.stringify(play.body));
      await sleep(4500);
      await gw.api('POST', `/api/sim/calls/${r.body.id}/hangup`);
      await p.waitEvent('CALL_CLOSED', { timeoutMs: 5000 });

      const row = await recordedRow(
        undefined,
        (c) => c.technology === 'pstn' && c.direction === 'inbound' && c.peer === 'fxo3',
      );
      const file = row.extra?.recording ?? '';
      assert.equal(basename(file), `${row.interactionId}.wav`);
      assertAnsweredThenBridged(t, await closedFile(file), down, up);
    });
  },
);
