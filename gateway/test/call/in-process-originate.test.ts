/**
 * Answer first, bridge later, at the wire: the gateway answers the caller itself (the `*48`
 * connect service, or a connect-like app), then places a leg of its own to an extension — the
 * gateway as UAC with its own SDP offer (RFC 3264 §5), forking to every registered contact — and
 * bridges the two legs in the media engine. RFC 3261 §9.1 (a fork still ringing is CANCELed, once
 * it has sent a provisional response), §13.2.2.4 (every 2xx is ACKed; one we do not keep is then
 * ended with BYE), §15 (a BYE on one leg ends the other), §16.7 step 6 (the failure reported when
 * every fork failed).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  ALICE,
  DESK,
  GW,
  SOFT,
  T1,
  calling,
  deskOnly,
  isAckTo,
  originateSetup,
} from '../support/originate-fixture.ts';

const methods = (c: { requests: ReadonlyArray<{ method: string }> }) => c.requests.map((r) => r.method);

void describe('answer first, bridge later (a leg the gateway places itself)', () => {
  void test('the caller is answered with our SDP; both contacts are offered the gateway’s own SDP; the first 2xx wins and is ACKed; the other fork is CANCELed once it has sent a 1xx (§9.1); the winner’s answer is applied and the two media legs bridged', async () => {
    const { h, a, ix, callee, fork } = await calling('*481002');
    const [soft, d, s] = [callee(1), fork(0), fork(1)];
    const [caller, b1] = h.localMedia.opens;
    assert.equal(a.final?.body.toString(), caller?.sdp, 'the 200 carries our answer');
    assert.equal(caller?.offer, a.invite.body.toString(), 'to the caller’s offer');
    assert.equal(b1?.key, `${ix}:b1`);
    assert.equal(b1.offer, undefined, 'the gateway offers on the new leg');
    assert.equal(b1.nearKey, ix, 'in the worker of the leg it will be bridged to');
    for (const f of [d, s]) {
      assert.equal(f.invite.body.toString(), b1.sdp, 'each fork is offered the gateway’s SDP');
      assert.notEqual(f.invite.body.toString(), a.invite.body.toString());
    }
    assert.notEqual(d.invite.headers.get('call-id'), s.invite.headers.get('call-id'));
    // The hold prompt, then ringback while the extension rings.
    assert.deepEqual(
      h.localMedia.plays.map((p) => [p.ids[0], p.loop, p.outcome]),
      [
        ['file:hold.wav', false, 'finished'],
        ['tone:cn:ringback', true, undefined],
      ],
    );

    // The desk phone answers before the softphone has sent anything: its CANCEL waits (§9.1).
    d.answer();
    await h.flow();
    assert.equal(d.acks.length, 1, 'the winning 2xx is ACKed');
    assert.equal(s.cancelRequest, undefined, 'no CANCEL before a provisional response');
    s.ring();
    await h.flow();
    assert.ok(s.cancelRequest, 'the CANCEL leaves once the fork has rung');
    assert.equal(s.finalStatus, 487);
    assert.equal(soft.requestsReceived('ACK').length, 1, 'its 487 is ACKed (§17.1.1.3)');
    assert.deepEqual(soft.requestsReceived('BYE'), [], 'a cancelled fork never gets a BYE');

    assert.deepEqual(h.localMedia.answers, [
      { key: `${ix}:b1`, sdp: d.responsesSent.at(-1)?.body.toString(), accepted: true },
    ]);
    assert.deepEqual(
      h.localMedia.bridges.map((x) => [x.a, x.b, x.unbridged]),
      [[ix, `${ix}:b1`, false]],
    );
    assert.equal(h.localMedia.playing(ix), undefined, 'the ringback stopped for the bridge');

    a.bye();
    await h.flow();
    assert.deepEqual(methods(d), ['BYE']);
    h.assertNothingLeftBehind();
  });

  void test('the connect service rings the extension only once its prompt has played, with ringback in the caller’s ear', async () => {
    const { h, uas } = originateSetup(deskOnly);
    const [alice, desk] = uas;
    assert.ok(alice && desk);
    h.localMedia.playsEndByThemselves = false;
    const a = alice.invite('*481002');
    await h.flow(5000);
    assert.equal(a.status, 200);
    const ix = h.localMedia.opens[0]?.key ?? '';
    assert.deepEqual(h.localMedia.playing(ix)?.ids, ['file:hold.wav']);
    assert.equal(desk.incoming.length, 0, 'no one is rung while the prompt plays');
    h.localMedia.endPlay(ix, 'finished');
    await h.flow();
    assert.equal(desk.incoming.length, 1);
    assert.deepEqual(h.localMedia.playing(ix)?.ids, ['tone:cn:ringback']);
    desk.incoming[0]?.answer();
    await h.flow();
    assert.equal(h.localMedia.playing(ix), undefined);
    a.bye();
    await h.flow();
    h.assertNothingLeftBehind();
  });

  void test('both forks answer at once: the later 2xx is ACKed, then BYEd (§13.2.2.4), and its SDP never reaches the media', async () => {
    const { h, a, ix, fork } = await calling('*481002');
    const [d, s] = [fork(0), fork(1)];
    d.ring();
    s.ring();
    await h.flow();
    d.answer();
    s.answer();
    await h.flow();
    assert.equal(d.acks.length, 1);
    assert.equal(s.acks.length, 1, 'the surplus 2xx is ACKed');
    assert.deepEqual(methods(s), ['BYE'], 'and ended with BYE');
    assert.ok(s.ended && !d.ended);
    assert.deepEqual(
      h.localMedia.answers.map((x) => x.sdp),
      [d.responsesSent.at(-1)?.body.toString()],
    );
    assert.equal(h.localMedia.joined()[0]?.b, `${ix}:b1`);
    d.bye();
    await h.flow();
    assert.deepEqual(methods(a), ['BYE'], 'the callee’s BYE ends the caller’s call');
    h.assertNothingLeftBehind();
  });

  void test('a retransmitted 2xx of the winner is ACKed again, and nothing else happens (§13.2.2.4)', async () => {
    const { h, a, fork } = await calling('*481002', { phones: deskOnly });
    const d = fork(0);
    h.net.lose(isAckTo(DESK));
    d.answer();
    await h.flow(4 * T1);
    const acksSent = h.net.log.filter((g) => g.from.startsWith(GW) && g.to.startsWith(DESK));
    assert.ok(d.acks.length >= 1, 'the retransmitted 2xx got an ACK');
    assert.ok(acksSent.length >= 2);
    assert.deepEqual(methods(d), [], 'no BYE: the retransmission is no second answer');
    assert.equal(h.localMedia.answers.length, 1, 'the answer is applied once');
    assert.ok(!d.ended && !a.ended);
    a.bye();
    await h.flow();
    assert.ok(d.ended);
    h.assertNothingLeftBehind();
  });

  void test('a 2xx we do not keep, retransmitted, is ACKed each time and BYEd once (§13.2.2.4)', async () => {
    const { h, a, callee, fork } = await calling('*481002');
    const [soft, d, s] = [callee(1), fork(0), fork(1)];
    // The softphone is far: its first 2xx retransmission leaves before our ACK and BYE arrive.
    h.net.setLatency(GW, SOFT, 600);
    d.ring();
    s.ring();
    await h.flow(1000);
    d.answer();
    s.answer();
    await h.flow(4 * T1);
    assert.ok(soft.requestsReceived('ACK').length >= 2, 'each 2xx that arrived was ACKed');
    // One BYE transaction (its retransmissions, Timer E, share a branch).
    const byes = new Set(soft.requestsReceived('BYE').map((r) => r.headers.get('via')));
    assert.equal(byes.size, 1, 'one BYE for the dialog we did not keep');
    assert.ok(s.ended && !d.ended);
    a.bye();
    await h.flow(2000);
    h.net.setLatency(GW, SOFT, 0);
    h.assertNothingLeftBehind();
  });

  for (const side of ['caller', 'callee'] as const) {
    void test(`a BYE from the ${side} after the bridge ends the other leg; CDR rows <ix>:a and <ix>:b1 under one interaction id`, async () => {
      const { h, a, ix, fork } = await calling('*481002', { phones: deskOnly });
      const d = fork(0);
      d.ring();
      await h.flow(2000);
      d.answer();
      await h.flow(5000);
      assert.equal(h.localMedia.joined().length, 1);
      const bye = side === 'caller' ? a.bye() : d.bye();
      await h.flow();
      assert.equal(bye.status, 200, 'the BYE is answered on its own leg');
      assert.deepEqual(methods(side === 'caller' ? d : a), ['BYE'], 'the other party gets the gateway’s BYE');
      assert.deepEqual(h.localMedia.joined(), [], 'the bridge is over');
      assert.deepEqual(h.cdr.legs.map((l) => l.legId).sort(), [`${ix}:a`, `${ix}:b1`]);
      assert.deepEqual(new Set(h.cdr.legs.map((l) => l.interactionId)), new Set([ix]));
      const b1 = h.cdr.legs.find((l) => l.legId === `${ix}:b1`);
      assert.deepEqual(
        [b1?.status, b1?.callId, b1?.billableMs, b1?.hangupBy],
        [200, d.invite.headers.get('call-id'), 5000, side],
      );
      h.assertNothingLeftBehind();
    });
  }

  void test('no contact registered: the app gets a 480 failure and keeps its caller until it ends the call', async () => {
    const { h, probe, a } = await calling('*491002', { phones: [['1001', ALICE]] });
    await h.flow();
    assert.deepEqual(
      [probe.failure?.code, probe.failure?.sipStatus],
      ['EDGE_ERR_CALL_ORIGINATE_FAILED', 480],
    );
    await h.flow(10_000);
    const keepalive = a.request('OPTIONS');
    await h.flow();
    assert.equal(keepalive.status, 200, 'the caller’s dialog is up while the app holds it');
    assert.ok(!a.ended);
    probe.done();
    await h.flow();
    assert.deepEqual(methods(a), ['BYE'], 'the gateway hangs up when the app is done');
    h.assertNothingLeftBehind();
  });

  void test('no media for the new leg: no INVITE is sent, and the app gets the failure and keeps its caller', async () => {
    const { h, probe, a, callee } = await calling('*491002', {
      before: (gw) =>
        (gw.localMedia.refuse = (key) =>
          key.endsWith(':b1') ? { status: 503, reason: 'Service Unavailable (no media port)' } : undefined),
    });
    assert.deepEqual([callee(0).incoming.length, callee(1).incoming.length], [0, 0]);
    assert.deepEqual([probe.failure?.sipStatus, probe.failure?.cause], [503, 'temporary-failure']);
    await h.flow(1000);
    assert.ok(!a.ended);
    probe.done();
    await h.flow();
    assert.ok(a.ended);
    h.assertNothingLeftBehind();
  });

  void test('the ring timeout: every fork is CANCELed and the app gets the failure no-answer', async () => {
    const { h, probe, a, fork } = await calling('*491002');
    const [d, s] = [fork(0), fork(1)];
    d.ring();
    s.ring();
    const rangAtMs = h.clock.now();
    await h.flow(181_000, 500);
    assert.ok(d.cancelRequest && s.cancelRequest, 'both forks are CANCELed');
    assert.ok((d.cancelledAtMs ?? 0) - rangAtMs >= 180_000 - 1000);
    assert.deepEqual([d.finalStatus, s.finalStatus], [487, 487]);
    assert.equal(probe.failure?.cause, 'no-answer');
    assert.ok(!a.ended, 'the caller is still the app’s');
    probe.done();
    await h.flow();
    assert.ok(a.ended);
    h.assertNothingLeftBehind();
  });

  void test('busy (486) on every fork: the failure is user-busy, and the connect service plays the busy tone, then hangs up', async () => {
    const { h, a, ix, callee, fork } = await calling('*481002');
    fork(0).reject(486);
    await h.flow();
    assert.equal(h.localMedia.playing(ix)?.ids[0], 'tone:cn:ringback', 'one busy fork is not the end');
    fork(1).reject(486);
    await h.flow();
    assert.equal(h.localMedia.playing(ix)?.ids[0], 'tone:cn:busy');
    assert.equal(callee(0).requestsReceived('ACK').length, 1);
    assert.equal(callee(1).requestsReceived('ACK').length, 1);
    await h.flow(3900, 100);
    assert.ok(!a.ended, 'the caller hears the tone for the whole failure time');
    await h.flow(200);
    assert.deepEqual(methods(a), ['BYE']);
    const b1 = h.cdr.legs.find((l) => l.legId === `${ix}:b1`);
    assert.deepEqual([b1?.status, b1?.hangupCause, b1?.answeredAt], [486, 'user-busy', null]);
    h.assertNothingLeftBehind();
  });

  const unusable = [
    { name: 'without SDP', sdp: undefined, applied: [] },
    {
      name: 'whose SDP rejects the audio stream (port 0)',
      sdp: Buffer.from(
        'v=0\r\no=- 1 1 IN IP4 10.0.2.1\r\ns=-\r\nc=IN IP4 10.0.2.1\r\nt=0 0\r\nm=audio 0 RTP/AVP 0\r\n',
      ),
      applied: [false],
    },
    { name: 'whose body is not SDP', sdp: Buffer.from('hello'), applied: [false] },
  ];
  for (const c of unusable) {
    void test(`a 2xx ${c.name}: ACK, then BYE, and the attempt fails with 488`, async () => {
      const { h, probe, a, fork } = await calling('*491002', { phones: deskOnly });
      const d = fork(0);
      d.respond(200, c.sdp ? { sdp: c.sdp } : {});
      await h.flow();
      assert.equal(d.acks.length, 1, 'the 2xx is ACKed');
      assert.deepEqual(methods(d), ['BYE'], 'then its dialog is ended');
      assert.deepEqual(
        h.localMedia.answers.map((x) => x.accepted),
        c.applied,
      );
      assert.deepEqual([probe.failure?.sipStatus, probe.failure?.cause], [488, 'incompatible-destination']);
      assert.ok(!a.ended);
      probe.done();
      await h.flow();
      h.assertNothingLeftBehind();
    });
  }

  void test('an unusable answer from one fork does not end the others: the next 2xx wins', async () => {
    const { h, probe, a, ix, fork } = await calling('*491002');
    const [d, s] = [fork(0), fork(1)];
    s.ring();
    d.respond(200, {});
    await h.flow();
    assert.deepEqual(methods(d), ['BYE']);
    assert.equal(probe.resolvedAtMs, undefined, 'still ringing the softphone');
    s.answer();
    await h.flow();
    assert.equal(probe.result?.ok, true);
    assert.deepEqual(
      h.localMedia.joined().map((x) => x.b),
      [`${ix}:b1`],
    );
    a.bye();
    await h.flow();
    assert.ok(s.ended);
    h.assertNothingLeftBehind();
  });

  void test('the records of an answer-first call read like a B2BUA call’s: the interaction counts both legs and names the party reached; the originated leg’s row presents the caller', async () => {
    const { h, a, ix, fork } = await calling('*481002', { phones: deskOnly });
    const d = fork(0);
    d.answer();
    await h.flow(1000);
    a.bye();
    await h.flow();
    const b1 = h.cdr.legs.find((l) => l.legId === `${ix}:b1`);
    assert.deepEqual([b1?.callerId, b1?.fromUri], ['1001', d.invite.headers.get('from')]);
    assert.deepEqual(
      h.cdr.interactions.map((i) => [i.interactionId, i.callee, i.legs]),
      [[ix, '1002', 2]],
    );
    h.assertNothingLeftBehind();
  });
});
