/**
 * A call that rang on a PSTN port, as a Leg (call/pstn-leg/pstn-leg.ts), on a manual clock: the
 * port's control and the engine's frame leg faked, the app's media the in-process fake. What the
 * leg does with the line — when it goes off hook, what the line hears tick by tick, when the port
 * is given back — is the behaviour under test; the line's own signalling has tests of its own.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ManualClock } from '../../../base/clock.ts';
import { ok } from '../../../base/result.ts';
import { CHINA_TONE_PLAN } from '../../../base/signal/tone-plan.ts';
import { PstnLeg } from '../../src/call/pstn-leg/pstn-leg.ts';
import { silentLogger } from '../../src/core/log.ts';
import type { FrameLegHandle, FrameLegSink, ServiceLegPlan } from '../../src/media/engine/engine.ts';
import type { PstnIncoming } from '../../src/pstn/pstn-calls.ts';
import { FakeLocalMedia } from '../support/fake-local-media.ts';

const HOST = '10.0.0.1';
const FRAME_PORT = 40000;

interface Fixture {
  clock: ManualClock;
  leg: PstnLeg;
  media: FakeLocalMedia;
  port: { answers: number; releases: boolean[]; digits: string[] };
  frames: {
    started: ServiceLegPlan[];
    sent: number;
    closed: boolean;
    /** Times the frame leg was given its port pair. */
    bound: number;
    sink: FrameLegSink | undefined;
  };
}

async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
}

function setup(
  o: { early?: boolean; noFrameLeg?: boolean; failureToneMs?: number } = {},
): Fixture | undefined {
  const clock = new ManualClock();
  const media = new FakeLocalMedia(clock, HOST);
  const port = { answers: 0, releases: [] as boolean[], digits: [] as string[] };
  const frames = {
    started: [] as ServiceLegPlan[],
    sent: 0,
    closed: false,
    bound: 0,
    sink: undefined as FrameLegSink | undefined,
  };
  const received = new Int16Array(160).fill(1000);
  const handle: FrameLegHandle = {
    get rtpPort() {
      return frames.bound > 0 ? FRAME_PORT : 0;
    },
    wired: false,
    bind: () => {
      frames.bound++;
      return FRAME_PORT;
    },
    opened: () => Promise.resolve(true),
    start: (plan) => void frames.started.push(plan),
    setRemote: () => undefined,
    close: () => {
      frames.closed = true;
      return Promise.resolve();
    },
    dump: () => ({ localPort: FRAME_PORT, latched: false, target: null, counters: {} }),
    send: () => void frames.sent++,
    pull: () => received,
    playout: () => null,
  };
  const incoming: PstnIncoming = {
    portKey: 'fxo1',
    lineId: 'fxo1',
    kind: 'fxo',
    channel: 'sim0/1',
    callerNumber: '13800138000',
    callerName: 'ZHANG WEI',
    called: '5550100',
    control: {
      answer: () => {
        port.answers++;
        return ok(undefined);
      },
      release: (answered) => void port.releases.push(answered),
      sendDigit: (d) => void port.digits.push(d),
    },
  };
  const leg = PstnLeg.open({
    incoming,
    interactionId: 'ix-1',
    frames: {
      openFrameLeg: (_key, sink) => {
        frames.sink = sink;
        return o.noFrameLeg ? undefined : handle;
      },
      wireFrameLegs: () => false,
    },
    media,
    host: HOST,
    progress: o.early ? { plan: CHINA_TONE_PLAN, failureToneMs: o.failureToneMs ?? 8000 } : undefined,
    clock,
    timers: clock,
    logger: silentLogger,
  });
  return leg ? { clock, leg, media, port, frames } : undefined;
}

const loud = (f: Int16Array | undefined) => f !== undefined && f.some((s) => Math.abs(s) > 500);

void describe('a call that rang on a PSTN port, as a leg', () => {
  void test('no frame leg (no media port): no leg, the service leaves the line ringing', () => {
    assert.equal(setup({ noFrameLeg: true }), undefined);
  });

  void test('an app answers: off hook once, the app’s media answers our offer, frames flow both ways; the caller hanging up ends the leg and frees everything', async () => {
    const f = setup();
    assert.ok(f);
    const { leg, media, port, frames } = f;
    assert.equal(leg.technology, 'fxo');
    assert.deepEqual(leg.party, {
      kind: 'line',
      id: 'fxo1',
      number: '13800138000',
      displayName: 'ZHANG WEI',
    });
    assert.equal(leg.frame(), undefined, 'nothing to the line before the answer');
    const [a, b] = await Promise.all([leg.answer(), leg.answer()]);
    await settle();
    assert.ok(a.ok && b.ok);
    assert.equal(leg.state, 'answered');
    assert.equal(port.answers, 1, 'off hook once');
    assert.equal(media.opens.length, 1);
    assert.equal(media.opens[0]?.wiredTo, 'ix-1', 'the app’s media leg is wired to the frame leg');
    assert.equal(media.opens[0]?.offer, undefined, 'no SDP between the two');
    assert.equal(frames.bound, 0, 'no port pair for a PSTN↔local call');
    assert.equal(media.opens[0]?.nearKey, 'ix-1', 'in the worker of the frame leg');
    assert.equal(frames.started[0]?.remote, undefined, 'no address: the legs are wired');
    assert.ok(loud(leg.frame()), 'the line hears what the frame leg received');
    leg.audio(new Int16Array(160));
    assert.equal(frames.sent, 1, 'the line’s frame goes to the frame leg');
    leg.portEvent({ type: 'far-end-disconnect', reason: 'loop-current-gone' });
    assert.equal(leg.state, 'ended');
    assert.deepEqual([leg.end?.cause, leg.end?.by, leg.end?.sipStatus], ['normal-clearing', 'remote', 200]);
    await settle();
    assert.deepEqual(port.releases, [true], 'the answered port is hung up');
    assert.ok(frames.closed, 'the frame leg is freed');
    assert.deepEqual(media.closes, ['ix-1:line'], 'the app’s media is freed');
    assert.equal((await leg.play([{ kind: 'silence', durationMs: 20 }])).outcome, 'ended');
  });

  void test('an app records the line (voicemail): on the app’s media leg, refused before the answer, stopped by its maximum length or when the caller hangs up', async () => {
    const f = setup();
    assert.ok(f);
    const { leg, media } = f;
    assert.equal(leg.record().ok, false, 'no recording before the answer');
    assert.ok((await leg.answer()).ok);
    await settle();
    const capped = leg.record({ maxDurationMs: 5000 });
    const open = leg.record();
    assert.ok(capped.ok && open.ok);
    assert.deepEqual(
      media.recordings.map((r) => [r.key, r.recordingId]),
      [
        ['ix-1:line', 'ix-1-a-rec1'],
        ['ix-1:line', 'ix-1-a-rec2'],
      ],
    );
    f.clock.advance(5000);
    assert.deepEqual((await capped.value.done).durationMs, 5000);
    assert.equal(media.recordings[1]?.stopped, false);
    leg.portEvent({ type: 'far-end-disconnect', reason: 'loop-current-gone' });
    await settle();
    assert.equal(media.recordings[1]?.stopped, true, 'the caller hanging up ends it');
    assert.equal((await open.value.done).path, '/recordings/ix-1-a-rec2.wav');
  });

  void test('the far party’s digits are regenerated on the line only once the call is answered', async () => {
    const f = setup();
    assert.ok(f);
    f.frames.sink?.onDigit?.('5', 100);
    assert.deepEqual(f.port.digits, []);
    await f.leg.answer();
    await settle();
    f.frames.sink?.onDigit?.('5', 100);
    assert.deepEqual(f.port.digits, ['5']);
  });

  void test('early answer: ring() takes the line off hook and it hears the plan’s ringback (cn 450 Hz), before any answer', async () => {
    const f = setup({ early: true });
    assert.ok(f);
    const r = await f.leg.ring();
    assert.ok(r.ok);
    assert.equal(f.leg.state, 'alerting');
    assert.equal(f.port.answers, 1);
    let toneFrames = 0;
    for (let i = 0; i < 50; i++) if (loud(f.leg.frame())) toneFrames++;
    assert.equal(toneFrames, 50, 'the first second of ringback is tone');
  });

  void test('early answer, the call fails (486): the leg ends at once, the line hears busy for failureToneMs and only then is released', async () => {
    const f = setup({ early: true, failureToneMs: 3000 });
    assert.ok(f);
    await f.leg.hangup('user-busy');
    assert.equal(f.leg.state, 'ended');
    assert.equal(f.leg.end?.sipStatus, 486);
    assert.equal(f.port.answers, 1, 'answered to carry the tone');
    assert.ok(loud(f.leg.frame()), 'busy tone');
    f.clock.advance(2999);
    assert.deepEqual(f.port.releases, []);
    f.clock.advance(1);
    assert.deepEqual(f.port.releases, [true], 'released when the tone has played');
  });

  void test('early answer: a caller who hangs up during the failure tone releases the port at once', async () => {
    const f = setup({ early: true });
    assert.ok(f);
    await f.leg.hangup('no-route-to-destination');
    f.leg.portEvent({ type: 'far-end-disconnect', reason: 'loop-current-gone' });
    assert.deepEqual(f.port.releases, [true]);
    f.clock.advance(10_000);
    assert.deepEqual(f.port.releases, [true], 'once');
  });

  void test('late answer, the call fails: no tone, the unanswered line is given back as it is (an FXO line rings on)', async () => {
    const f = setup();
    assert.ok(f);
    await f.leg.hangup('user-busy');
    assert.equal(f.port.answers, 0);
    assert.deepEqual(f.port.releases, [false]);
  });

  void test('an app whose media leg cannot share the frame leg’s worker: the frame leg gets its port pair, our offer names it, its frames go to the app’s leg', async () => {
    const f = setup();
    assert.ok(f);
    f.media.wires = false;
    assert.ok((await f.leg.answer()).ok);
    await settle();
    assert.equal(f.frames.bound, 1, 'one port pair, bound for the offer');
    assert.match(f.media.opens[0]?.offer ?? '', new RegExp(`m=audio ${FRAME_PORT} RTP/AVP 0`));
    assert.equal(f.media.opens[0]?.wiredTo, undefined);
    assert.deepEqual(
      f.frames.started[0]?.remote,
      { address: HOST, port: 30000 },
      'towards the app’s media leg',
    );
    await f.leg.hangup('normal-clearing');
    assert.ok(f.frames.closed);
  });

  void test('connected to a SIP party through face(): our offer, its answer starts the frames, connect() answers the line', async () => {
    const f = setup({ early: true });
    assert.ok(f);
    const face = f.leg.face();
    const opened = await face.open('ix-1:b1', undefined, () => undefined);
    assert.ok(opened.ok);
    assert.match(opened.sdp.toString(), new RegExp(`m=audio ${FRAME_PORT} `));
    await f.leg.ring();
    const answer = Buffer.from(
      'v=0\r\no=- 1 1 IN IP4 10.0.2.1\r\ns=-\r\nc=IN IP4 10.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=sendrecv\r\n',
    );
    assert.equal(opened.handle.applyAnswer(answer), true);
    const joined = f.leg.connect();
    assert.ok(joined.ok);
    await settle();
    assert.equal(f.leg.state, 'answered');
    assert.equal(f.port.answers, 1, 'off hook once: the ringback had answered it');
    assert.deepEqual(f.frames.started[0]?.remote, { address: '10.0.2.1', port: 4000 });
    assert.ok(loud(f.leg.frame()), 'the line hears the party, not ringback');
  });
});
