/**
 * Blind transfer carried out by the B2BUA (RFC 3515 REFER, RFC 5589 §6) against real peers: SIPp
 * plays the caller 1001, the transferor 1002 (answers, then REFERs the caller to another number,
 * or first holds it as desk phones do) and the targets (1003 answers, 1004 is busy, 1005 rings for
 * a while before answering); the media of every party is a UDP socket of this
 * test sending PCMU packets whose payload bytes name their sender, so what reaches whom is checked
 * bit-exact. With `media.recording: 'all'` the interaction's one WAV must hold the transferor's
 * audio and then the target's on its right channel.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ulawToLinear } from '../../../base/signal/g711.ts';
import { writeRtpHeader } from '../../src/media/rtp/rtp-packet.ts';
import { demoConfig } from '../../src/store/demo-config.ts';
import { freePort, freeUdpBlock } from '../peers/free-port.ts';
import { startGateway, type GatewayProcess } from '../peers/gateway-process.ts';
import {
  describeSippResult,
  registerDemoExtension,
  runSipp,
  sippBinary,
  startSipp,
  type SippResult,
  type SippServer,
} from '../peers/sipp.ts';
import { freeUdpRange, udpPeer, type UdpPeer } from '../media/udp-helpers.ts';

const skip = sippBinary() === null ? 'sip-tester (SIPp) is not installed' : false;
const RTP_PORTS = 40;
/** Payload bytes (µ-law) that name the sender of a packet. */
const MARK = { caller: 0x11, transferor: 0x22, target: 0x33 } as const;

interface EngineDump {
  ports: { free: number; capacity: number; closing: number };
  calls: Array<{ callKey: string; recording: string | null }>;
  recordings: { active: number; started: number; closed: number };
}
interface Cdr {
  legId: string;
  interactionId: string;
  direction: string;
  peer: string;
  status: number;
  answeredAt: string | null;
  hangupCause: string | null;
  extra?: { recording?: string };
}

/** How long the ringing target (1005) rings before it answers. */
const RING_MS = 2500;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One PCMU packet, payload `mark` repeated. */
function rtp(seq: number, mark: number, ssrc: number): Buffer {
  const b = Buffer.alloc(172);
  writeRtpHeader(b, { marker: false, payloadType: 0, sequenceNumber: seq, timestamp: seq * 160, ssrc });
  b.fill(mark, 12);
  return b;
}

/** A party talking: one packet every 20 ms to `toPort` (the gateway port its SDP answer named). */
function talk(from: UdpPeer, toPort: () => number | undefined, mark: number, ssrc: number): { stop(): void } {
  let seq = 100;
  const timer = setInterval(() => {
    const p = toPort();
    if (p !== undefined) from.send(rtp(++seq, mark, ssrc), p).catch(() => undefined);
  }, 20);
  return { stop: () => clearInterval(timer) };
}

/** The gateway's RTP port a party sends to: where the gateway's packets come from (symmetric RTP). */
const gatewayPortOf = (peer: UdpPeer): number | undefined => peer.received[0]?.from.port;

const marksOf = (peer: UdpPeer, from = 0): number[] =>
  peer.received.slice(from).map((r) => (r.msg.length > 12 ? (r.msg[12] ?? -1) : -1));

/** The right and left channels of the recorder's 16-bit stereo WAV. */
function readStereo(path: string): { left: Int16Array; right: Int16Array } {
  const buf = readFileSync(path);
  let offset = 12;
  let channels = 2;
  while (offset + 8 <= buf.length) {
    const id = buf.toString('latin1', offset, offset + 4);
    const size = Math.min(buf.readUInt32LE(offset + 4), buf.length - offset - 8);
    if (id === 'fmt ') channels = buf.readUInt16LE(offset + 10);
    if (id === 'data') {
      const frames = Math.floor(size / (2 * channels));
      const left = new Int16Array(frames);
      const right = new Int16Array(frames);
      for (let i = 0; i < frames; i++) {
        left[i] = buf.readInt16LE(offset + 8 + i * 2 * channels);
        right[i] = buf.readInt16LE(offset + 8 + i * 2 * channels + 2);
      }
      return { left, right };
    }
    offset += 8 + size + (size & 1);
  }
  throw new Error(`${path}: no data chunk`);
}

/** Index of the first run of 160 samples equal to `value` in `samples`, or -1. */
function firstRun(samples: Int16Array, value: number): number {
  let run = 0;
  for (let i = 0; i < samples.length; i++) {
    run = samples[i] === value ? run + 1 : 0;
    if (run >= 160) return i - 159;
  }
  return -1;
}

describe('blind transfer by the B2BUA (SIPp parties, test-owned RTP peers)', { skip }, () => {
  let gw: GatewayProcess;
  const dataDir = mkdtempSync(join(tmpdir(), 'edgeline-transfer-'));
  const remote = () => `127.0.0.1:${gw.sipPort}`;
  let transferorPort: number;
  let targetPort: number;
  let busyPort: number;
  let ringingPort: number;
  let target: SippServer | undefined;
  let busy: SippServer | undefined;
  let ringing: SippServer | undefined;
  let peers: { caller: UdpPeer; transferor: UdpPeer; target: UdpPeer };
  /** Arrival time (ms) of each packet in `peers[x].received`, same index. */
  const arrivals = { caller: [] as number[], transferor: [] as number[], target: [] as number[] };

  before(async () => {
    const cfg = demoConfig();
    cfg.media.recording = 'all';
    // The transferor may call extensions only: the outbound route (`9.`) needs `local`.
    const ext1002 = cfg.extensions.find((e) => e.number === '1002');
    if (ext1002) ext1002.permission = 'internal';
    writeFileSync(join(dataDir, 'config.json'), JSON.stringify(cfg, null, 2));
    const lo = await freeUdpRange(RTP_PORTS);
    gw = await startGateway({ dataDir, extraArgs: ['--rtp-ports', `${lo}-${lo + RTP_PORTS - 1}`] });
    peers = { caller: await udpPeer(), transferor: await udpPeer(), target: await udpPeer() };
    for (const [name, peer] of Object.entries(peers))
      peer.socket.on('message', () => arrivals[name as keyof typeof arrivals].push(Date.now()));
    transferorPort = await freePort('udp');
    targetPort = await freePort('udp');
    busyPort = await freePort('udp');
    ringingPort = await freePort('udp');
    await registerDemoExtension(remote(), transferorPort, '1002');
    await registerDemoExtension(remote(), ringingPort, '1005');
    await registerDemoExtension(remote(), targetPort, '1003');
    await registerDemoExtension(remote(), busyPort, '1004');
    target = await startSipp({
      scenario: 'uas-media-port.xml',
      localPort: targetPort,
      timeoutS: 120,
      keys: { rtp_port: String(peers.target.port) },
      extraArgs: ['-mp', String(await freeUdpBlock(4)), '-mi', '127.0.0.1'],
    });
    busy = await startSipp({ scenario: 'uas-486.xml', localPort: busyPort, timeoutS: 120 });
    // The ringing target shares the target's media socket: one target answers per test.
    ringing = await startSipp({
      scenario: 'uas-ring-then-answer.xml',
      localPort: ringingPort,
      timeoutS: 120,
      holdMs: RING_MS,
      keys: { rtp_port: String(peers.target.port) },
      extraArgs: ['-mp', String(await freeUdpBlock(4)), '-mi', '127.0.0.1'],
    });
  });

  after(async () => {
    await target?.stop(500).catch(() => undefined);
    await busy?.stop(500).catch(() => undefined);
    await ringing?.stop(500).catch(() => undefined);
    for (const p of Object.values(peers ?? {})) await p.close();
    await gw?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const engine = async (): Promise<EngineDump> =>
    (await gw.api<{ media: { engine: EngineDump } }>('GET', '/api/status')).body.media.engine;

  async function settled(): Promise<EngineDump> {
    let e = await engine();
    for (const end = Date.now() + 5000; Date.now() < end; await sleep(100)) {
      e = await engine();
      if (e.calls.length === 0 && e.ports.closing === 0 && e.recordings.active === 0) break;
    }
    return e;
  }

  /**
   * 1001 calls 1002 and talks for `holdMs`; 1002 answers, talks, and after `referAfterMs` REFERs
   * the caller to `referTo`. Every party's media is a socket of this test, talking throughout.
   */
  async function transferCall(
    referTo: string,
    referAfterMs: number,
    holdMs: number,
    scenarios = { transferor: 'uas-refer-media-port.xml', caller: 'uac-auth-media-port.xml' },
  ) {
    for (const p of Object.values(peers)) p.received.length = 0;
    for (const t of Object.values(arrivals)) t.length = 0;
    const transferor = await startSipp({
      scenario: scenarios.transferor,
      localPort: transferorPort,
      timeoutS: 60,
      holdMs: referAfterMs,
      cleanup: 'never',
      keys: { rtp_port: String(peers.transferor.port), refer_to: referTo },
      extraArgs: ['-mp', String(await freeUdpBlock(4)), '-mi', '127.0.0.1'],
    });
    // The caller's first packets go where the gateway's 200 said: until the gateway has sent it
    // anything, the port is read from the engine's dump.
    let callerGatewayPort: number | undefined;
    const talking = [
      talk(peers.caller, () => gatewayPortOf(peers.caller) ?? callerGatewayPort, MARK.caller, 0x1001),
      talk(peers.transferor, () => gatewayPortOf(peers.transferor), MARK.transferor, 0x1002),
      talk(peers.target, () => gatewayPortOf(peers.target), MARK.target, 0x1003),
    ];
    const done: Promise<SippResult> = runSipp({
      scenario: scenarios.caller,
      remote: remote(),
      localPort: await freePort('udp'),
      calls: 1,
      service: '1002',
      holdMs,
      auth: { username: '1001', password: 'demo1001' },
      keys: {
        caller: '1001',
        caller_domain: 'edgeline.local',
        rtp_port: String(peers.caller.port),
        rtp_proto: 'RTP/AVP',
        sdp_attr: 'label:1',
      },
      extraArgs: ['-mp', String(await freeUdpBlock(4)), '-mi', '127.0.0.1'],
      timeoutS: 40,
    });
    let interactionId: string | undefined;
    for (const end = Date.now() + 8000; Date.now() < end && !interactionId; await sleep(50)) {
      const c = (await engine()).calls[0];
      if (c) interactionId = c.callKey;
      const st = await gw.api<{ media: { engine: { calls: Array<{ a: { rtpPort: number } }> } } }>(
        'GET',
        '/api/status',
      );
      callerGatewayPort = st.body.media.engine.calls[0]?.a.rtpPort;
    }
    return { transferor, done, talking, interactionId };
  }

  async function finish(
    t: { diagnostic(s: string): void },
    run: Awaited<ReturnType<typeof transferCall>>,
  ): Promise<{ caller: SippResult; trace: string }> {
    const caller = await run.done;
    for (const x of run.talking) x.stop();
    const tr = await run.transferor.stop(2000);
    const tracePath = join(tr.workDir, 'messages.log');
    const trace = existsSync(tracePath) ? readFileSync(tracePath, 'utf8') : '';
    rmSync(tr.workDir, { recursive: true, force: true });
    if (caller.exitCode !== 0) {
      t.diagnostic(trace.slice(-4000));
      t.diagnostic(gw.output().slice(-3000));
    }
    assert.equal(caller.exitCode, 0, `caller: ${describeSippResult(caller)}`);
    return { caller, trace };
  }

  test('MUST answer REFER 202, NOTIFY 100, 180 then 200 sipfrag, join the caller to the target with one continuous stream, keep one interaction and one recording', async (t) => {
    const run = await transferCall('1003', 1500, 5000);
    assert.ok(run.interactionId, 'the call is anchored');
    // Before the transfer the caller hears the transferor; after it, the target.
    for (const end = Date.now() + 10_000; Date.now() < end; await sleep(100))
      if (marksOf(peers.caller).includes(MARK.target)) break;
    await sleep(1000);
    const { trace } = await finish(t, run);

    assert.match(trace, /SIP\/2\.0 202 Accepted/, 'REFER answered 202');
    const notifies = [...trace.matchAll(/NOTIFY [^\n]*\n[\s\S]*?\r?\n\r?\n(SIP\/2\.0 \d{3}[^\r\n]*)/g)].map(
      (m) => m[1],
    );
    assert.deepEqual(
      notifies,
      ['SIP/2.0 100 Trying', 'SIP/2.0 180 Ringing', 'SIP/2.0 200 OK'],
      'NOTIFY 100, the target ringing (RFC 3515 §2.4.5), then 200 sipfrag',
    );
    assert.match(trace, /Event: refer/i);
    assert.match(trace, /Subscription-State: terminated/i);
    assert.match(trace, /BYE sip:1002@/, 'the transferor is released by a BYE from the gateway');

    const heard = marksOf(peers.caller);
    const firstTarget = heard.indexOf(MARK.target);
    assert.ok(heard.indexOf(MARK.transferor) >= 0 && firstTarget > heard.indexOf(MARK.transferor));
    assert.ok(
      heard.slice(firstTarget).every((m) => m === MARK.target),
      'after the transfer only the target reaches the caller',
    );
    assert.ok(
      marksOf(peers.target).filter((m) => m === MARK.caller).length > 50,
      'the caller reaches the target',
    );
    // One stream towards the caller: one SSRC, sequence numbers without a gap across the switch.
    const ssrcs = new Set(peers.caller.received.map((r) => r.msg.readUInt32BE(8)));
    assert.equal(ssrcs.size, 1, `one SSRC towards the caller: ${[...ssrcs].join(',')}`);
    const seqs = peers.caller.received.map((r) => r.msg.readUInt16BE(2));
    const gaps = seqs.slice(1).filter((s, i) => ((s - (seqs[i] ?? 0)) & 0xffff) !== 1);
    assert.equal(gaps.length, 0, `continuous sequence numbers (${gaps.length} breaks)`);

    const e = await settled();
    assert.equal(e.ports.free, e.ports.capacity, 'every port back in the pool');
    let cdrs: Cdr[] = [];
    for (const end = Date.now() + 5000; Date.now() < end && cdrs.length < 3; await sleep(100))
      cdrs = (await gw.api<{ cdrs: Cdr[] }>('GET', `/api/cdrs?interaction=${run.interactionId}`)).body.cdrs;
    t.diagnostic(JSON.stringify(cdrs.map((c) => [c.direction, c.peer, c.status, c.hangupCause])));
    assert.ok(cdrs.every((c) => c.interactionId === run.interactionId));
    assert.deepEqual(
      cdrs.map((c) => c.peer).sort(),
      ['1001', '1002', '1003'],
      'a row per leg, one interaction',
    );
    assert.equal(cdrs.find((c) => c.peer === '1002')?.hangupCause, 'transferred');
    assert.ok(cdrs.find((c) => c.peer === '1003')?.answeredAt, 'the target leg answered');

    const file = cdrs.find((c) => c.direction === 'inbound')?.extra?.recording;
    assert.ok(file && existsSync(file), `the interaction's recording: ${file}`);
    assert.deepEqual(
      readdirSync(join(gw.dataDir, 'recordings')).filter((f) => f.endsWith('.wav')),
      [`${run.interactionId}.wav`],
      'one WAV for the interaction, none for the new leg',
    );
    const wav = readStereo(file);
    const left = firstRun(wav.left, ulawToLinear(MARK.caller));
    const before = firstRun(wav.right, ulawToLinear(MARK.transferor));
    const afterTransfer = firstRun(wav.right, ulawToLinear(MARK.target));
    t.diagnostic(`caller at ${left}, transferor at ${before}, target at ${afterTransfer} (samples)`);
    assert.ok(left >= 0, 'the caller on the left channel');
    assert.ok(
      before >= 0 && afterTransfer > before,
      "the right channel holds the transferor's audio, then the target's",
    );
  });

  test('MUST NOTIFY 486 sipfrag when the target is busy and leave the call as it was (RFC 5589 §6)', async (t) => {
    const run = await transferCall('1004', 1000, 4000);
    await sleep(2500);
    const mark = peers.caller.received.length;
    await sleep(500);
    const { trace } = await finish(t, run);
    const notifies = [...trace.matchAll(/NOTIFY [^\n]*\n[\s\S]*?\r?\n\r?\n(SIP\/2\.0 \d{3}[^\r\n]*)/g)].map(
      (m) => m[1],
    );
    assert.deepEqual(notifies, ['SIP/2.0 100 Trying', 'SIP/2.0 486 Busy Here']);
    assert.ok(
      marksOf(peers.caller, mark).filter((m) => m === MARK.transferor).length > 10,
      'the caller still hears the transferor',
    );
    assert.ok(marksOf(peers.transferor).filter((m) => m === MARK.caller).length > 50);
    assert.ok(!marksOf(peers.caller).includes(MARK.target));
    const e = await settled();
    assert.equal(e.ports.free, e.ports.capacity, 'every port back in the pool');
  });

  test('MUST refuse 403 a REFER to a number the transferor may not dial (no toll fraud through REFER)', async (t) => {
    const run = await transferCall('95551234', 1000, 3000);
    await sleep(2000);
    const mark = peers.caller.received.length;
    await sleep(300);
    const { trace } = await finish(t, run);
    assert.match(trace, /SIP\/2\.0 403 Forbidden/);
    assert.doesNotMatch(trace, /NOTIFY sip/);
    assert.ok(marksOf(peers.caller, mark).filter((m) => m === MARK.transferor).length > 5);
    const e = await settled();
    assert.equal(e.ports.free, e.ports.capacity, 'every port back in the pool');
  });

  test('MUST play music on hold to a transferee held before the REFER while the target rings, stop it at answer, and resume the transferee with our re-INVITE a=sendrecv (RFC 3264 §8.4, RFC 5589 §6)', async (t) => {
    const run = await transferCall('1005', 1500, 3000, {
      transferor: 'uas-hold-refer-media-port.xml',
      caller: 'uac-auth-held-media-port.xml',
    });
    assert.ok(run.interactionId, 'the call is anchored');
    for (const end = Date.now() + 15_000; Date.now() < end; await sleep(100))
      if (marksOf(peers.caller).includes(MARK.target)) break;
    await sleep(1500);
    const { trace } = await finish(t, run);

    const notifies = [...trace.matchAll(/NOTIFY [^\n]*\n[\s\S]*?\r?\n\r?\n(SIP\/2\.0 \d{3}[^\r\n]*)/g)].map(
      (m) => m[1],
    );
    assert.deepEqual(notifies, ['SIP/2.0 100 Trying', 'SIP/2.0 180 Ringing', 'SIP/2.0 200 OK']);
    assert.match(trace, /BYE sip:1002@/, 'the transferor is released by a BYE from the gateway');

    const got = peers.caller.received.map((r) => r.msg.subarray(12));
    const at = arrivals.caller;
    const is = (p: Buffer, mark: number) => p.length === 160 && p.every((x) => x === mark);
    const firstTarget = got.findIndex((p) => is(p, MARK.target));
    const lastTransferor = got.findLastIndex((p) => is(p, MARK.transferor));
    assert.ok(lastTransferor >= 0 && firstTarget > lastTransferor, 'transferor, then the target');
    const answeredAt = at[firstTarget] ?? 0;
    // The target rang RING_MS before answering: what the caller got in that window is the music.
    const ringingWindow = got.filter((_, i) => {
      const ts = at[i] ?? 0;
      return ts >= answeredAt - (RING_MS - 500) && ts < answeredAt - 200;
    });
    t.diagnostic(`${ringingWindow.length} packets to the caller while the target rang`);
    assert.ok(
      ringingWindow.length >= 60,
      `the caller is sent audio while the target rings (${ringingWindow.length})`,
    );
    assert.ok(
      ringingWindow.every((p) => !is(p, MARK.transferor) && !is(p, MARK.target) && !is(p, MARK.caller)),
      'while the target rings the caller hears neither the transferor nor the target',
    );
    const rms = (p: Buffer) => Math.sqrt(p.reduce((sum, x) => sum + ulawToLinear(x) ** 2, 0) / p.length);
    const loud = ringingWindow.filter((p) => rms(p) > 300).length;
    assert.ok(
      loud >= ringingWindow.length / 2,
      `the music is not silence (${loud}/${ringingWindow.length} frames)`,
    );
    // Once the target answered the music stops: only the target's audio, bit-exact.
    const afterAnswer = got.slice(firstTarget);
    assert.ok(afterAnswer.length > 50, `the caller hears the target (${afterAnswer.length} packets)`);
    assert.ok(
      afterAnswer.every((p) => is(p, MARK.target)),
      `after the answer only the target reaches the caller (${afterAnswer.filter((p) => !is(p, MARK.target)).length} others)`,
    );
    const targetHeard = peers.target.received.map((r) => r.msg.subarray(12));
    assert.ok(
      targetHeard.length > 50 && targetHeard.every((p) => is(p, MARK.caller)),
      'the target hears the caller, bit-exact',
    );

    const e = await settled();
    assert.equal(e.ports.free, e.ports.capacity, 'every port back in the pool');
    let cdrs: Cdr[] = [];
    for (const end = Date.now() + 5000; Date.now() < end && cdrs.length < 3; await sleep(100))
      cdrs = (await gw.api<{ cdrs: Cdr[] }>('GET', `/api/cdrs?interaction=${run.interactionId}`)).body.cdrs;
    assert.equal(cdrs.find((c) => c.peer === '1002')?.hangupCause, 'transferred');
    assert.ok(cdrs.find((c) => c.peer === '1005')?.answeredAt, 'the target leg answered');
  });

  test('MUST carry out a REFER from the calling party: the callee is joined to the target, the caller gets NOTIFY 100, 180, 200 and then our BYE', async (t) => {
    for (const p of Object.values(peers)) p.received.length = 0;
    // Here 1002 is the transferee: it talks with its own mark, and hangs up at the end.
    const transferee = await startSipp({
      scenario: 'uas-bye-media-port.xml',
      localPort: transferorPort,
      timeoutS: 60,
      holdMs: 6000,
      keys: { rtp_port: String(peers.transferor.port) },
      extraArgs: ['-mp', String(await freeUdpBlock(4)), '-mi', '127.0.0.1'],
    });
    let callerGatewayPort: number | undefined;
    const talking = [
      talk(peers.caller, () => gatewayPortOf(peers.caller) ?? callerGatewayPort, MARK.caller, 0x1001),
      talk(peers.transferor, () => gatewayPortOf(peers.transferor), MARK.transferor, 0x1002),
      talk(peers.target, () => gatewayPortOf(peers.target), MARK.target, 0x1003),
    ];
    const done = runSipp({
      scenario: 'uac-auth-refer-media-port.xml',
      remote: remote(),
      localPort: await freePort('udp'),
      calls: 1,
      service: '1002',
      holdMs: 1500,
      cleanup: 'never',
      auth: { username: '1001', password: 'demo1001' },
      keys: {
        caller: '1001',
        caller_domain: 'edgeline.local',
        rtp_port: String(peers.caller.port),
        rtp_proto: 'RTP/AVP',
        sdp_attr: 'label:1',
        refer_to: '1003',
      },
      extraArgs: ['-mp', String(await freeUdpBlock(4)), '-mi', '127.0.0.1'],
      timeoutS: 40,
    });
    let interactionId: string | undefined;
    for (const end = Date.now() + 8000; Date.now() < end && !interactionId; await sleep(50)) {
      const st = await gw.api<{
        media: { engine: { calls: Array<{ callKey: string; a: { rtpPort: number } }> } };
      }>('GET', '/api/status');
      interactionId = st.body.media.engine.calls[0]?.callKey;
      callerGatewayPort = st.body.media.engine.calls[0]?.a.rtpPort;
    }
    const caller = await done;
    for (const end = Date.now() + 10_000; Date.now() < end; await sleep(100))
      if (marksOf(peers.transferor).includes(MARK.target)) break;
    // The transferee hangs up 6 s after it answered.
    const calleeResult = await transferee.stop(8000);
    for (const x of talking) x.stop();
    const tracePath = caller.messageTrace ?? join(caller.workDir, 'messages.log');
    const trace = existsSync(tracePath) ? readFileSync(tracePath, 'utf8') : '';
    rmSync(caller.workDir, { recursive: true, force: true });
    rmSync(calleeResult.workDir, { recursive: true, force: true });
    if (caller.exitCode !== 0) t.diagnostic(gw.output().slice(-3000));
    assert.equal(caller.exitCode, 0, `caller: ${describeSippResult(caller)}`);
    assert.equal(calleeResult.stats?.successful, 1, `transferee: ${describeSippResult(calleeResult)}`);

    assert.match(trace, /SIP\/2\.0 202 Accepted/, 'REFER answered 202');
    const notifies = [...trace.matchAll(/NOTIFY [^\n]*\n[\s\S]*?\r?\n\r?\n(SIP\/2\.0 \d{3}[^\r\n]*)/g)].map(
      (m) => m[1],
    );
    assert.deepEqual(notifies, ['SIP/2.0 100 Trying', 'SIP/2.0 180 Ringing', 'SIP/2.0 200 OK']);
    assert.match(trace, /BYE sip:1001@/, 'the transferor (the caller) is released by a BYE from the gateway');

    const is = (p: Buffer, mark: number) => p.length === 160 && p.every((x) => x === mark);
    const heard = peers.transferor.received.map((r) => r.msg.subarray(12));
    const firstTarget = heard.findIndex((p) => is(p, MARK.target));
    assert.ok(
      heard.some((p) => is(p, MARK.caller)),
      'the callee heard the caller before the transfer',
    );
    assert.ok(firstTarget > 0 && heard.length - firstTarget > 50, 'then the target');
    assert.ok(
      heard.slice(firstTarget).every((p) => is(p, MARK.target)),
      'after the transfer only the target reaches the callee, bit-exact',
    );
    const targetHeard = peers.target.received.map((r) => r.msg.subarray(12));
    assert.ok(
      targetHeard.length > 50 && targetHeard.every((p) => is(p, MARK.transferor)),
      'the target hears the callee, bit-exact',
    );

    const e = await settled();
    assert.equal(e.ports.free, e.ports.capacity, 'every port back in the pool');
    let cdrs: Cdr[] = [];
    for (const end = Date.now() + 5000; Date.now() < end && cdrs.length < 3; await sleep(100))
      cdrs = (await gw.api<{ cdrs: Cdr[] }>('GET', `/api/cdrs?interaction=${interactionId}`)).body.cdrs;
    t.diagnostic(JSON.stringify(cdrs.map((c) => [c.direction, c.peer, c.status, c.hangupCause])));
    assert.deepEqual(
      cdrs.map((c) => c.peer).sort(),
      ['1001', '1002', '1003'],
      'a row per leg, one interaction',
    );
    assert.equal(cdrs.find((c) => c.peer === '1001')?.hangupCause, 'transferred');
    assert.ok(cdrs.find((c) => c.peer === '1003')?.answeredAt, 'the target leg answered');
  });
});
