/**
 * Recording taps with real phones: with `media.recording: 'all'` two baresip phones call each
 * other through the gateway, each playing its own signal; after the call the interaction's CDR
 * names one stereo WAV under `<dataDir>/recordings/` whose left channel is the caller and whose
 * right channel is the callee, time-aligned within 40 ms (issue 3: "A recording of a bridged call
 * holds both parties, time-aligned within 40 ms"). A hold and resume in the middle of the call
 * (re-INVITE sendonly, then sendrecv) continues the same file. The file is never served by HTTP
 * (DESIGN §3: "never reachable by a guessable URL").
 *
 * Alignment is measured against the gateway's own clock: the engine reports when each leg's first
 * RTP packet arrived (both legs of a call live on one worker, one monotonic clock), and each phone's
 * signal starts with its first packet, so the caller's signal must start in the left channel later
 * than the callee's starts in the right channel by the difference of those two arrival times.
 * (Timing the phones' own events from the test process adds tens of milliseconds of scheduling
 * noise between two processes; the gateway's arrival times do not.)
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { demoConfig } from '../../src/store/demo-config.ts';
import { startGateway, type GatewayProcess } from '../peers/gateway-process.ts';
import { baresipAvailable, startBaresip, type Baresip } from '../peers/baresip.ts';
import { chirp, crossCorrelate, writeWav, type PcmAudio } from '../peers/audio.ts';
import { freeUdpRange } from '../media/udp-helpers.ts';

const skip = baresipAvailable() ? false : 'baresip (Debian package baresip) is not installed';

const MIN_CORRELATION = 0.9;
/** Issue 3: "A recording of a bridged call holds both parties, time-aligned within 40 ms." */
const MAX_MISALIGNMENT_MS = 40;
const RATE = 8000;

interface Cdr {
  legId: string;
  interactionId: string;
  direction: string;
  extra?: { recording?: string };
}
interface EngineView {
  ports: { free: number; capacity: number; closing: number };
  calls: Array<{
    callKey: string;
    recording: string | null;
    a: { firstRtpAtMs?: number | null };
    b: { firstRtpAtMs?: number | null };
  }>;
  recordings: { active: number; started: number; closed: number; failed: number };
}

/** A 16-bit PCM stereo WAV split into its channels (the recorder's format: 8 kHz, L = caller). */
function readStereoWav(path: string): {
  sampleRate: number;
  channels: number;
  left: PcmAudio;
  right: PcmAudio;
} {
  const buf = readFileSync(path);
  assert.equal(buf.toString('latin1', 0, 4), 'RIFF');
  assert.equal(buf.toString('latin1', 8, 12), 'WAVE');
  let offset = 12;
  let sampleRate = 0;
  let channels = 0;
  let bits = 0;
  while (offset + 8 <= buf.length) {
    const id = buf.toString('latin1', offset, offset + 4);
    const size = Math.min(buf.readUInt32LE(offset + 4), buf.length - offset - 8);
    const body = offset + 8;
    if (id === 'fmt ') {
      channels = buf.readUInt16LE(body + 2);
      sampleRate = buf.readUInt32LE(body + 4);
      bits = buf.readUInt16LE(body + 14);
    } else if (id === 'data') {
      assert.equal(bits, 16, '16-bit PCM');
      const frames = Math.floor(size / (2 * Math.max(1, channels)));
      const left = new Int16Array(frames);
      const right = new Int16Array(frames);
      for (let i = 0; i < frames; i++) {
        left[i] = buf.readInt16LE(body + i * 2 * channels);
        right[i] = channels > 1 ? buf.readInt16LE(body + i * 2 * channels + 2) : 0;
      }
      return {
        sampleRate,
        channels,
        left: { sampleRate, samples: left },
        right: { sampleRate, samples: right },
      };
    }
    offset = body + size + (size & 1);
  }
  throw new Error(`${path}: no data chunk`);
}

/** `parts` laid out at their offsets (seconds) in `durationS` of silence. */
function layout(durationS: number, parts: Array<{ atS: number; audio: PcmAudio }>): PcmAudio {
  const samples = new Int16Array(Math.round(durationS * RATE));
  for (const p of parts) samples.set(p.audio.samples, Math.round(p.atS * RATE));
  return { sampleRate: RATE, samples };
}

describe('recording taps: one stereo WAV per interaction (baresip phones)', { skip }, () => {
  let gw: GatewayProcess;
  const work = mkdtempSync(join(tmpdir(), 'media-recording-'));
  const dataDir = mkdtempSync(join(tmpdir(), 'edgeline-recording-'));
  // Distinct sweeps on each side, so that neither channel can match the other party's signal.
  const callerFirst = chirp({ durationS: 2.5, fromHz: 300, toHz: 3000 });
  const callerSecond = chirp({ durationS: 1, fromHz: 800, toHz: 3400 });
  const calleeFirst = chirp({ durationS: 2.5, fromHz: 3000, toHz: 300 });
  const calleeSecond = chirp({ durationS: 1, fromHz: 3400, toHz: 800 });

  before(async () => {
    const cfg = demoConfig();
    cfg.sip.digestAlgorithms = ['MD5'];
    cfg.media.recording = 'all';
    for (const number of ['1031', '1032', '1033', '1034'])
      cfg.extensions.push({ number, password: `demo${number}`, permission: 'international', enabled: true });
    writeFileSync(join(dataDir, 'config.json'), JSON.stringify(cfg, null, 2));
    // A range found free now: a media port another process holds would leave a leg without media.
    const lo = await freeUdpRange(40);
    gw = await startGateway({ dataDir, extraArgs: ['--rtp-ports', `${lo}-${lo + 39}`] });
  });

  after(async () => {
    await gw?.stop();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  });

  const engine = async (): Promise<EngineView> =>
    (await gw.api<{ media: { engine: EngineView } }>('GET', '/api/status')).body.media.engine;

  /** The caller's CDR row of the interaction, once written. */
  async function callerCdr(interactionId: string): Promise<Cdr> {
    for (const end = Date.now() + 5000; ; await new Promise((r) => setTimeout(r, 100))) {
      const cdrs = (await gw.api<{ cdrs: Cdr[] }>('GET', `/api/cdrs?interaction=${interactionId}`)).body.cdrs;
      const a = cdrs.find((c) => c.direction === 'inbound');
      if (a || Date.now() > end) {
        assert.ok(a, `no caller CDR for ${interactionId}`);
        return a;
      }
    }
  }

  /** Waits until the recorder has closed every file and the ports are back in the pool. */
  async function settled(): Promise<EngineView> {
    let e = await engine();
    for (const end = Date.now() + 5000; Date.now() < end; await new Promise((r) => setTimeout(r, 100))) {
      e = await engine();
      if (
        e.calls.length === 0 &&
        e.ports.closing === 0 &&
        e.recordings.active === 0 &&
        e.recordings.closed === e.recordings.started
      )
        break;
    }
    return e;
  }

  interface Played {
    caller: Baresip;
    callee: Baresip;
    /** How much later the caller's first RTP packet reached the gateway than the callee's. */
    sourceOffsetMs: number;
    interactionId: string;
    file: string;
  }

  /** Register both phones, call, run `during` while the call is up, wait for the end. */
  async function recordCall(
    ext: { caller: string; callee: string },
    wavs: { caller: PcmAudio; callee: PcmAudio },
    phones: Baresip[],
    during?: (caller: Baresip) => Promise<void>,
  ): Promise<Played> {
    const callerWav = join(work, `${ext.caller}.wav`);
    const calleeWav = join(work, `${ext.callee}.wav`);
    writeWav(callerWav, wavs.caller);
    writeWav(calleeWav, wavs.callee);
    const registrar = { host: '127.0.0.1', port: gw.sipPort, domain: 'edgeline.local' };
    const caller = await startBaresip({
      user: ext.caller,
      password: `demo${ext.caller}`,
      registrar,
      codec: 'PCMU',
      playWav: callerWav,
    });
    phones.push(caller);
    const callee = await startBaresip({
      user: ext.callee,
      password: `demo${ext.callee}`,
      registrar,
      codec: 'PCMA',
      playWav: calleeWav,
    });
    phones.push(callee);
    await Promise.all([caller.waitRegistered(), callee.waitRegistered()]);
    await caller.dial(`sip:${ext.callee}@edgeline.local`);
    await caller.waitEvent('CALL_ESTABLISHED', { timeoutMs: 10_000 });
    await callee.waitEvent('CALL_ESTABLISHED', { timeoutMs: 5_000 });
    // While the call runs the engine names the file it writes.
    let live = (await engine()).calls[0];
    assert.ok(live?.recording, 'the live call is being recorded');
    // The dump is refreshed every second: wait until both legs report their first packet.
    for (const end = Date.now() + 3000; Date.now() < end; await new Promise((r) => setTimeout(r, 100))) {
      live = (await engine()).calls[0];
      if (typeof live?.a.firstRtpAtMs === 'number' && typeof live.b.firstRtpAtMs === 'number') break;
    }
    const aFirst = live?.a.firstRtpAtMs;
    const bFirst = live?.b.firstRtpAtMs;
    assert.ok(live && typeof aFirst === 'number' && typeof bFirst === 'number', 'both legs received RTP');
    const sourceOffsetMs = aFirst - bFirst;
    await during?.(caller);
    // The end of the caller's file ends the call.
    await caller.waitEvent('CALL_CLOSED', { timeoutMs: 20_000 });
    await callee.waitEvent('CALL_CLOSED', { timeoutMs: 5_000 });
    const cdr = await callerCdr(live.callKey);
    const file = cdr.extra?.recording;
    assert.ok(file, `the caller's CDR names the recording: ${JSON.stringify(cdr)}`);
    assert.equal(file, live.recording, 'the CDR names the file the engine wrote');
    return { caller, callee, sourceOffsetMs, interactionId: live.callKey, file };
  }

  /**
   * Lag (ms) of `part` in `channel` and its correlation; `part` starts `atS` into the phone's file,
   * so the returned lag is where the phone's file starts in the recording.
   */
  function place(part: PcmAudio, atS: number, channel: PcmAudio): { peak: number; fileStartMs: number } {
    const c = crossCorrelate(part, channel, { minOverlap: 0.9 });
    return { peak: c.peak, fileStartMs: c.lagMs - atS * 1000 };
  }

  test(`MUST write one stereo WAV per interaction, caller left and callee right (NCC ≥ ${MIN_CORRELATION}), aligned within ${MAX_MISALIGNMENT_MS} ms, named in the CDR and not served over HTTP`, async (t) => {
    const phones: Baresip[] = [];
    try {
      const played = await recordCall(
        { caller: '1031', callee: '1032' },
        {
          caller: layout(4, [{ atS: 0.5, audio: callerFirst }]),
          callee: layout(8, [{ atS: 0.5, audio: calleeFirst }]),
        },
        phones,
      );
      const e = await settled();
      assert.equal(e.recordings.failed, 0);
      assert.equal(e.ports.free, e.ports.capacity, 'every port back in the pool');
      const recordingsDir = join(gw.dataDir, 'recordings');
      assert.equal(dirname(played.file), recordingsDir);
      assert.equal(
        basename(played.file),
        `${played.interactionId}.wav`,
        'one file named after the interaction',
      );
      assert.ok(existsSync(played.file));
      const wav = readStereoWav(played.file);
      assert.equal(wav.channels, 2, 'stereo');
      assert.equal(wav.sampleRate, 8000);
      const left = place(callerFirst, 0.5, wav.left);
      const right = place(calleeFirst, 0.5, wav.right);
      // Neither party bleeds into the other's channel.
      const crossLeft = place(calleeFirst, 0.5, wav.left);
      const crossRight = place(callerFirst, 0.5, wav.right);
      const expectedMs = played.sourceOffsetMs;
      const skewMs = left.fileStartMs - right.fileStartMs - expectedMs;
      t.diagnostic(
        `left NCC ${left.peak.toFixed(4)} at ${left.fileStartMs} ms, right NCC ${right.peak.toFixed(4)} at ${right.fileStartMs} ms; ` +
          `sources started ${expectedMs.toFixed(1)} ms apart; skew ${skewMs.toFixed(1)} ms; ` +
          `cross NCC ${crossLeft.peak.toFixed(3)}/${crossRight.peak.toFixed(3)}`,
      );
      assert.ok(left.peak >= MIN_CORRELATION, `left channel vs caller: ${left.peak}`);
      assert.ok(right.peak >= MIN_CORRELATION, `right channel vs callee: ${right.peak}`);
      assert.ok(crossLeft.peak < 0.5 && crossRight.peak < 0.5, 'each channel holds one party only');
      assert.ok(Math.abs(skewMs) <= MAX_MISALIGNMENT_MS, `channels misaligned by ${skewMs.toFixed(1)} ms`);

      // Never served: not under the static root, not by its name, not by the interaction id.
      const name = basename(played.file);
      for (const path of [
        `/recordings/${name}`,
        `/recordings/${played.interactionId}`,
        `/${name}`,
        `/api/recordings/${played.interactionId}`,
        `/data/recordings/${name}`,
      ]) {
        const r = await fetch(`http://127.0.0.1:${gw.httpPort}${path}`);
        const body = Buffer.from(await r.arrayBuffer());
        assert.equal(r.status, 404, `GET ${path} → ${r.status}`);
        assert.ok(!body.subarray(0, 4).equals(Buffer.from('RIFF')), `GET ${path} returned audio`);
      }
    } catch (e) {
      t.diagnostic(gw.output().slice(-3000));
      throw e;
    } finally {
      await Promise.all(phones.map((p) => p.stop()));
    }
  });

  test('MUST continue the same file across a hold and resume (re-INVITE sendonly, then sendrecv)', async (t) => {
    const phones: Baresip[] = [];
    try {
      const before = new Set(readdirSync(join(gw.dataDir, 'recordings')));
      // First signals before the hold (at 3 s), second ones after the resume (at 4.5 s).
      const played = await recordCall(
        { caller: '1033', callee: '1034' },
        {
          caller: layout(9, [
            { atS: 0.3, audio: callerFirst },
            { atS: 3.4, audio: callerSecond },
            { atS: 6, audio: callerSecond },
          ]),
          callee: layout(14, [
            { atS: 0.3, audio: calleeFirst },
            { atS: 6, audio: calleeSecond },
          ]),
        },
        phones,
        async (caller) => {
          await new Promise((r) => setTimeout(r, 3000));
          // Each re-INVITE is done when its answer (CALL_REMOTE_SDP) comes back.
          const answered = async (since: number) =>
            caller.waitEvent('CALL_REMOTE_SDP', { timeoutMs: 3000, match: (x) => x.atMs > since });
          let since = performance.now();
          await caller.command('hold');
          await answered(since);
          await new Promise((r) => setTimeout(r, 1500));
          since = performance.now();
          await caller.command('resume');
          await answered(since);
        },
      );
      const e = await settled();
      assert.equal(e.ports.free, e.ports.capacity, 'every port back in the pool');
      const added = readdirSync(join(gw.dataDir, 'recordings')).filter((f) => !before.has(f));
      assert.deepEqual(added, [basename(played.file)], 'one file for the interaction');
      const wav = readStereoWav(played.file);
      const parts = {
        leftFirst: place(callerFirst, 0.3, wav.left),
        rightFirst: place(calleeFirst, 0.3, wav.right),
        leftSecond: place(callerSecond, 6, wav.left),
        rightSecond: place(calleeSecond, 6, wav.right),
      };
      t.diagnostic(JSON.stringify(parts));
      for (const [name, p] of Object.entries(parts))
        assert.ok(p.peak >= MIN_CORRELATION, `${name}: NCC ${p.peak}`);
      const expectedMs = played.sourceOffsetMs;
      const skewBefore = parts.leftFirst.fileStartMs - parts.rightFirst.fileStartMs - expectedMs;
      const skewAfter = parts.leftSecond.fileStartMs - parts.rightSecond.fileStartMs - expectedMs;
      t.diagnostic(`skew before hold ${skewBefore.toFixed(1)} ms, after resume ${skewAfter.toFixed(1)} ms`);
      assert.ok(Math.abs(skewBefore) <= MAX_MISALIGNMENT_MS, `before hold: ${skewBefore}`);
      assert.ok(Math.abs(skewAfter) <= MAX_MISALIGNMENT_MS, `after resume: ${skewAfter}`);
    } catch (e) {
      t.diagnostic(gw.output().slice(-3000));
      throw e;
    } finally {
      await Promise.all(phones.map((p) => p.stop()));
    }
  });
});
