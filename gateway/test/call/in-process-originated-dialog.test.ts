/**
 * The dialog of a leg the gateway placed, once it is answered and bridged: what the callee may send
 * in it and what it gets back. RFC 3261 §14.2 and RFC 4028 (a re-INVITE refreshing the session is
 * answered with our unchanged description, RFC 3264 §8), §13.3.1.4 (our 2xx to it is resent until
 * the ACK, and the session ended when none comes), RFC 3264 §4 (an INVITE without an offer gets
 * ours in the 2xx and the answer in the ACK), RFC 6086 (INFO carrying a key press), §20.5 (Allow
 * lists what the leg answers).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { SipMessage } from '../../src/sip/message/index.ts';
import { T1, calling, deskOnly } from '../support/originate-fixture.ts';

/** Alice on `*49` bridged to the desk phone of 1002. */
async function bridged() {
  const c = await calling('*491002', { phones: deskOnly });
  const d = c.fork(0);
  d.answer();
  await c.h.flow();
  assert.equal(c.probe.bridged?.ok, true, 'bridged');
  const ours = c.h.localMedia.opens.find((o) => o.key === `${c.ix}:b1`)?.sdp;
  assert.ok(ours);
  return { ...c, desk: c.callee(0), d, ours };
}

/** A 200 to an INVITE (on this network, only the gateway answers a re-INVITE of the desk phone). */
const is200ToInvite = (m: SipMessage) =>
  m.kind === 'response' && m.status === 200 && (m.headers.get('cseq') ?? '').endsWith('INVITE');

void describe('in the dialog of an originated leg', () => {
  void test('a session-refresh re-INVITE from the callee is answered 200 with the gateway’s SDP and Contact; the ACK stops the 2xx', async () => {
    const { h, desk, a, d, ours } = await bridged();
    const refresh = d.reinvite(desk.offer());
    await h.flow(10 * T1);
    const res = refresh.attempts[0]?.final;
    assert.equal(res?.status, 200);
    assert.equal(res.body.toString(), ours, 'our description, unchanged (RFC 3264 §8)');
    assert.equal(
      res.headers.get('contact'),
      d.invite.headers.get('contact'),
      'our Contact (a target refresh)',
    );
    const oks = desk.responsesReceived('INVITE').filter((r) => r.status === 200);
    assert.equal(oks.length, 1, 'the ACK came at once: no retransmission');
    assert.ok(!d.ended && !a.ended);
    a.bye();
    await h.flow();
    h.assertNothingLeftBehind();
  });

  void test('our 200 to a re-INVITE, lost, is sent again at T1 until the ACK (§13.3.1.4)', async () => {
    const { h, desk, a, d } = await bridged();
    h.net.lose(is200ToInvite);
    const refresh = d.reinvite(desk.offer());
    await h.flow(T1 + 50);
    assert.equal(refresh.attempts[0]?.status, 200, 'the retransmission reached the callee');
    await h.flow(10 * T1);
    assert.deepEqual(d.requests, [], 'the session goes on');
    assert.ok(!a.ended);
    a.bye();
    await h.flow();
    h.assertNothingLeftBehind();
  });

  void test('no ACK for our 200 to a re-INVITE within 64·T1: the leg is ended with BYE, and so is the caller’s (§13.3.1.4)', async () => {
    const { h, a, d } = await bridged();
    h.net.lose(
      (m) =>
        m.kind === 'request' &&
        m.method === 'ACK' &&
        m.headers.get('call-id') === d.invite.headers.get('call-id'),
      1000,
    );
    d.reinvite(d.ua.offer());
    await h.flow(64 * T1 - 100, 100);
    assert.equal(d.requests.length, 0, 'still up before 64·T1');
    await h.flow(200);
    assert.deepEqual(
      d.requests.map((r) => r.method),
      ['BYE'],
    );
    assert.deepEqual(
      a.requests.map((r) => r.method),
      ['BYE'],
      'the bridge ends the caller’s call too',
    );
    h.assertNothingLeftBehind();
  });

  void test('a re-INVITE without an offer gets ours in the 200, and the answer in its ACK reaches the media (RFC 3264 §4)', async () => {
    const { h, a, d, ix, ours } = await bridged();
    const refresh = d.reinvite(Buffer.alloc(0));
    await h.flow();
    assert.equal(refresh.attempts[0]?.final?.body.toString(), ours);
    const applied = h.localMedia.answers.filter((x) => x.key === `${ix}:b1`);
    assert.equal(applied.length, 2, 'the first answer (its 2xx), then the one in the ACK');
    assert.ok(applied[1]?.accepted);
    a.bye();
    await h.flow();
    h.assertNothingLeftBehind();
  });

  void test('an INFO key press from the callee reaches the leg as a digit; an INFO the leg cannot read gets 415', async () => {
    const { h, probe, a, d, ix } = await bridged();
    const info = d.request('INFO', {
      body: Buffer.from('Signal=5\r\nDuration=160\r\n'),
      contentType: 'application/dtmf-relay',
    });
    const other = d.request('INFO', { body: Buffer.from('<xml/>'), contentType: 'application/xml' });
    await h.flow();
    h.localMedia.press(`${ix}:b1`, '7');
    assert.deepEqual([info.status, other.status], [200, 415]);
    assert.deepEqual(probe.digits, ['5', '7'], 'from INFO, then from the media (RFC 4733)');
    a.bye();
    await h.flow();
    h.assertNothingLeftBehind();
  });

  void test('the leg advertises only what it answers: its INVITE’s Allow has no REFER, and a REFER gets 405 (§20.5)', async () => {
    const { h, a, d } = await bridged();
    const allow = (v: string | undefined) => (v ?? '').split(',').map((m) => m.trim());
    assert.ok(!allow(d.invite.headers.get('allow')).includes('REFER'));
    const refer = d.refer('1001');
    const options = d.request('OPTIONS');
    const update = d.request('UPDATE');
    await h.flow();
    assert.equal(refer.status, 405);
    assert.ok(!allow(refer.final?.headers.get('allow')).includes('REFER'));
    assert.deepEqual([options.status, update.status], [200, 200]);
    assert.equal(update.final?.body.length, 0, 'an UPDATE without an offer gets no SDP (RFC 3311 §5.2)');
    assert.ok(!d.ended && !a.ended);
    d.bye();
    await h.flow();
    assert.ok(a.ended);
    h.assertNothingLeftBehind();
  });
});

void describe('in the caller’s dialog, while the gateway bridges it', () => {
  void test('a session-refresh re-INVITE from the caller is answered 200 with the gateway’s SDP (RFC 3261 §14.2), and the call stays up', async () => {
    const { h, a, d } = await bridged();
    const refresh = a.reinvite(a.ua.offer());
    await h.flow();
    assert.equal(refresh.attempts[0]?.status, 200);
    assert.equal(refresh.attempts[0]?.final?.body.toString(), h.localMedia.opens[0]?.sdp);
    assert.ok(!a.ended && !d.ended);
    a.bye();
    await h.flow();
    h.assertNothingLeftBehind();
  });
});
