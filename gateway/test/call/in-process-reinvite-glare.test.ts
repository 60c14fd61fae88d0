/**
 * Re-INVITE glare through the B2BUA, at the wire. Both parties of an answered call re-INVITE at
 * the same instant (both put the other on hold). RFC 3261 §14.2: "A UAS that receives an INVITE on
 * a dialog while an INVITE it had sent on that dialog is in progress MUST return a 491 (Request
 * Pending)" — the gateway answers the offer that finds another one outstanding on the call with
 * 491, the far party answers the relayed one with 491, and the gateway passes that 491 back.
 * RFC 3261 §14.1: each side retries after its random delay — 2.1 to 4 s for the owner of the
 * dialog's Call-ID (the caller toward the gateway), 0 to 2 s for the other (the callee, whose
 * dialog's Call-ID the gateway chose) — and both retries go through. The same party offering
 * again before its first offer is answered is no glare: §14.2 gives it 500 with a Retry-After of
 * 0 to 10 s. Each dialog's state is an `OfferAnswer` (RFC 3264 §4) kept by the B2BUA.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InProcessGateway } from '../support/in-process-gateway.ts';

const config = {
  extensions: ['1001', '1002'].map((number) => ({ number, password: `secret-${number}` })),
};

/** An answered call; both phones draw 0.5 for their back-off (a delay in the middle of the range). */
function answered() {
  const h = new InProcessGateway({ config });
  const alice = h.phone('1001', '10.0.1.1', { random: () => 0.5 });
  const bob = h.phone('1002', '10.0.2.1', { random: () => 0.5 });
  const regs = [alice.register(), bob.register()];
  h.run();
  assert.deepEqual(
    regs.map((r) => r.status),
    [200, 200],
  );
  const caller = alice.invite('1002');
  h.run();
  const callee = bob.incoming[0];
  assert.ok(callee);
  callee.answer();
  h.run();
  assert.equal(caller.status, 200);
  return { h, alice, bob, caller, callee };
}

const invitesIn = (requests: readonly { method: string }[]) =>
  requests.filter((r) => r.method === 'INVITE').length;

void describe('re-INVITE glare through the B2BUA (RFC 3261 §14)', () => {
  for (const first of ['caller', 'callee'] as const) {
    void test(`both re-INVITE at once (the ${first}'s reaches the gateway first): each gets one 491, retries after its §14.1 delay, and both retries succeed`, () => {
      const { h, alice, bob, caller, callee } = answered();
      const start = h.clock.now();
      const send = {
        caller: () => caller.reinvite(alice.offer('sendonly'), { retryOnGlare: true }),
        callee: () => callee.reinvite(bob.offer('sendonly'), { retryOnGlare: true }),
      };
      const second = first === 'caller' ? 'callee' : 'caller';
      const r = { [first]: send[first](), [second]: send[second]() } as Record<
        'caller' | 'callee',
        ReturnType<typeof send.caller>
      >;
      h.run();
      assert.deepEqual(
        [r.caller.attempts[0]?.status, r.callee.attempts[0]?.status],
        [491, 491],
        'both offers fail with 491 Request Pending',
      );

      // §14.1: the caller owns its dialog's Call-ID: 2.1 s + 95 steps of 10 ms (random 0.5);
      // the callee does not: 100 steps of 10 ms.
      assert.deepEqual(
        r.caller.backoffs.map((b) => b.delayMs),
        [3050],
      );
      assert.deepEqual(
        r.callee.backoffs.map((b) => b.delayMs),
        [1000],
      );
      h.run(999);
      assert.equal(r.callee.attempts.length, 1, 'no retry before the back-off is over');
      h.run(1);
      assert.equal(r.callee.attempts.length, 2);
      assert.equal(r.callee.attempts[1]?.sentAtMs, start + 1000);
      assert.equal(r.callee.attempts[1]?.status, 200, 'the callee’s retry goes through the gateway');
      h.run(2050);
      assert.equal(r.caller.attempts.length, 2);
      assert.equal(r.caller.attempts[1]?.sentAtMs, start + 3050);
      assert.equal(r.caller.attempts[1]?.status, 200, 'the caller’s retry goes through the gateway');

      // Each party answered exactly the re-INVITEs the gateway relayed: the first one relayed
      // (491, glare on that side) and the other party's retry (200).
      assert.equal(invitesIn(caller.requests) + invitesIn(callee.requests), 3);
      assert.equal(invitesIn(first === 'caller' ? callee.requests : caller.requests), 2);
      // Every 2xx of a re-INVITE is ACKed, on both legs.
      assert.equal(caller.acks.length, 1);
      assert.equal(callee.acks.length, 2, 'the initial 2xx and the re-INVITE’s');

      caller.bye();
      h.run();
      assert.ok(callee.ended);
      h.assertNothingLeftBehind();
    });
  }

  void test('a re-INVITE after an exchange completes is relayed as usual (no 491 left over)', () => {
    const { h, alice, caller, callee } = answered();
    const hold = caller.reinvite(alice.offer('sendonly'));
    h.run();
    assert.equal(hold.attempts[0]?.status, 200);
    // RFC 3264 §8.4 / §6.1: the held party answers recvonly; the answer crosses the B2BUA as it is.
    assert.match(hold.attempts[0]?.final?.body.toString() ?? '', /a=recvonly/);
    const resume = caller.reinvite(alice.offer('sendrecv'));
    h.run();
    assert.equal(resume.attempts[0]?.status, 200);
    assert.match(resume.attempts[0]?.final?.body.toString() ?? '', /a=sendrecv/);
    assert.equal(invitesIn(callee.requests), 2);
    callee.bye();
    h.run();
    assert.ok(caller.ended);
    h.assertNothingLeftBehind();
  });

  void test('the same party re-INVITEs again before its first is answered: 500 with Retry-After 0–10 s (§14.2), the first completes, the next goes through', () => {
    const { h, alice, caller, callee } = answered();
    const first = caller.reinvite(alice.offer('sendonly'));
    const second = caller.reinvite(alice.offer('inactive'));
    h.run();
    assert.equal(
      second.attempts[0]?.status,
      500,
      'a second offer on the dialog before the first is answered',
    );
    const retryAfter = Number(second.attempts[0]?.final?.headers.get('retry-after'));
    assert.ok(
      Number.isInteger(retryAfter) && retryAfter >= 0 && retryAfter <= 10,
      `Retry-After ${retryAfter}`,
    );
    assert.equal(first.attempts[0]?.status, 200, 'the first exchange completes');
    assert.equal(invitesIn(callee.requests), 1, 'the second offer never reached the callee');
    const again = caller.reinvite(alice.offer('sendrecv'));
    h.run();
    assert.equal(again.attempts[0]?.status, 200, 'both dialogs are stable again');
    assert.equal(invitesIn(callee.requests), 2);
    callee.bye();
    h.run();
    assert.ok(caller.ended);
    h.assertNothingLeftBehind();
  });
});
