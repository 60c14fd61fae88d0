/**
 * Bad input on the media path of the real gateway (issue 3, "Bad input": truncated, oversized,
 * wrong-version RTP and RTCP, garbage on media ports, a peer that stops sending, an SDP with no
 * common codec, an SDP that lies about ports — counted and handled, never a crash, never a stuck
 * port), and SRTP with a wrong key ("packets failing authentication are dropped and counted").
 *
 * SIPp plays the caller (1001) and the callee (1002) for signalling; their SDP names media ports
 * that are sockets of this test, so the test plays both media peers and can lie, forge and stop.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { writeRtpHeader } from '../../src/media/rtp/rtp-packet.ts';
import { generateKeySalt, splitKeySalt } from '../../src/media/srtp/sdes.ts';
import { SrtpContext } from '../../src/media/srtp/srtp.ts';
import { demoConfig } from '../../src/store/demo-config.ts';
import { freePort, freeUdpBlock } from '../peers/free-port.ts';
import { startGateway, type GatewayProcess } from '../peers/gateway-process.ts';
import { metricSum } from '../peers/raw-sip.ts';
import {
  describeSippResult,
  runSipp,
  sippBinary,
  startSipp,
  type SippResult,
  type SippServer,
  registerDemoExtension,
} from '../peers/sipp.ts';
import { freeUdpRange, udpPeer, waitUntil, type UdpPeer } from '../media/udp-helpers.ts';

const skip = sippBinary() === null ? 'sip-tester (SIPp) is not installed' : false;
const RTP_PORTS = 20;
const DEAD_MEDIA_S = 3;
const SUITE = 'AES_CM_128_HMAC_SHA1_80';

interface LegDump {
  rtpPort: number;
  rx?: number;
  latched: { address: string; port: number } | null;
  dropped?: Record<string, number>;
}
interface EngineDump {
  ports: { inUse: number[]; free: number; capacity: number; closing: number };
  calls: Array<{ callKey: string; a: LegDump; b: LegDump }>;
  counters: { rejected488: number; deadMedia: number; srtpDropped: Record<string, number> };
}
interface Cdr {
  direction: string;
  hangupCause: string | null;
  hangupBy: string | null;
}

/** A PCMU packet whose payload is `mark` repeated, so the far side can tell whose it is. */
function rtp(seq: number, mark: number, ssrc: number, room = 0): Buffer {
  const b = Buffer.alloc(172 + room);
  writeRtpHeader(b, { marker: false, payloadType: 0, sequenceNumber: seq, timestamp: seq * 160, ssrc });
  b.fill(mark, 12, 172);
  return b.subarray(0, 172 + room);
}

/** The same packet protected with `ctx` (RFC 3711), tag appended. */
function srtp(ctx: SrtpContext, seq: number, mark: number, ssrc: number): Buffer {
  const b = rtp(seq, mark, ssrc, ctx.rtpOverhead);
  const n = ctx.protect(b, 172);
  return b.subarray(0, n);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A peer talking: one packet every 20 ms from `from` to `toPort` (protected with `ctx` when given),
 * so that dead-media supervision (a few seconds in this gateway) never ends the call under test.
 */
function talk(
  from: UdpPeer,
  toPort: number,
  mark: number,
  ssrc: number,
  ctx?: SrtpContext,
): { stop(): void } {
  let seq = 0;
  const timer = setInterval(() => {
    seq++;
    const packet = ctx ? srtp(ctx, seq, mark, ssrc) : rtp(seq, mark, ssrc);
    from.send(packet, toPort).catch(() => undefined);
  }, 20);
  return { stop: () => clearInterval(timer) };
}

/** Every received packet carries `mark` as payload (it came from the one source expected). */
const allMarked = (got: UdpPeer['received'], mark: number): boolean =>
  got.every((r) => r.msg.length === 172 && r.msg.subarray(12).every((x) => x === mark));

describe(
  'bad input on the media path of the real gateway (SIPp signalling, test-owned RTP peers)',
  { skip },
  () => {
    let gw: GatewayProcess;
    let callee: SippServer | undefined;
    /** The callee's media socket (the UAS's SDP names it). */
    let b: UdpPeer;
    let rtpLo: number;
    const dataDir = mkdtempSync(join(tmpdir(), 'edgeline-bad-media-'));
    const remote = () => `127.0.0.1:${gw.sipPort}`;

    before(async () => {
      const cfg = demoConfig();
      cfg.media.deadMediaTimeoutS = DEAD_MEDIA_S;
      writeFileSync(join(dataDir, 'config.json'), JSON.stringify(cfg, null, 2));
      rtpLo = await freeUdpRange(RTP_PORTS);
      gw = await startGateway({ dataDir, extraArgs: ['--rtp-ports', `${rtpLo}-${rtpLo + RTP_PORTS - 1}`] });
      b = await udpPeer();
      const calleePort = await freePort('udp');
      await registerDemoExtension(remote(), calleePort, '1002');
      callee = await startSipp({
        scenario: 'uas-media-port.xml',
        localPort: calleePort,
        timeoutS: 120,
        keys: { rtp_port: String(b.port) },
        extraArgs: ['-mp', String(await freeUdpBlock(4)), '-mi', '127.0.0.1'],
      });
    });

    after(async () => {
      await b?.close();
      await callee?.stop(500).catch(() => undefined);
      await gw?.stop();
      rmSync(dataDir, { recursive: true, force: true });
    });

    const engine = async (): Promise<EngineDump> =>
      (await gw.api<{ media: { engine: EngineDump } }>('GET', '/api/status')).body.media.engine;
    const metrics = async (): Promise<string> =>
      fetch(`http://127.0.0.1:${gw.httpPort}/metrics`).then((r) => r.text());

    /** 1001 calls 1002; the caller's SDP names `rtpPort`. Resolves with SIPp's result when it ends. */
    async function call(o: {
      rtpPort: number;
      holdMs?: number;
      proto?: 'RTP/AVP' | 'RTP/SAVP';
      attr?: string;
      scenario?: string;
    }): Promise<{ done: Promise<SippResult> }> {
      const localPort = await freePort('udp');
      const mediaPort = await freePort('udp');
      // Wrapped: awaiting a promise of a promise would wait for the whole call.
      const done = runSipp({
        scenario: o.scenario ?? 'uac-auth-media-port.xml',
        remote: remote(),
        localPort,
        calls: 1,
        service: '1002',
        holdMs: o.holdMs ?? 4000,
        auth: { username: '1001', password: 'demo1001' },
        keys: {
          caller: '1001',
          caller_domain: 'edgeline.local',
          rtp_port: String(o.rtpPort),
          rtp_proto: o.proto ?? 'RTP/AVP',
          sdp_attr: o.attr ?? 'label:1',
        },
        extraArgs: ['-mp', String(mediaPort), '-mi', '127.0.0.1'],
        timeoutS: 30,
      });
      return { done };
    }

    /** The anchored call, once the gateway has it. */
    async function anchored(done: Promise<SippResult>): Promise<EngineDump['calls'][number]> {
      let ended: SippResult | undefined;
      void done.then((r) => (ended = r));
      for (const end = Date.now() + 8000; Date.now() < end && !ended; await sleep(50)) {
        const c = (await engine()).calls[0];
        if (c) return c;
      }
      const r = ended ?? (await done);
      assert.fail(
        `no anchored call: ${describeSippResult(r)}\n${r.stdoutTail.slice(-1500)}\n${gw.output().slice(-2000)}`,
      );
    }

    /** Polls the live dump (refreshed by the workers every second) until `check` holds on the call. */
    async function until(
      check: (c: EngineDump['calls'][number]) => boolean,
      what: string,
    ): Promise<EngineDump['calls'][number]> {
      let last: EngineDump['calls'][number] | undefined;
      for (const end = Date.now() + 4000; Date.now() < end; await sleep(100)) {
        last = (await engine()).calls[0];
        if (last && check(last)) return last;
      }
      assert.fail(`${what}: ${JSON.stringify(last)}`);
    }

    /** Issue 3: "never a stuck port (every port returns to the pool when its call ends)". */
    async function assertAllPortsFree(): Promise<void> {
      let e = await engine();
      for (const end = Date.now() + 3000; Date.now() < end; await sleep(50)) {
        e = await engine();
        if (e.calls.length === 0 && e.ports.closing === 0 && e.ports.inUse.length === 0) break;
      }
      assert.equal(e.calls.length, 0, 'no call left in the engine');
      assert.deepEqual(e.ports.inUse, [], 'no port left in use');
      assert.equal(e.ports.free, e.ports.capacity, 'every port pair back in the pool');
    }

    test('MUST drop and count (reason "auth") SRTP protected with a key other than the one offered, forward nothing of it, and carry SRTP with the right key', async (t) => {
      const a = await udpPeer();
      const talkers: Array<{ stop(): void }> = [];
      try {
        b.received.length = 0;
        const offered = generateKeySalt(SUITE);
        const { done } = await call({
          rtpPort: a.port,
          proto: 'RTP/SAVP',
          attr: `crypto:1 ${SUITE} inline:${offered.toString('base64')}`,
        });
        const c = await anchored(done);
        const before = metricSum(await metrics(), 'edgeline_media_srtp_dropped_total', /reason="auth"/);
        const wrong = splitKeySalt(SUITE, generateKeySalt(SUITE));
        const forger = new SrtpContext(SUITE, wrong.masterKey, wrong.masterSalt);
        for (let i = 1; i <= 20; i++) await a.send(srtp(forger, i, 0x11, 0x5eed), c.a.rtpPort);
        // The phone itself, with the key its SDP offered, and the callee answering.
        const keys = splitKeySalt(SUITE, offered);
        talkers.push(
          talk(a, c.a.rtpPort, 0x22, 0xcafe, new SrtpContext(SUITE, keys.masterKey, keys.masterSalt)),
        );
        talkers.push(talk(b, c.b.rtpPort, 0x23, 0xbeef));
        let after = before;
        for (const end = Date.now() + 4000; after < before + 20 && Date.now() < end; await sleep(100))
          after = metricSum(await metrics(), 'edgeline_media_srtp_dropped_total', /reason="auth"/);
        t.diagnostic(`edgeline_media_srtp_dropped_total{reason="auth"} ${before} → ${after}`);
        assert.equal(after - before, 20, 'each forged packet counted once');
        const live = await until(
          (x) => x.a.latched !== null && (x.a.rx ?? 0) > 0,
          'the authentic stream latched the leg',
        );
        assert.equal(live.a.latched?.port, a.port);
        assert.ok(
          await waitUntil(() => b.received.length >= 20 && a.received.length >= 20, 3000),
          `callee got ${b.received.length}, caller ${a.received.length}`,
        );
        assert.ok(
          allMarked(b.received, 0x22),
          'the far side receives the authentic audio, decrypted, and nothing of the forged stream',
        );
        assert.ok(
          a.received.every((r) => r.msg.length === 172 + 10),
          'the caller receives SRTP (80-bit tag)',
        );
        const end = metricSum(await metrics(), 'edgeline_media_srtp_dropped_total', /reason="auth"/);
        assert.equal(end, after, 'the authentic stream is not counted as dropped');
        const r = await done;
        assert.equal(r.exitCode, 0, describeSippResult(r));
        for (const x of talkers) x.stop();
        await assertAllPortsFree();
      } catch (e) {
        t.diagnostic(gw.output().slice(-3000));
        throw e;
      } finally {
        for (const x of talkers) x.stop();
        await a.close();
      }
    });

    test('MUST answer 488 to an offer with no common codec (G.729 only) and keep no port', async () => {
      const before = (await engine()).counters.rejected488;
      const r = await runSipp({
        scenario: 'uac-auth-expect-488-g729.xml',
        remote: remote(),
        localPort: await freePort('udp'),
        calls: 1,
        service: '1002',
        auth: { username: '1001', password: 'demo1001' },
        keys: { caller: '1001', caller_domain: 'edgeline.local' },
        extraArgs: ['-mp', String(await freeUdpBlock(4)), '-mi', '127.0.0.1'],
        timeoutS: 15,
      });
      assert.equal(r.exitCode, 0, `488 expected: ${describeSippResult(r)}`);
      assert.equal((await engine()).counters.rejected488, before + 1);
      await assertAllPortsFree();
    });

    test('MUST latch to the real source when the SDP lies about the port, then drop and count a third source', async (t) => {
      const liar = await udpPeer(); // named in the SDP, never sends
      const y = await udpPeer(); // the caller's real media source
      const z = await udpPeer(); // somebody else
      const talkers: Array<{ stop(): void }> = [];
      try {
        b.received.length = 0;
        const { done } = await call({ rtpPort: liar.port });
        const c = await anchored(done);
        talkers.push(talk(y, c.a.rtpPort, 0x31, 0x1111));
        const latched = await until((x) => x.a.latched !== null, 'caller leg latched');
        assert.equal(latched.a.latched?.port, y.port, 'latched to the source, not to the SDP');
        talkers.push(talk(b, c.b.rtpPort, 0x32, 0x2222));
        assert.ok(await waitUntil(() => b.received.length >= 10, 3000), 'caller audio reaches the callee');
        assert.ok(
          await waitUntil(() => y.received.length >= 10, 3000),
          'callee audio goes to the real source',
        );
        assert.equal(liar.received.length, 0, 'nothing goes to the port the SDP named');

        // A third source after latching: no RTP bleed, no injection.
        const foreignBefore = latched.a.dropped?.['foreignSource'] ?? 0;
        for (let i = 1; i <= 15; i++) await z.send(rtp(100 + i, 0x66, 0x6666), c.a.rtpPort);
        const counted = await until(
          (x) => (x.a.dropped?.['foreignSource'] ?? 0) >= foreignBefore + 15,
          'foreign packets counted',
        );
        t.diagnostic(`caller leg drops: ${JSON.stringify(counted.a.dropped)}`);
        assert.equal(
          (counted.a.dropped?.['foreignSource'] ?? 0) - foreignBefore,
          15,
          'each foreign packet counted once',
        );
        assert.equal(counted.a.latched?.port, y.port, 'the latch stays on the real source');
        const r = await done;
        for (const x of talkers) x.stop();
        assert.equal(r.exitCode, 0, describeSippResult(r));
        assert.ok(allMarked(b.received, 0x31), 'only the latched source reaches the callee');
        assert.equal(z.received.length, 0, 'the third source receives nothing');
        assert.equal(liar.received.length, 0);
        await assertAllPortsFree();
      } finally {
        for (const x of talkers) x.stop();
        await Promise.all([liar.close(), y.close(), z.close()]);
      }
    });

    test('MUST count garbage, truncated, oversized and wrong-version RTP and RTCP on media ports, and the call continues', async (t) => {
      const y = await udpPeer();
      const z = await udpPeer();
      const talkers: Array<{ stop(): void }> = [];
      try {
        b.received.length = 0;
        const { done } = await call({ rtpPort: y.port });
        const c = await anchored(done);
        talkers.push(talk(y, c.a.rtpPort, 0x41, 0x4141));
        talkers.push(talk(b, c.b.rtpPort, 0x42, 0x4242));
        const latched = await until(
          (x) => x.a.latched?.port === y.port && x.b.latched?.port === b.port,
          'both legs latched',
        );
        const v1 = rtp(2, 0x41, 0x4141);
        v1[0] = 0x40; // version 1
        const rtpGarbage: Array<[string, Buffer]> = [
          ['empty datagram', Buffer.alloc(0)],
          ['truncated header', Buffer.from([0x80, 0x00, 0x00, 0x01, 0x00])],
          ['wrong version', v1],
          ['random bytes', Buffer.from('00ff13370badf00ddeadbeef0102030405060708', 'hex')],
          ['RTCP on the RTP port', Buffer.from([0x80, 0xc8, 0x00, 0x06, ...new Array<number>(24).fill(0)])],
          ['oversized datagram', Buffer.concat([rtp(3, 0x41, 0x4141), Buffer.alloc(1600, 0x41)])],
          ['CSRC count past the end', Buffer.from([0x8f, 0x00, 0x00, 0x04, 0, 0, 0, 0, 0, 0, 0, 1, 0xaa])],
        ];
        const rtcpGarbage: Array<[string, Buffer]> = [
          ['three bytes', Buffer.from([0x80, 0xc8, 0x00])],
          ['wrong version', Buffer.from([0x40, 0xc9, 0x00, 0x01, 0, 0, 0, 1])],
          ['length past the end', Buffer.from([0x80, 0xc9, 0x00, 0x40, 0, 0, 0, 1])],
          ['oversized', Buffer.concat([Buffer.from([0x80, 0xc9, 0x01, 0x00]), Buffer.alloc(1600)])],
        ];
        const base = { a: { ...latched.a.dropped }, b: { ...latched.b.dropped } };
        // From the latched peers and from a stranger alike, on both legs' RTP and RTCP ports.
        for (const [from, leg] of [
          [y, c.a],
          [z, c.a],
          [b, c.b],
          [z, c.b],
        ] as const) {
          for (const [, g] of rtpGarbage) await from.send(g, leg.rtpPort);
          for (const [, g] of rtcpGarbage) await from.send(g, leg.rtpPort + 1);
        }
        const grew = (now: Record<string, number> | undefined, was: Record<string, number>, k: string) =>
          (now?.[k] ?? 0) - (was[k] ?? 0);
        const counted = await until(
          (x) =>
            (['a', 'b'] as const).every(
              (s) =>
                grew(x[s].dropped, base[s], 'notRtp') >= 6 &&
                grew(x[s].dropped, base[s], 'truncated') >= 6 &&
                grew(x[s].dropped, base[s], 'oversized') >= 2 &&
                grew(x[s].dropped, base[s], 'badRtcp') >= 6,
            ),
          'garbage counted on both legs',
        );
        t.diagnostic(
          `drops: caller leg ${JSON.stringify(counted.a.dropped)}, callee leg ${JSON.stringify(counted.b.dropped)}`,
        );
        assert.equal(counted.a.latched?.port, y.port, 'garbage does not move the latch');
        assert.equal(counted.b.latched?.port, b.port, 'garbage does not move the latch');

        // The call continues: audio still crosses both ways, and the gateway is healthy.
        const [toCallee, toCaller] = [b.received.length, y.received.length];
        assert.ok(
          await waitUntil(
            () => b.received.length >= toCallee + 20 && y.received.length >= toCaller + 20,
            3000,
          ),
          'audio still crosses after the garbage',
        );
        assert.equal((await gw.api('GET', '/healthz')).status, 200);
        const r = await done;
        for (const x of talkers) x.stop();
        assert.equal(r.exitCode, 0, describeSippResult(r));
        assert.ok(allMarked(b.received, 0x41), 'the callee received the caller’s audio only');
        assert.ok(allMarked(y.received, 0x42), 'the caller received the callee’s audio only');
        await assertAllPortsFree();
      } finally {
        for (const x of talkers) x.stop();
        await Promise.all([y.close(), z.close()]);
      }
    });

    test(`MUST end the call after media.deadMediaTimeoutS (${DEAD_MEDIA_S} s) without RTP from a peer: BYE to both legs, CDR cause "dead media"`, async (t) => {
      const y = await udpPeer();
      let talking: NodeJS.Timeout | undefined;
      try {
        const { done } = await call({ rtpPort: y.port, scenario: 'uac-auth-media-port-await-bye.xml' });
        const c = await anchored(done);
        // The callee keeps talking all along; the caller sends half a second of audio, then stops.
        let seq = 0;
        talking = setInterval(
          () => void b.send(rtp(++seq, 0x51, 0x5151), c.b.rtpPort).catch(() => undefined),
          20,
        );
        for (let i = 1; i <= 25; i++) {
          await y.send(rtp(i, 0x52, 0x5252), c.a.rtpPort);
          await sleep(20);
        }
        const stoppedAt = Date.now();
        const r = await done;
        const endedAfterMs = Date.now() - stoppedAt;
        t.diagnostic(`call ended ${endedAfterMs} ms after the caller went silent`);
        assert.equal(r.exitCode, 0, `the caller received BYE from the gateway: ${describeSippResult(r)}`);
        assert.ok(endedAfterMs >= DEAD_MEDIA_S * 1000 - 100, `ended too early: ${endedAfterMs} ms`);
        assert.ok(endedAfterMs <= DEAD_MEDIA_S * 1000 + 3000, `ended too late: ${endedAfterMs} ms`);
        clearInterval(talking);
        talking = undefined;
        let cdrs: Cdr[] = [];
        for (const end = Date.now() + 5000; Date.now() < end; await sleep(100)) {
          cdrs = (await gw.api<{ cdrs: Cdr[] }>('GET', `/api/cdrs?interaction=${c.callKey}`)).body.cdrs;
          if (cdrs.length >= 2) break;
        }
        t.diagnostic(JSON.stringify(cdrs.map((x) => [x.direction, x.hangupCause, x.hangupBy])));
        assert.equal(cdrs.length, 2, 'a CDR row per leg');
        for (const row of cdrs)
          assert.match(row.hangupCause ?? '', /dead media/, `${row.direction} leg cause`);
        // The callee (SIPp UAS) got its BYE too: it answered it, so the dialog is gone from the gateway.
        const status = await gw.api<{ calls: { activeCalls: number } }>('GET', '/api/status');
        assert.equal(status.body.calls.activeCalls, 0);
        assert.equal((await engine()).counters.deadMedia >= 1, true);
        await assertAllPortsFree();
      } finally {
        if (talking) clearInterval(talking);
        await y.close();
      }
    });
  },
);
