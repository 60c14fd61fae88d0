/**
 * The services that are media the gateway answers with — `*43` echo, `*44` milliwatt, conference
 * rooms, supervisor monitoring — as apps on legs, at the wire: the caller's INVITE is handed to
 * the app, which answers it into the media it needs (`answer({ media })`). What the media refuses
 * (a full room, no call to monitor, no port) the caller hears as the status, before any 200; a
 * monitored call that ends first hangs the supervisor up with BYE.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { AnswerMedia } from '../../src/call/leg.ts';
import { InProcessGateway } from '../support/in-process-gateway.ts';
import type { OutgoingCall } from '../support/test-ua.ts';

const ALICE = '10.0.1.1';
const BOB = '10.0.1.2';
const CAROL = '10.0.1.3';
const SUPERVISOR = '10.0.1.8';

const config = {
  extensions: [
    ...['1001', '1002', '1003'].map((number) => ({ number, password: `secret-${number}` })),
    { number: '1008', password: 'secret-1008', monitor: true },
  ],
  services: [
    { number: '*43', type: 'echo' },
    { number: '*44', type: 'milliwatt' },
    { number: '*50', type: 'conference', maxParties: 3 },
    { number: '*46', type: 'monitor', mode: 'whisper' },
  ],
};

function setup() {
  const h = new InProcessGateway({ config, legApps: {} });
  const apps = h.serveMediaServices();
  const [alice, bob, carol, supervisor] = h.registered(
    ['1001', ALICE],
    ['1002', BOB],
    ['1003', CAROL],
    ['1008', SUPERVISOR],
  );
  assert.ok(alice && bob && carol && supervisor);
  return { h, apps, alice, bob, carol, supervisor };
}

/** Final statuses after the digest challenge. */
const finals = (c: OutgoingCall) => c.finals.filter((s) => s !== 401 && s !== 407);
const methods = (c: OutgoingCall) => c.requests.map((r) => r.method);

void describe('echo, milliwatt, conference and monitor as apps on legs (in process)', () => {
  for (const [number, kind] of [
    ['*43', 'echo'],
    ['*44', 'milliwatt'],
  ] as const) {
    void test(`${number} is answered into the ${kind} media: the 200 carries its answer to the caller’s offer; the caller stays until its BYE, which frees the media`, async () => {
      const { h, alice } = setup();
      const a = alice.invite(number);
      await h.flow();
      assert.equal(a.status, 200);
      const [open] = h.localMedia.opens;
      assert.ok(open);
      assert.deepEqual(open.media, { kind });
      assert.equal(open.offer, a.invite.body.toString());
      assert.equal(a.final?.body.toString(), open.sdp);
      await h.flow(10_000);
      assert.ok(!a.ended, 'the gateway keeps the call');
      assert.deepEqual(methods(a), []);
      a.bye();
      await h.flow();
      assert.deepEqual(h.localMedia.closes, [open.key]);
      assert.equal(h.cdr.interactions[0]?.outcome, 'answered');
      h.assertNothingLeftBehind();
    });
  }

  void test('an INVITE without an offer gets the media’s offer in the 200 (RFC 3261 §13.2.1)', async () => {
    const { h, alice } = setup();
    const a = alice.invite('*44', { sdp: null });
    await h.flow();
    assert.equal(a.status, 200);
    const open = h.localMedia.opens[0];
    assert.equal(open?.offer, undefined);
    assert.equal(a.final?.body.toString(), open?.sdp);
    a.bye();
    await h.flow();
    h.assertNothingLeftBehind();
  });

  void test('no free media port: 503 before any answer, nothing kept', async () => {
    const { h, alice } = setup();
    h.localMedia.refuse = () => ({ status: 503, reason: 'Service Unavailable (no media port)' });
    const a = alice.invite('*43');
    await h.flow();
    assert.deepEqual(finals(a), [503]);
    assert.ok(!a.responses.some((r) => r.status === 180 || r.status === 200));
    assert.deepEqual(h.localMedia.opens, []);
    h.assertNothingLeftBehind();
  });

  void test('a conference caller joins the room of its number with the room’s size; a caller beyond it is refused 486 before anything is answered, and the members stay', async () => {
    const { h, alice, bob, carol } = setup();
    const members = [alice.invite('*50'), bob.invite('*50')];
    await h.flow();
    assert.deepEqual(
      members.map((m) => m.status),
      [200, 200],
    );
    const room: AnswerMedia = { kind: 'conference', room: '*50', maxParties: 3 };
    assert.deepEqual(
      h.localMedia.opens.map((o) => o.media),
      [room, room],
    );
    // The room is full now (the media knows its members, the app asks it).
    const asked: AnswerMedia[] = [];
    h.localMedia.refuse = (_key, media) => {
      asked.push(media);
      return { status: 486, reason: 'Busy Here (conference full: 3 parties)' };
    };
    const third = carol.invite('*50');
    await h.flow();
    assert.deepEqual(finals(third), [486]);
    assert.equal(third.final?.reason, 'Busy Here (conference full: 3 parties)');
    assert.ok(!third.responses.some((r) => r.status === 180 || r.status === 200), 'nothing answered');
    assert.deepEqual(asked, [room]);
    assert.equal(h.localMedia.opens.length, 2, 'no media kept for the refused caller');
    assert.ok(
      members.every((m) => !m.ended && methods(m).length === 0),
      'the members stay',
    );
    for (const m of members) m.bye();
    await h.flow();
    h.assertNothingLeftBehind();
  });

  void test('monitor: the supervisor is answered into the call of the extension dialled after the code, in the service’s mode', async () => {
    const { h, supervisor } = setup();
    const s = supervisor.invite('*461002');
    await h.flow();
    assert.equal(s.status, 200);
    assert.deepEqual(h.localMedia.opens[0]?.media, { kind: 'monitor', extension: '1002', mode: 'whisper' });
    s.bye();
    await h.flow();
    assert.equal(h.localMedia.unreleased().length, 0);
    h.assertNothingLeftBehind();
  });

  void test('monitor refusals at the wire: 403 for an extension not allowed to monitor (no media asked); 404 when the extension is in no call and 486 when its call is monitored already, as the media refuses, before any answer', async () => {
    const { h, alice, supervisor } = setup();
    const forbidden = alice.invite('*461002');
    await h.flow();
    assert.deepEqual(finals(forbidden), [403]);
    for (const [status, reason] of [
      [404, 'Not Found (no active call for 1002)'],
      [486, 'Busy Here (the call of 1002 is already monitored)'],
    ] as const) {
      h.localMedia.refuse = (_key, media) => (media.kind === 'monitor' ? { status, reason } : undefined);
      const s = supervisor.invite('*461002');
      await h.flow();
      assert.deepEqual(finals(s), [status]);
      assert.equal(s.final?.reason, reason);
      assert.ok(!s.responses.some((r) => r.status === 200));
    }
    assert.deepEqual(h.localMedia.opens, []);
    assert.deepEqual(
      h.cdr.interactions.map((i) => i.status),
      [403, 404, 486],
    );
    h.assertNothingLeftBehind();
  });

  void test('the monitored call ending hangs the supervisor up: BYE from the gateway, the media freed, the app done', async () => {
    const { h, apps, supervisor } = setup();
    const s = supervisor.invite('*461002');
    await h.flow();
    assert.equal(s.status, 200);
    const key = h.localMedia.opens[0]?.key ?? '';
    assert.equal(apps.monitor.dump().running.length, 1);
    h.localMedia.endMedia(key);
    await h.flow();
    assert.deepEqual(methods(s), ['BYE']);
    assert.deepEqual(h.localMedia.closes, [key]);
    assert.deepEqual(apps.monitor.dump(), {
      running: [],
      totals: { refused: 0, ended: 0, 'media-ended': 1, 'not-found': 0 },
    });
    const cdr = h.cdr.interactions[0];
    assert.equal(cdr?.outcome, 'answered');
    h.assertNothingLeftBehind();
  });

  void test('the monitored call ending while the supervisor is being answered: answered, then BYE at once — never a supervisor left listening to nothing', async () => {
    const { h, supervisor } = setup();
    let release!: () => void;
    h.localMedia.gate = new Promise((r) => (release = r));
    const s = supervisor.invite('*461002');
    await h.flow();
    const ix = h.b2bua.dump().calls[0]?.interactionId ?? '';
    h.localMedia.endMedia(ix);
    release();
    await h.flow();
    assert.equal(s.status, 200);
    assert.deepEqual(methods(s), ['BYE']);
    assert.deepEqual(h.localMedia.unreleased(), []);
    h.assertNothingLeftBehind();
  });

  void test('a service number without an app gets 503', async () => {
    const h = new InProcessGateway({ config, legApps: {} });
    const [alice] = h.registered(['1001', ALICE]);
    assert.ok(alice);
    const a = alice.invite('*43');
    await h.flow();
    assert.deepEqual(finals(a), [503]);
    h.assertNothingLeftBehind();
  });
});
