/**
 * Answer first, bridge later, when things happen at once: the caller leaving (BYE after our
 * answer, CANCEL before it) while the extension rings or just as it answers, a leg that ends as it
 * is bridged, an app that fails with a leg in flight. The rule throughout: no one is called for a
 * caller who left, the app hears of it at once, and no leg outlives the app that owns it. RFC 3261
 * §9.1 (CANCEL of the forks), §9.2 (a CANCEL crossing a 2xx changes nothing), §13.2.2.4 (a 2xx we
 * no longer want is ACKed, then ended with BYE).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { silentLogger } from '../../src/core/log.ts';
import { OutboundSipLeg } from '../../src/call/sip-leg/outbound-sip-leg.ts';
import { DESK, GW, calling, originateSetup, type ProbeOptions } from '../support/originate-fixture.ts';
import type { IncomingCall, OutgoingCall, TestUa } from '../support/test-ua.ts';

/** Alice calls `number` (the probe app told `probe`); both phones of 1002 are being rung (they sent 180). */
async function ringing(number: string, probe: ProbeOptions = {}) {
  const c = await calling(number, { probe });
  const [d, s] = [c.fork(0), c.fork(1)];
  d.ring();
  s.ring();
  await c.h.flow();
  return { ...c, d, s };
}

const methods = (c: IncomingCall | OutgoingCall) => c.requests.map((r) => r.method);

/** A fork the gateway gave up on: CANCELed (487), or, when it answered all the same, ACKed and BYEd. */
function assertHungUp(fork: IncomingCall): void {
  if (fork.finalStatus === 200) {
    assert.equal(fork.acks.length, 1, 'its 2xx is ACKed');
    assert.deepEqual(methods(fork), ['BYE'], 'then its dialog ended');
  } else assert.equal(fork.finalStatus, 487);
}

/** How the caller leaves while the extension rings, and the final response its INVITE got. */
const leaving: Array<{ name: string; ringFirst: boolean; leave: (a: OutgoingCall) => void; final: number }> =
  [
    {
      name: 'hangs up (BYE) after the gateway answered',
      ringFirst: false,
      leave: (a) => a.bye(),
      final: 200,
    },
    {
      name: 'CANCELs before the gateway answered (an app that rings the caller first)',
      ringFirst: true,
      leave: (a) => a.cancel(),
      final: 487,
    },
  ];

void describe('originate racing the caller and the app', () => {
  for (const c of leaving) {
    void test(`the caller ${c.name}: the app’s originate fails at once, and a fork that answers later is ACKed and BYEd`, async () => {
      const { h, probe, a, d, s } = await ringing('*491002', { ringFirst: c.ringFirst });
      const leftAtMs = h.clock.now();
      c.leave(a);
      await h.flow();
      assert.equal(a.status, c.final);
      assert.equal(probe.failure?.code, 'EDGE_ERR_CALL_CANCELLED');
      assert.equal(probe.resolvedAtMs, leftAtMs, 'the app is told at once');
      // A phone that answers all the same is not left talking to nobody.
      if (d.finalStatus === undefined) d.answer();
      await h.flow();
      assertHungUp(d);
      if (s.finalStatus === undefined) s.ring();
      await h.flow();
      assert.equal(s.finalStatus, 487, 'the other fork is CANCELed');
      h.assertNothingLeftBehind();
    });

    void test(`the caller ${c.name}: every fork is CANCELed at once (§9.1)`, async () => {
      const { h, a, d, s } = await ringing('*491002', { ringFirst: c.ringFirst });
      c.leave(a);
      await h.flow();
      assert.ok(d.cancelRequest && s.cancelRequest, 'both forks are CANCELed');
      assert.deepEqual([d.finalStatus, s.finalStatus], [487, 487]);
      h.assertNothingLeftBehind();
    });
  }

  void test('the callee’s 200 and the caller’s CANCEL cross, the 200 first: the new leg is hung up (BYE) and the app gets the failure', async () => {
    const { h, probe, a, d, s } = await ringing('*491002', { ringFirst: true });
    d.answer();
    a.cancel();
    await h.flow();
    assert.equal(a.status, 487, 'the CANCEL reached a call not yet answered');
    assert.equal(probe.failure?.code, 'EDGE_ERR_CALL_CANCELLED');
    assert.equal(d.acks.length, 1, 'the 2xx is ACKed');
    assert.deepEqual(methods(d), ['BYE'], 'then its dialog ended');
    assert.equal(s.finalStatus, 487);
    assert.deepEqual(h.localMedia.bridges, [], 'nothing was bridged');
    h.assertNothingLeftBehind();
  });

  void test('the caller’s CANCEL first, then the callee’s 200 (sent before any CANCEL reached it): ACK, then BYE (§9.2, §13.2.2.4)', async () => {
    const { h, probe, a, d } = await ringing('*491002', { ringFirst: true });
    h.net.setLatency(GW, DESK, 100);
    a.cancel();
    await h.flow(10);
    assert.equal(a.status, 487);
    assert.equal(probe.failure?.code, 'EDGE_ERR_CALL_CANCELLED');
    d.answer();
    await h.flow(500);
    assert.equal(d.acks.length, 1, 'the 2xx is ACKed');
    assert.deepEqual(methods(d), ['BYE'], 'then its dialog ended');
    assert.deepEqual(h.localMedia.bridges, []);
    h.net.setLatency(GW, DESK, 0);
    h.assertNothingLeftBehind();
  });

  void test('the callee answers and hangs up at once: the bridge is refused, the caller hung up, no media joined', async () => {
    const { h, a, d } = await ringing('*481002');
    d.answer();
    d.bye();
    await h.flow();
    assert.deepEqual(h.localMedia.bridges, [], 'no bridge with a leg that has ended');
    assert.deepEqual(methods(a), ['BYE'], 'the caller is not left in silence');
    h.assertNothingLeftBehind();
  });

  void test('the caller hangs up just as the callee answers: the new leg is hung up (ACK, BYE)', async () => {
    const { h, a, d, s } = await ringing('*481002');
    d.answer();
    a.bye();
    await h.flow();
    assert.equal(d.acks.length, 1);
    assert.deepEqual(methods(d), ['BYE']);
    assert.equal(s.finalStatus, 487);
    assert.deepEqual(h.localMedia.joined(), []);
    h.assertNothingLeftBehind();
  });

  void test('an app that throws after originate: its caller and the leg it originated are both hung up', async () => {
    const { h, a, d, s } = await ringing('*491002', { throwAfterOriginate: true });
    d.answer();
    await h.flow();
    assert.deepEqual(methods(a), ['BYE']);
    assert.deepEqual(methods(d), ['BYE']);
    assert.equal(s.finalStatus, 487);
    const ix = h.localMedia.opens[0]?.key;
    assert.deepEqual(h.cdr.legs.map((l) => l.legId).sort(), [`${ix}:a`, `${ix}:b1`]);
    h.assertNothingLeftBehind();
  });

  void test('an app that throws while the extension rings: its caller is hung up, and a fork that answers later is hung up too', async () => {
    const { h, a, d, s } = await ringing('*491002', { throwWhileOriginating: true });
    assert.deepEqual(methods(a), ['BYE']);
    if (d.finalStatus === undefined) d.answer();
    await h.flow();
    assertHungUp(d);
    assert.equal(s.finalStatus, 487);
    h.assertNothingLeftBehind();
  });

  void test('an app that throws while the extension rings: every fork is CANCELed at once (§9.1)', async () => {
    const { h, d, s } = await ringing('*491002', { throwWhileOriginating: true });
    assert.deepEqual([d.finalStatus, s.finalStatus], [487, 487]);
    h.assertNothingLeftBehind();
  });
});

void describe('the originator’s signal on an outbound SIP leg', () => {
  /** A leg to both phones of 1002, built as the B2BUA builds it, with a signal of our own. */
  function legTo1002(h: ReturnType<typeof originateSetup>['h'], signal: AbortSignal) {
    return new OutboundSipLeg({
      interactionId: 'ix-1',
      legId: 'ix-1:b1',
      targets: h.registrar.lookup('1002').map((b) => ({
        kind: 'extension' as const,
        requestUri: b.contact,
        dest: b.source,
        peer: '1002',
        pinToSource: true,
      })),
      ringTimeoutMs: 180_000,
      signal,
      caller: { user: '1001', assert: true },
      party: { kind: 'extension', id: '1002', number: '1002' },
      sip: h.sip,
      media: h.localMedia,
      domain: h.config.system.domain,
      userAgent: h.config.sip.userAgent,
      clock: h.clock,
      timers: h.clock,
      logger: silentLogger,
      bindDialog: () => undefined,
      unbindDialog: () => undefined,
    });
  }

  void test('aborted while the forks ring: every fork is CANCELed, start resolves with the failure, the media is freed', async () => {
    const { h, uas } = originateSetup();
    const [, desk, soft] = uas as [TestUa, TestUa, TestUa];
    const wanted = new AbortController();
    const leg = legTo1002(h, wanted.signal);
    const started = leg.start();
    assert.ok(await h.flowUntil(() => desk.incoming.length === 1 && soft.incoming.length === 1));
    desk.incoming[0]?.ring();
    soft.incoming[0]?.ring();
    await h.flow();
    wanted.abort();
    await h.flow();
    assert.deepEqual([desk.incoming[0]?.finalStatus, soft.incoming[0]?.finalStatus], [487, 487]);
    const r = await started;
    assert.equal(r.ok ? undefined : r.error.code, 'EDGE_ERR_CALL_CANCELLED');
    assert.equal(leg.end?.cause, 'originator-cancel');
    h.assertNothingLeftBehind();
  });

  void test('aborted before it starts: no INVITE is sent', async () => {
    const { h, uas } = originateSetup();
    const [, desk] = uas as [TestUa, TestUa];
    const wanted = new AbortController();
    wanted.abort();
    const r = await legTo1002(h, wanted.signal).start();
    await h.flow();
    assert.equal(r.ok, false);
    assert.deepEqual(desk.incoming, []);
    assert.deepEqual(h.localMedia.opens, []);
    h.assertNothingLeftBehind();
  });
});
