import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { OfferAnswer, glareRetryDelayMs, overlapRetryAfterS } from '../../../src/media/sdp/offer-answer.ts';
import { bumpSdpVersion, createAudioOffer, withDirection } from '../../../src/media/sdp/sdp.ts';

const ours = createAudioOffer({ address: '192.0.2.1', sessId: '100', rtpPort: 20000, codecs: ['PCMU'] });
const theirs = createAudioOffer({ address: '198.51.100.7', sessId: '900', rtpPort: 4000, codecs: ['PCMU'] });

/** A fixed random source: always `v`. */
const fixed = (v: number) => () => v;

void describe('offer/answer exchanges in SIP (RFC 3261 §13.2.1, RFC 3264 §4)', () => {
  void test('INVITE with body = offer; the 2xx carries the answer', () => {
    const oa = new OfferAnswer();
    assert.ok(oa.receiveOffer(theirs, 'invite').ok);
    assert.equal(oa.state, 'remote-offer-received');
    assert.ok(oa.sendAnswer(ours, '2xx').ok);
    assert.equal(oa.state, 'stable');
    assert.equal(oa.local, ours);
    assert.equal(oa.remote, theirs);
  });

  void test('an offer in an INVITE may be answered in a reliable 18x (RFC 3262)', () => {
    const oa = new OfferAnswer();
    assert.ok(oa.sendOffer(ours, 'invite').ok);
    assert.ok(oa.receiveAnswer(theirs, 'reliable-1xx').ok);
    assert.equal(oa.state, 'stable');
  });

  void test('INVITE without body: the offer goes in the 2xx and the answer in the ACK', () => {
    const uas = new OfferAnswer();
    assert.ok(uas.receiveOfferlessInvite().ok);
    assert.equal(uas.state, 'awaiting-local-offer');
    assert.equal(uas.sendOffer(ours, 'update').ok, false, 'the owed offer cannot travel in an UPDATE');
    assert.ok(uas.sendOffer(ours, '2xx').ok);
    assert.equal(uas.receiveAnswer(theirs, '2xx').ok, false, 'the answer to a 2xx offer comes in the ACK');
    assert.ok(uas.receiveAnswer(theirs, 'ack').ok);
    assert.equal(uas.state, 'stable');

    const uac = new OfferAnswer();
    assert.ok(uac.sendOfferlessInvite().ok);
    assert.ok(uac.receiveOffer(theirs, '2xx').ok);
    assert.ok(uac.sendAnswer(ours, 'ack').ok);
    assert.equal(uac.state, 'stable');
  });

  void test('an ACK without the answer owed for an offer in the 2xx means the session must end', () => {
    const uas = new OfferAnswer();
    uas.receiveOfferlessInvite();
    uas.sendOffer(ours, '2xx');
    assert.equal(uas.ackWithoutAnswer(), true);
    assert.equal(uas.state, 'stable');
  });

  void test('UPDATE offer is answered in the UPDATE’s 2xx (RFC 3311 §5.1)', () => {
    const oa = new OfferAnswer();
    oa.receiveOffer(theirs, 'invite');
    oa.sendAnswer(ours, '2xx');
    const held = bumpSdpVersion(withDirection(ours, 'sendonly'));
    assert.ok(oa.sendOffer(held, 'update').ok);
    assert.equal(oa.receiveAnswer(theirs, 'ack').ok, false);
    assert.ok(oa.receiveAnswer(withDirection(theirs, 'recvonly'), '2xx').ok);
    assert.equal(oa.local, held);
    assert.equal(oa.dump().localVersion, '101');
  });

  void test('a failed re-INVITE leaves the session parameters unchanged (RFC 3261 §14.1)', () => {
    const oa = new OfferAnswer();
    oa.receiveOffer(theirs, 'invite');
    oa.sendAnswer(ours, '2xx');
    oa.sendOffer(bumpSdpVersion(ours), 'invite');
    oa.offerRejected();
    assert.equal(oa.state, 'stable');
    assert.equal(oa.local, ours);
    assert.ok(oa.canOffer());
  });

  void test('MUST NOT generate a new offer while one is outstanding (RFC 3264 §4)', () => {
    const oa = new OfferAnswer();
    oa.sendOffer(ours, 'invite');
    assert.equal(oa.canOffer(), false);
    assert.equal(oa.sendOffer(ours, 'update').ok, false);
  });
});

void describe('overlapping offers (RFC 3261 §14.2, RFC 3311 §5.2)', () => {
  const cases: {
    name: string;
    setup: (oa: OfferAnswer) => void;
    carrier: 'invite' | 'update';
    status: 491 | 500;
  }[] = [
    {
      name: 'offer while our re-INVITE offer is pending → 491',
      setup: (oa) => oa.sendOffer(ours, 'invite'),
      carrier: 'invite',
      status: 491,
    },
    {
      name: 'UPDATE offer while our UPDATE offer is pending → 491',
      setup: (oa) => oa.sendOffer(ours, 'update'),
      carrier: 'update',
      status: 491,
    },
    {
      name: 'UPDATE offer before the offer owed in the 2xx to our offerless INVITE (RFC 3311 §5.1) → 500',
      setup: (oa) => oa.sendOfferlessInvite(),
      carrier: 'update',
      status: 500,
    },
    {
      name: 'UPDATE offer while we owe an answer → 500 with Retry-After',
      setup: (oa) => oa.receiveOffer(theirs, 'invite'),
      carrier: 'update',
      status: 500,
    },
    {
      name: 're-INVITE offer while we owe the offer for an offerless INVITE → 500',
      setup: (oa) => oa.receiveOfferlessInvite(),
      carrier: 'invite',
      status: 500,
    },
  ];
  for (const c of cases) {
    void test(c.name, () => {
      const oa = new OfferAnswer(fixed(0.5));
      c.setup(oa);
      const before = oa.state;
      const r = oa.receiveOffer(theirs, c.carrier);
      assert.equal(r.ok, false);
      if (r.ok) return;
      assert.equal(r.status, c.status);
      if (r.status === 500) assert.equal(r.retryAfterS, 5);
      assert.equal(oa.state, before, 'the pending exchange is untouched');
    });
  }

  void test('after glare the rejected side retries: the pending offer still completes', () => {
    const oa = new OfferAnswer();
    oa.sendOffer(ours, 'invite');
    oa.receiveOffer(theirs, 'invite');
    assert.ok(oa.receiveAnswer(theirs, '2xx').ok);
    assert.ok(oa.receiveOffer(bumpSdpVersion(theirs), 'invite').ok);
  });

  const delays: { owner: boolean; random: number; ms: number }[] = [
    { owner: true, random: 0, ms: 2100 },
    { owner: true, random: 0.999999, ms: 4000 },
    { owner: true, random: 0.5, ms: 3050 },
    { owner: false, random: 0, ms: 0 },
    { owner: false, random: 0.999999, ms: 2000 },
    { owner: false, random: 0.25, ms: 500 },
  ];
  for (const d of delays) {
    void test(`glare back-off (RFC 3261 §14.1): Call-ID owner=${d.owner}, random=${d.random} → ${d.ms} ms`, () => {
      const ms = glareRetryDelayMs(d.owner, fixed(d.random));
      assert.equal(ms, d.ms);
      assert.equal(ms % 10, 0, 'in units of 10 ms');
    });
  }

  void test('Retry-After for a 500 on overlap is 0–10 s', () => {
    assert.equal(overlapRetryAfterS(fixed(0)), 0);
    assert.equal(overlapRetryAfterS(fixed(0.999999)), 10);
  });
});

void test('close ends the exchange and dump is plain JSON', () => {
  const oa = new OfferAnswer();
  oa.sendOffer(ours, 'invite');
  oa.close();
  assert.deepEqual(oa.dump(), {
    state: 'closed',
    pendingCarrier: null,
    localVersion: null,
    remoteVersion: null,
  });
  assert.equal(oa.sendOffer(ours, 'invite').ok, false);
});
