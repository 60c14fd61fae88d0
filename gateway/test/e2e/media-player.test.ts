/**
 * The player in real calls (issue 3: "Player: prompts from WAV ... with barge-in on DTMF; music on
 * hold that loops").
 *
 * Music on hold: SIPp plays the caller (1001) and the callee (1002) for signalling; two UDP RTP
 * peers of this test play their media. The caller holds with a re-INVITE a=inactive: the callee
 * must be offered a=sendonly (so it takes the music), the caller answered a=inactive (RFC 3264
 * §6.1), and the callee's peer must receive the built-in music instead of the caller's audio, until
 * the resume brings the caller's audio back.
 *
 * Announcements: a prompt made by espeak-ng (English and Mandarin) is configured as an
 * `announcement` number; SIPp calls it with its media on a socket of this test, which receives the
 * prompt and checks it against the file, then waits for the gateway's BYE — at the end of the
 * prompt, or soon after an in-band DTMF digit sent mid-prompt.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { linearToUlaw, ulawToLinear } from '../../../base/signal/g711.ts';
import { builtInMusicOnHold } from '../../src/media/play/moh-music.ts';
import { writeRtpHeader } from '../../src/media/rtp/rtp-packet.ts';
import { canSynthesizeSpeech, crossCorrelate, readWav, type PcmAudio } from '../peers/audio.ts';
import { freePort, freeUdpBlock } from '../peers/free-port.ts';
import { startGateway, type GatewayProcess } from '../peers/gateway-process.ts';
import {
  describeSippResult,
  runSipp,
  sippBinary,
  startSipp,
  type SippResult,
  registerDemoExtension,
} from '../peers/sipp.ts';
import { freeUdpRange, udpPeer, type UdpPeer } from '../media/udp-helpers.ts';

const skip =
  sippBinary() === null
    ? 'sip-tester (SIPp) is not installed'
    : !canSynthesizeSpeech()
      ? 'espeak-ng and sox are needed for the prompts'
      : false;
const RTP_PORTS = 20;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface LegDump {
  rtpPort: number;
  latched: { address: string; port: number } | null;
}
interface Status {
  media: {
    engine: {
      ports: { inUse: number[]; free: number; capacity: number; closing: number };
      calls: Array<{ callKey: string; a: LegDump; b: LegDump }>;
      dtmf: { recent: Array<{ digit: string; source: string }> };
    };
    sessions?: Array<{ service: string; localPort: number }>;
    announcements?: { recent: Array<{ outcome: string; positionMs: number; digit: string | null }> };
  };
}

/** One RTP packet of PCMU: `payload` (160 bytes) or a fill byte. */
function rtp(seq: number, ssrc: number, payload: Uint8Array | number): Buffer {
  const b = Buffer.alloc(172);
  writeRtpHeader(b, {
    marker: false,
    payloadType: 0,
    sequenceNumber: seq & 0xffff,
    timestamp: seq * 160,
    ssrc,
  });
  if (typeof payload === 'number') b.fill(payload, 12);
  else b.set(payload, 12);
  return b;
}

/** Send a packet every 20 ms from `peer` to `port`; `next(i)` gives the payload. Returns the stop. */
function stream(
  peer: UdpPeer,
  port: number,
  ssrc: number,
  next: (i: number) => Uint8Array | number,
): () => void {
  let i = 0;
  const t = setInterval(() => {
    i++;
    void peer.send(rtp(i, ssrc, next(i)), port).catch(() => undefined);
  }, 20);
  return () => clearInterval(t);
}

/** The PCMU audio packets a peer received, decoded, in arrival order. */
function decodeReceived(peer: UdpPeer): Array<{ payload: Buffer; atMs: number }> {
  return peer.received
    .filter((r) => r.msg.length === 172 && (r.msg[1] ?? 0) % 128 === 0 && r.msg[0] === 0x80)
    .map((r) => ({ payload: r.msg.subarray(12), atMs: (r as { atMs?: number }).atMs ?? 0 }));
}

function toPcm(payloads: readonly Buffer[]): PcmAudio {
  const samples = new Int16Array(payloads.length * 160);
  payloads.forEach((p, k) => {
    for (let i = 0; i < 160; i++) samples[k * 160 + i] = ulawToLinear(p[i] ?? 0xff);
  });
  return { sampleRate: 8000, samples };
}

/** espeak-ng speech converted by sox to a 16 kHz 16-bit prompt (what a site would upload), and an 8 kHz reference. */
function makePrompt(dir: string, name: string, voice: string, text: string): { file: string; ref: PcmAudio } {
  const raw = join(dir, `${name}.espeak.wav`);
  const file = join(dir, `${name}.wav`);
  const ref = join(dir, `${name}.ref8k.wav`);
  const speak = spawnSync('espeak-ng', ['-v', voice, '-s', '150', '-w', raw, text], { encoding: 'utf8' });
  assert.equal(speak.status, 0, speak.stderr);
  for (const [out, rate] of [
    [file, '16000'],
    [ref, '8000'],
  ] as const) {
    const sox = spawnSync('sox', [raw, '-r', rate, '-c', '1', '-b', '16', '-e', 'signed-integer', out], {
      encoding: 'utf8',
    });
    assert.equal(sox.status, 0, sox.stderr);
  }
  return { file, ref: readWav(ref) };
}

/** 120 ms of the DTMF digit 5 (770 + 1336 Hz, ITU-T Q.23), then silence, as PCMU frames. */
function dtmfFrames(): Uint8Array[] {
  const frames: Uint8Array[] = [];
  for (let k = 0; k < 6; k++) {
    const f = new Uint8Array(160);
    for (let i = 0; i < 160; i++) {
      const n = k * 160 + i;
      const v =
        7000 * Math.sin((2 * Math.PI * 770 * n) / 8000) + 7000 * Math.sin((2 * Math.PI * 1336 * n) / 8000);
      f[i] = linearToUlaw(Math.round(v));
    }
    frames.push(f);
  }
  return frames;
}

describe('the player in real calls (SIPp + RTP peers)', { skip }, () => {
  let gw: GatewayProcess;
  let dataDir: string;
  let prompts: { en: { file: string; ref: PcmAudio }; cmn: { file: string; ref: PcmAudio } };
  const remote = (): string => `127.0.0.1:${gw.sipPort}`;

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'edgeline-player-'));
    mkdirSync(join(dataDir, 'prompts'));
    prompts = {
      en: makePrompt(
        join(dataDir, 'prompts'),
        'closed',
        'en',
        'Thank you for calling. Our office is closed.',
      ),
      cmn: makePrompt(
        join(dataDir, 'prompts'),
        'welcome',
        'cmn',
        '欢迎致电，请按一查询余额，按二转人工服务。',
      ),
    };
    const rtpLo = await freeUdpRange(RTP_PORTS);
    gw = await startGateway({
      demo: true,
      dataDir,
      extraArgs: ['--rtp-ports', `${rtpLo}-${rtpLo + RTP_PORTS - 1}`],
    });
    const cfg = (await gw.api<{ services: unknown[] }>('GET', '/api/config')).body;
    cfg.services.push(
      // Relative paths resolve in the data directory.
      { number: '*461', type: 'announcement', file: 'prompts/closed.wav' },
      { number: '*462', type: 'announcement', file: join(dataDir, 'prompts', 'welcome.wav'), bargeIn: true },
    );
    const put = await gw.api('PUT', '/api/config', cfg);
    assert.equal(put.status, 200, JSON.stringify(put.body));
  });

  after(async () => {
    await gw?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const status = async (): Promise<Status> => (await gw.api<Status>('GET', '/api/status')).body;

  async function portsBack(): Promise<void> {
    let e = (await status()).media.engine;
    for (const end = Date.now() + 3000; Date.now() < end; await sleep(50)) {
      e = (await status()).media.engine;
      if (e.calls.length === 0 && e.ports.closing === 0 && e.ports.inUse.length === 0) break;
    }
    assert.deepEqual(e.ports.inUse, [], 'every port back in the pool');
    assert.equal(e.ports.free, e.ports.capacity);
  }

  test('MUST play looping music on hold to the held party instead of the holder’s audio, and stop it on resume', async () => {
    const calleePort = await freePort('udp');
    await registerDemoExtension(remote(), calleePort, '1002');
    const callee = await startSipp({
      scenario: 'uas-hold-moh.xml',
      localPort: calleePort,
      timeoutS: 40,
      extraArgs: ['-mp', String(await freeUdpBlock(4)), '-mi', '127.0.0.1'],
    });
    const done = runSipp({
      scenario: 'uac-auth-hold-moh.xml',
      remote: remote(),
      localPort: await freePort('udp'),
      calls: 1,
      service: '1002',
      auth: { username: '1001', password: 'demo1001' },
      keys: { caller: '1001', caller_domain: 'edgeline.local' },
      extraArgs: ['-mp', String(await freeUdpBlock(4)), '-mi', '127.0.0.1'],
      timeoutS: 30,
    });
    let ended: SippResult | undefined;
    void done.then((r) => (ended = r));
    let call: Status['media']['engine']['calls'][number] | undefined;
    for (const end = Date.now() + 8000; !call && !ended && Date.now() < end; await sleep(20))
      call = (await status()).media.engine.calls[0];
    assert.ok(call, `no anchored call: ${gw.output().slice(-2000)}`);
    const a = await udpPeer();
    const b = await udpPeer();
    // The caller's audio is recognisable: every payload byte 0x42. The callee talks too.
    const stopA = stream(a, call.a.rtpPort, 0xa1, () => 0x42);
    const stopB = stream(b, call.b.rtpPort, 0xb2, () => 0x24);
    const r = await done;
    stopA();
    stopB();
    const calleeResult = await callee.stop(2000);
    await a.close();
    await b.close();
    assert.equal(r.exitCode, 0, `${describeSippResult(r)}\n${r.stdoutTail.slice(-1500)}`);
    assert.equal(calleeResult.stats?.successful, 1, describeSippResult(calleeResult));

    const got = decodeReceived(b);
    const fromCaller = got.map((p) => p.payload.every((x) => x === 0x42));
    // The longest run of packets that are not the caller's audio: the music on hold.
    let best = { start: 0, len: 0 };
    for (let i = 0; i < got.length;) {
      if (fromCaller[i]) {
        i++;
        continue;
      }
      let j = i;
      while (j < got.length && !fromCaller[j]) j++;
      if (j - i > best.len) best = { start: i, len: j - i };
      i = j;
    }
    const before = fromCaller.slice(0, best.start).filter(Boolean).length;
    const afterResume = fromCaller.slice(best.start + best.len).filter(Boolean).length;
    // Hold lasts 6 s; the music runs from the hold's answer to the resume's answer.
    assert.ok(best.len >= 250, `music for ${best.len * 20} ms (${got.length} packets in all)`);
    assert.ok(before >= 20, `caller audio before the hold: ${before} packets`);
    assert.ok(afterResume >= 20, `caller audio after the resume: ${afterResume} packets`);
    const music = builtInMusicOnHold();
    const looped = new Int16Array(music.length * 2);
    looped.set(music);
    looped.set(music, music.length);
    const heard = toPcm(got.slice(best.start, best.start + best.len).map((p) => p.payload));
    const c = crossCorrelate({ sampleRate: 8000, samples: looped }, heard, { maxLagSamples: 800 });
    assert.ok(c.peak >= 0.9, `music on hold NCC ${c.peak.toFixed(3)} at lag ${c.lagMs} ms`);
    // Longer than one pass of the loop: it loops.
    assert.ok(heard.samples.length > music.length, 'the music looped');
    // A second pass correlates with the start of the loop too.
    const second = { sampleRate: 8000, samples: heard.samples.subarray(music.length) };
    const c2 = crossCorrelate({ sampleRate: 8000, samples: music }, second, { maxLagSamples: 800 });
    assert.ok(c2.peak >= 0.9, `second pass NCC ${c2.peak.toFixed(3)}`);
    await portsBack();
  });

  /** Wrapped: awaiting a promise of a promise would wait for the whole call. */
  async function callAnnouncement(number: string, peer: UdpPeer): Promise<{ done: Promise<SippResult> }> {
    const done = runSipp({
      scenario: 'uac-auth-media-port-await-bye.xml',
      remote: remote(),
      localPort: await freePort('udp'),
      calls: 1,
      service: number,
      auth: { username: '1001', password: 'demo1001' },
      keys: {
        caller: '1001',
        caller_domain: 'edgeline.local',
        rtp_port: String(peer.port),
        rtp_proto: 'RTP/AVP',
        sdp_attr: 'label:1',
      },
      extraArgs: ['-mp', String(await freeUdpBlock(4)), '-mi', '127.0.0.1'],
      timeoutS: 30,
    });
    return { done };
  }

  async function servicePort(): Promise<number> {
    for (const end = Date.now() + 8000; Date.now() < end; await sleep(20)) {
      const s = (await status()).media.sessions?.find((x) => x.service === 'prompt');
      if (s) return s.localPort;
    }
    assert.fail(
      `no announcement session: ${JSON.stringify((await status()).media).slice(0, 1500)} ${gw.output().slice(-2000)}`,
    );
  }

  test('MUST answer an announcement number, play the whole prompt (NCC ≥ 0.9 with the file) and then send BYE', async () => {
    const peer = await udpPeer();
    const { done } = await callAnnouncement('*461', peer);
    const port = await servicePort();
    const stop = stream(peer, port, 0xc3, () => 0xff);
    const r = await done;
    stop();
    await peer.close();
    assert.equal(r.exitCode, 0, `the gateway's BYE ends the call: ${describeSippResult(r)}`);
    const heard = toPcm(decodeReceived(peer).map((p) => p.payload));
    const ref = prompts.en.ref;
    const c = crossCorrelate(ref, heard, { maxLagSamples: 4000 });
    assert.ok(c.peak >= 0.9, `prompt NCC ${c.peak.toFixed(3)} at lag ${c.lagMs} ms`);
    const refMs = (ref.samples.length / 8000) * 1000;
    const heardMs = (heard.samples.length / 8000) * 1000;
    assert.ok(Math.abs(heardMs - refMs) < 200, `heard ${heardMs} ms of a ${refMs.toFixed(0)} ms prompt`);
    const last = (await status()).media.announcements?.recent.at(-1);
    assert.equal(last?.outcome, 'finished');
    await portsBack();
  });

  test('MUST stop the prompt on a DTMF digit mid-prompt (barge-in), report the digit, and send BYE', async () => {
    const peer = await udpPeer();
    const { done } = await callAnnouncement('*462', peer);
    const port = await servicePort();
    const tone = dtmfFrames();
    let toneAt = -1;
    // Silence, then the digit 1.5 s into the prompt, then silence again.
    const stop = stream(peer, port, 0xd4, (i) => {
      if (toneAt < 0 && peer.received.length >= 75) toneAt = i;
      return toneAt > 0 && i - toneAt < tone.length ? (tone[i - toneAt] ?? 0xff) : 0xff;
    });
    const r = await done;
    stop();
    await peer.close();
    assert.equal(r.exitCode, 0, `the gateway's BYE ends the call: ${describeSippResult(r)}`);
    const heard = toPcm(decodeReceived(peer).map((p) => p.payload));
    const ref = prompts.cmn.ref;
    const heardMs = (heard.samples.length / 8000) * 1000;
    const refMs = (ref.samples.length / 8000) * 1000;
    assert.ok(heardMs < refMs - 500, `stopped early: heard ${heardMs} ms of ${refMs.toFixed(0)} ms`);
    assert.ok(heardMs >= 1500, `heard ${heardMs} ms before the digit`);
    const part = { sampleRate: 8000, samples: ref.samples.subarray(0, heard.samples.length) };
    const c = crossCorrelate(part, heard, { maxLagSamples: 4000 });
    assert.ok(c.peak >= 0.9, `prompt NCC ${c.peak.toFixed(3)} at lag ${c.lagMs} ms`);
    const s = await status();
    const last = s.media.announcements?.recent.at(-1);
    assert.equal(last?.outcome, 'interrupted');
    assert.equal(last?.digit, '5');
    assert.ok(
      Math.abs((last?.positionMs ?? 0) - heardMs) <= 200,
      `position ${last?.positionMs} ms, heard ${heardMs}`,
    );
    assert.equal(s.media.engine.dtmf.recent.at(-1)?.digit, '5', 'the digit reached the digit path');
    await portsBack();
  });
});
