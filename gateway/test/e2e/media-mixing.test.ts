/**
 * Conference rooms and supervisor monitoring through the real gateway: SIPp places the calls
 * (digest, 200, ACK, BYE), UDP RTP peers in this process play each party's media (latched by
 * symmetric RTP), each sending a distinct tone; what each hears is measured by Goertzel power.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { alawToLinear, linearToAlaw, linearToUlaw, ulawToLinear } from '../../../base/signal/g711.ts';
import { parseRtp, writeRtpHeader } from '../../src/media/rtp/rtp-packet.ts';
import { demoConfig } from '../../src/store/demo-config.ts';
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
import { goertzelPower } from '../../../base/test/signal/tone-analysis.ts';
import { freeUdpRange, udpPeer, type UdpPeer } from '../media/udp-helpers.ts';

const skip = sippBinary() === null ? 'sip-tester (SIPp) is not installed' : false;
const RTP_PORTS = 40;
const TONES = [400, 700, 1100] as const;
const AMPLITUDE = 4000;

interface MixSession {
  callKey: string;
  service: string;
  localPort: number;
  plan: { law: 'pcmu' | 'pcma'; telephoneEventPayloadType?: number };
}
interface Status {
  media: {
    mix: { sessions: MixSession[] };
    engine: {
      ports: { inUse: number[]; free: number; capacity: number; closing: number };
      workers: Array<{ index: number; legs: number }>;
      calls: Array<{ callKey: string; a: { rtpPort: number }; b: { rtpPort: number } }>;
      mix: { monitors: Array<{ mode: string }>; conferences: Array<{ worker: number; members: string[] }> };
    };
  };
}

/** A party's media side: sends a tone (or digits) on its own stream and records what it hears. */
class Party {
  private seq = Math.floor(Math.random() * 1000);
  private ts = 1000;
  private phase = 0;
  private timer: NodeJS.Timeout | undefined;
  private digitTicks = 0;
  private digit = 0;
  constructor(
    readonly peer: UdpPeer,
    private readonly law: 'pcmu' | 'pcma',
    private readonly freqHz: number,
    private toPort: number,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.send(), 20);
  }

  /** RFC 4733 §2.5.1: one event, start + updates, then the end packet three times, one timestamp. */
  pressDigit(d: number): void {
    this.digit = d;
    this.digitTicks = 6;
  }

  private send(): void {
    const b = Buffer.alloc(172);
    if (this.digitTicks > 0) {
      const n = 7 - this.digitTicks;
      const end = this.digitTicks <= 3;
      const p = Buffer.alloc(16);
      writeRtpHeader(p, {
        marker: n === 1,
        payloadType: 101,
        sequenceNumber: this.seq++ & 0xffff,
        timestamp: this.ts,
        ssrc: 0x5151,
      });
      p[12] = this.digit;
      p[13] = (end ? 0x80 : 0) | 10;
      p.writeUInt16BE(Math.min(n, 3) * 160, 14);
      void this.peer.send(p, this.toPort);
      this.digitTicks--;
      if (this.digitTicks === 0) this.ts += 6 * 160;
      return;
    }
    writeRtpHeader(b, {
      marker: false,
      payloadType: this.law === 'pcmu' ? 0 : 8,
      sequenceNumber: this.seq++ & 0xffff,
      timestamp: this.ts,
      ssrc: 0x5151,
    });
    this.ts += 160;
    for (let i = 0; i < 160; i++) {
      const s = Math.round(AMPLITUDE * Math.sin(this.phase));
      this.phase += (2 * Math.PI * this.freqHz) / 8000;
      b[12 + i] = this.law === 'pcmu' ? linearToUlaw(s) : linearToAlaw(s);
    }
    void this.peer.send(b, this.toPort);
  }

  /** Mark where the next measurement starts. */
  mark(): number {
    return this.peer.received.length;
  }

  /** Amplitude of each tone in what arrived since `from` (G.711 by payload type). */
  heard(from: number): Record<number, number> {
    const samples: number[] = [];
    for (const r of this.peer.received.slice(from)) {
      const p = parseRtp(r.msg);
      if (!p.ok || (p.value.payloadType !== 0 && p.value.payloadType !== 8)) continue;
      const dec = p.value.payloadType === 0 ? ulawToLinear : alawToLinear;
      for (let i = 0; i < p.value.payloadLength; i++)
        samples.push(dec(r.msg[p.value.payloadOffset + i] ?? 0));
    }
    const out: Record<number, number> = {};
    for (const f of TONES)
      out[f] = samples.length === 0 ? 0 : (2 * Math.sqrt(goertzelPower(samples, 8000, f))) / samples.length;
    return out;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.peer.close();
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Heard: within 6 dB of the sent level. Not heard: 30 dB below it. */
function assertHears(who: string, heard: Record<number, number>, yes: number[], no: number[]): void {
  for (const f of yes)
    assert.ok((heard[f] ?? 0) > AMPLITUDE / 2, `${who} should hear ${f} Hz: ${JSON.stringify(heard)}`);
  for (const f of no)
    assert.ok((heard[f] ?? 0) < AMPLITUDE / 30, `${who} should not hear ${f} Hz: ${JSON.stringify(heard)}`);
}

describe('conference rooms and supervisor monitoring (SIPp + RTP peers)', { skip }, () => {
  let gw: GatewayProcess;
  const dataDir = mkdtempSync(join(tmpdir(), 'edgeline-mixing-'));

  before(async () => {
    const cfg = demoConfig();
    cfg.services.push({ number: '*51', type: 'conference', maxParties: 2 });
    writeFileSync(join(dataDir, 'config.json'), JSON.stringify(cfg, null, 2));
    const lo = await freeUdpRange(RTP_PORTS);
    gw = await startGateway({ dataDir, extraArgs: ['--rtp-ports', `${lo}-${lo + RTP_PORTS - 1}`] });
  });

  after(async () => {
    await gw?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const status = async (): Promise<Status['media']> =>
    (await gw.api<Status>('GET', '/api/status')).body.media;

  async function dial(
    number: string,
    user: string,
    holdMs: number,
    scenario = 'uac-auth.xml',
  ): Promise<{ done: Promise<SippResult> }> {
    // Wrapped: awaiting dial() must not wait for the call to end.
    const done = runSipp({
      scenario,
      remote: `127.0.0.1:${gw.sipPort}`,
      localPort: await freePort('udp'),
      calls: 1,
      service: number,
      holdMs,
      auth: { username: user, password: `demo${user}` },
      keys: { caller: user, caller_domain: 'edgeline.local' },
      extraArgs: ['-mp', String(await freeUdpBlock(4)), '-mi', '127.0.0.1'],
      timeoutS: 30,
    });
    return { done };
  }

  /** The mix session that appears next (not in `known`). */
  async function nextSession(known: Set<string>): Promise<MixSession> {
    let found: MixSession | undefined;
    const deadline = Date.now() + 5000;
    while (!found && Date.now() < deadline) {
      found = (await status()).mix.sessions.find((s) => !known.has(s.callKey));
      if (!found) await sleep(50);
    }
    assert.ok(found, `no new mix session: ${gw.output().slice(-2000)}`);
    known.add(found.callKey);
    return found;
  }

  async function portsBack(): Promise<void> {
    const ok = await waitUntilAsync(async () => {
      const m = await status();
      return m.engine.ports.inUse.length === 0 && m.engine.ports.closing === 0 && m.mix.sessions.length === 0;
    }, 5000);
    const m = await status();
    assert.ok(ok, `ports still in use: ${JSON.stringify(m.engine.ports)}`);
    assert.equal(m.engine.ports.free, m.engine.ports.capacity);
  }

  test('three parties (two µ-law, one A-law), one tone each: each hears the other two and not its own; all in one worker; ports return', async () => {
    const known = new Set<string>();
    const laws = ['pcmu', 'pcma', 'pcmu'] as const;
    const calls: Array<{ done: Promise<SippResult> }> = [];
    const parties: Party[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        calls.push(
          await dial(
            '*50',
            String(1001 + i),
            5000,
            laws[i] === 'pcma' ? 'uac-auth-pcma.xml' : 'uac-auth.xml',
          ),
        );
        const s = await nextSession(known);
        assert.equal(s.plan.law, laws[i]);
        const p = new Party(await udpPeer(), laws[i] ?? 'pcmu', TONES[i] ?? 0, s.localPort);
        parties.push(p);
        p.start();
      }
      const m = await status();
      const room = m.engine.mix.conferences[0];
      assert.equal(room?.members.length, 3);
      // Every member's leg in the room's worker.
      assert.equal(
        m.engine.workers.find((w) => w.index === room?.worker)?.legs,
        3,
        JSON.stringify(m.engine.workers),
      );
      await sleep(1000);
      const marks = parties.map((p) => p.mark());
      await sleep(1500);
      parties.forEach((p, i) => {
        const own = TONES[i] ?? 0;
        assertHears(
          `party ${i + 1} (${laws[i]})`,
          p.heard(marks[i] ?? 0),
          TONES.filter((f) => f !== own),
          [own],
        );
      });
    } finally {
      for (const p of parties) await p.stop();
    }
    for (const c of calls) {
      const r = await c.done;
      assert.equal(r.exitCode, 0, describeSippResult(r));
    }
    await portsBack();
    assert.equal((await status()).engine.mix.conferences.length, 0, 'the last one out closed the room');
  });

  test('a caller beyond maxParties gets 486 Busy Here; the members stay connected; the 9th caller of an 8-party room too', async () => {
    const members = [await dial('*51', '1001', 3000), await dial('*51', '1002', 3000)];
    assert.ok(await waitUntilAsync(async () => (await status()).mix.sessions.length === 2, 5000));
    const third = await (await dial('*51', '1003', 0, 'uac-auth-expect-486.xml')).done;
    assert.equal(third.exitCode, 0, describeSippResult(third));
    assert.equal((await status()).mix.sessions.length, 2, 'both members still in the room');
    for (const m of members) assert.equal((await m.done).exitCode, 0);
    await portsBack();

    // The demo room holds 8: eight callers join, the ninth is refused.
    const eight = runSipp({
      scenario: 'uac-auth.xml',
      remote: `127.0.0.1:${gw.sipPort}`,
      localPort: await freePort('udp'),
      calls: 8,
      rate: 8,
      ratePeriodMs: 200,
      maxConcurrent: 8,
      service: '*50',
      holdMs: 4000,
      auth: { username: '1004', password: 'demo1004' },
      keys: { caller: '1004', caller_domain: 'edgeline.local' },
      extraArgs: ['-mp', String(await freeUdpBlock(4)), '-mi', '127.0.0.1'],
      timeoutS: 30,
    });
    assert.ok(
      await waitUntilAsync(async () => (await status()).mix.sessions.length === 8, 5000),
      'eight members joined',
    );
    const ninth = await (await dial('*50', '1005', 0, 'uac-auth-expect-486.xml')).done;
    assert.equal(ninth.exitCode, 0, describeSippResult(ninth));
    const r = await eight;
    assert.equal(r.exitCode, 0, describeSippResult(r));
    await portsBack();
  });

  test('monitor codes: 403 for an extension not allowed to monitor, 404 when the extension is in no call', async () => {
    const forbidden = await (await dial('*451002', '1001', 0, 'uac-auth-expect-403.xml')).done;
    assert.equal(forbidden.exitCode, 0, describeSippResult(forbidden));
    const idle = await (await dial('*451003', '1008', 0, 'uac-auth-expect-404.xml')).done;
    assert.equal(idle.exitCode, 0, describeSippResult(idle));
    await portsBack();
  });

  test('supervisor on a bridged call: listen hears both, nobody hears it; 5 whisper reaches the agent only; 6 barge reaches both; after hang-up the call relays both ways; the call ending hangs the supervisor up', async () => {
    const remote = `127.0.0.1:${gw.sipPort}`;
    const calleePort = await freePort('udp');
    await registerDemoExtension(remote, calleePort, '1002');
    const callee = await startSipp({
      scenario: 'uas.xml',
      localPort: calleePort,
      timeoutS: 60,
      extraArgs: ['-mp', String(await freeUdpBlock(4)), '-mi', '127.0.0.1'],
    });
    const parties: Party[] = [];
    try {
      const bridged = await dial('1002', '1001', 13000);
      let call: Status['media']['engine']['calls'][number] | undefined;
      for (const end = Date.now() + 5000; !call && Date.now() < end; await sleep(50))
        call = (await status()).engine.calls[0];
      assert.ok(call, `no anchored call: ${gw.output().slice(-2000)}`);
      // Leg a faces the caller (1001), leg b the agent (1002).
      const caller = new Party(await udpPeer(), 'pcmu', 400, call.a.rtpPort);
      const agent = new Party(await udpPeer(), 'pcmu', 700, call.b.rtpPort);
      parties.push(caller, agent);
      caller.start();
      agent.start();
      await sleep(500);

      const known = new Set<string>();
      const sup1 = await dial('*451002', '1008', 6000);
      const s = await nextSession(known);
      const supervisor = new Party(await udpPeer(), 'pcmu', 1100, s.localPort);
      const w = (await status()).engine.workers;
      assert.ok(
        w.some((x) => x.legs === 3),
        `supervisor's leg in the call's worker: ${JSON.stringify(w)}`,
      );
      parties.push(supervisor);
      supervisor.start();
      const measure = async (): Promise<Record<string, Record<number, number>>> => {
        await sleep(500);
        const m = [caller.mark(), agent.mark(), supervisor.mark()];
        await sleep(1000);
        return {
          caller: caller.heard(m[0] ?? 0),
          agent: agent.heard(m[1] ?? 0),
          supervisor: supervisor.heard(m[2] ?? 0),
        };
      };
      let h = await measure();
      if (process.env.MIX_TRACE) console.log('listen', JSON.stringify(h));
      assertHears('supervisor (listen)', h.supervisor ?? {}, [400, 700], [1100]);
      assertHears('caller (listen)', h.caller ?? {}, [700], [400, 1100]);
      assertHears('agent (listen)', h.agent ?? {}, [400], [700, 1100]);

      supervisor.pressDigit(5);
      h = await measure();
      assert.equal((await status()).engine.mix.monitors[0]?.mode, 'whisper');
      assertHears('agent (whisper)', h.agent ?? {}, [400, 1100], [700]);
      assertHears('caller (whisper)', h.caller ?? {}, [700], [400, 1100]);
      assertHears('supervisor (whisper)', h.supervisor ?? {}, [400, 700], [1100]);

      supervisor.pressDigit(6);
      h = await measure();
      assertHears('agent (barge)', h.agent ?? {}, [400, 1100], [700]);
      assertHears('caller (barge)', h.caller ?? {}, [700, 1100], [400]);

      const r1 = await sup1.done;
      assert.equal(r1.exitCode, 0, describeSippResult(r1));
      // Back to the direct relay: each party hears the other, nothing else.
      h = await measure();
      assertHears('caller (after)', h.caller ?? {}, [700], [400, 1100]);
      assertHears('agent (after)', h.agent ?? {}, [400], [700, 1100]);

      // A second supervisor is still on when the call ends: the gateway sends it BYE.
      const sup2 = await dial('*471002', '1008', 0, 'uac-auth-callee-bye.xml');
      await nextSession(known);
      const r = await bridged.done;
      assert.equal(r.exitCode, 0, describeSippResult(r));
      const r2 = await sup2.done;
      assert.equal(r2.exitCode, 0, describeSippResult(r2));
    } finally {
      for (const p of parties) await p.stop();
      await callee.stop(500).catch(() => undefined);
    }
    await portsBack();
  });
});

async function waitUntilAsync(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}
