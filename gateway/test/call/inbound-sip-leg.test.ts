import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ManualClock } from '../../../base/clock.ts';
import type { DtmfDigit } from '../../../base/signal/dtmf-digits.ts';
import { createLogger } from '../../src/core/log.ts';
import type { DigitPress } from '../../src/call/leg.ts';
import type {
  HandlePlayEnded,
  LegMediaHandle,
  LocalMediaOpen,
  LocalMediaPort,
} from '../../src/call/leg-media.ts';
import { runLegApp, waitOnLeg } from '../../src/call/leg-app.ts';
import { Call } from '../../src/call/call.ts';
import { InboundSipLeg, type LocalSipSession } from '../../src/call/sip-leg/inbound-sip-leg.ts';

const logger = createLogger({ level: 'silent' });

/** The inbound dialog as the leg drives it: what a `SipCall` answering locally does, recorded. */
class FakeSession implements LocalSipSession {
  readonly interactionId = 'ix-1';
  currentState = 'routing';
  readonly sent: string[] = [];
  private watchers: Array<() => void> = [];
  private final: number | null = null;
  private by: 'caller' | 'callee' | 'system' | null = null;
  private cause = '';
  ringLocally(): boolean {
    if (this.final !== null) return false;
    this.sent.push('180');
    this.currentState = 'proceeding';
    return true;
  }
  answerLocally(_sdp: Buffer): boolean {
    if (this.final !== null) return false;
    this.sent.push('200');
    this.final = 200;
    this.currentState = 'answered';
    return true;
  }
  reject(status: number): void {
    if (this.final !== null) return;
    this.sent.push(String(status));
    this.final = status;
    this.end('system', `rejected ${status}`);
  }
  hangup(cause: string): void {
    this.sent.push('BYE');
    this.end('system', cause);
  }
  onFinish(fn: () => void): void {
    this.watchers.push(fn);
  }
  summary() {
    return { finalStatus: this.final, hangupBy: this.by, hangupCause: this.cause };
  }
  /** The caller's CANCEL before answer, or its BYE after. */
  callerLeaves(): void {
    if (this.final === null) {
      this.final = 487;
      this.sent.push('487');
    }
    this.end('caller', 'caller hung up');
  }
  private end(by: 'caller' | 'system', cause: string): void {
    if (this.currentState === 'ended') return;
    this.currentState = 'ended';
    this.by = by;
    this.cause = cause;
    for (const w of this.watchers.splice(0)) w();
  }
}

class FakeMedia implements LocalMediaPort {
  opens = 0;
  closed = 0;
  plays: Array<{ ids: string[]; loop: boolean; bargeIn: boolean; onEnded: (e: HandlePlayEnded) => void }> =
    [];
  stops = 0;
  /** `record` calls and the recordings stopped, by id. */
  recordings: string[] = [];
  recordStops: string[] = [];
  digit: ((p: DigitPress) => void) | undefined;
  /** Set to hold `open` until the test releases it. */
  gate: Promise<void> | undefined;
  result: LocalMediaOpen | undefined;
  async open(
    _key: string,
    _offer: Buffer | undefined,
    onDigit: (p: DigitPress) => void,
  ): Promise<LocalMediaOpen> {
    this.opens++;
    if (this.gate) await this.gate;
    if (this.result) return this.result;
    this.digit = onDigit;
    const handle: LegMediaHandle = {
      play: (prompts, o) => {
        this.plays.push({ ids: prompts.map((p) => p.id), ...o });
        return true;
      },
      applyAnswer: () => true,
      record: (id) => {
        this.recordings.push(id);
        return {
          path: `/rec/${id}.wav`,
          closed: Promise.resolve({ path: `/rec/${id}.wav`, durationMs: 0 }),
          stop: () => void this.recordStops.push(id),
        };
      },
      stopPlay: () => {
        this.stops++;
        const p = this.plays.at(-1);
        p?.onEnded({ outcome: 'stopped', positionMs: 40 });
      },
      close: () => {
        this.closed++;
        return Promise.resolve();
      },
    };
    return { ok: true, sdp: Buffer.from('v=0\r\n'), handle, wired: false };
  }
  musicOnHold() {
    return { id: 'moh', samples: new Int16Array(160) };
  }
  bridges: Array<[string, string]> = [];
  bridge(a: string, b: string) {
    this.bridges.push([a, b]);
    return { unbridge: () => this.bridges.splice(0) && undefined };
  }
}

function setup() {
  const clock = new ManualClock();
  const session = new FakeSession();
  const media = new FakeMedia();
  const leg = new InboundSipLeg({
    session,
    media,
    offer: Buffer.from('v=0\r\n'),
    party: { kind: 'extension', id: '1001', number: '1001' },
    callId: 'c1@test',
    clock,
    timers: clock,
    logger,
  });
  const states: string[] = [];
  leg.events.on('state', (to) => states.push(to));
  const press = (d: string) =>
    media.digit?.({ digit: d as DtmfDigit, durationMs: 80, source: 'rfc4733', atMs: clock.wallNow() });
  const call = new Call({
    first: leg,
    originator: { originate: () => Promise.reject(new Error('not in these tests')) },
    media,
    logger,
  });
  return { clock, session, media, leg, states, press, call };
}

const tone = { kind: 'audio' as const, id: 'welcome', samples: new Int16Array(1600) };
const settle = () => new Promise((r) => setImmediate(r));

describe('inbound SIP leg answered by the gateway', () => {
  test('ring sends 180, answer sends 200 with our SDP; states offered → alerting → answered', async () => {
    const { leg, session, states } = setup();
    assert.ok((await leg.ring()).ok);
    assert.ok((await leg.answer()).ok);
    assert.deepEqual(session.sent, ['180', '200']);
    assert.deepEqual(states, ['alerting', 'answered']);
    assert.equal(leg.dump().detail.technology, 'sip');
  });

  test('two answers at once open one media leg', async () => {
    const { leg, media } = setup();
    const [a, b] = await Promise.all([leg.answer(), leg.answer()]);
    assert.ok(a.ok && b.ok);
    assert.equal(media.opens, 1);
  });

  test('no media port: the caller gets the media status (503) and the leg ends with its cause', async () => {
    const { leg, media, session } = setup();
    media.result = { ok: false, status: 503, reason: 'Service Unavailable (no media port)' };
    const r = await leg.answer();
    assert.equal(r.ok, false);
    if (!r.ok) assert.equal(r.error.code, 'EDGE_ERR_CALL_MEDIA');
    assert.deepEqual(session.sent, ['503']);
    assert.equal(leg.state, 'ended');
    assert.equal(leg.end?.cause, 'temporary-failure');
  });

  test('the caller cancels while the media is set up: nothing is answered, the port goes back', async () => {
    const { leg, media, session } = setup();
    let release!: () => void;
    media.gate = new Promise((r) => (release = r));
    const answering = leg.answer();
    await settle();
    session.callerLeaves();
    release();
    const r = await answering;
    assert.equal(r.ok, false);
    assert.deepEqual(session.sent, ['487'], 'no 200 after the 487');
    assert.equal(media.closed, 1);
    assert.equal(leg.end?.cause, 'originator-cancel');
    assert.equal(leg.end?.by, 'remote');
  });

  test('play before answer fails with EDGE_ERR_CALL_LEG_STATE and plays nothing', async () => {
    const { leg, media } = setup();
    const out = await leg.play([tone]);
    assert.equal(out.outcome, 'failed');
    if (out.outcome === 'failed') assert.equal(out.failure.code, 'EDGE_ERR_CALL_LEG_STATE');
    assert.equal(media.plays.length, 0);
  });

  test('barge-in: the digit ends the play and is also the first digit of the next collection', async () => {
    const { leg, media, press } = setup();
    await leg.answer();
    const playing = leg.play([tone], { bargeIn: true });
    press('3');
    media.plays[0]!.onEnded({ outcome: 'interrupted', positionMs: 120, digit: '3' });
    assert.deepEqual(await playing, { outcome: 'interrupted', positionMs: 120, digit: '3' });
    const got = leg.collectDigits({ max: 2, firstDigitTimeoutMs: 1000, interDigitTimeoutMs: 1000 });
    press('4');
    assert.deepEqual(await got, { digits: '34', outcome: 'max' });
  });

  test('a new play stops the one before (its caller sees stopped)', async () => {
    const { leg, media } = setup();
    await leg.answer();
    const first = leg.play([tone]);
    const second = leg.play([{ kind: 'silence', durationMs: 500 }]);
    assert.equal((await first).outcome, 'stopped');
    assert.deepEqual(media.plays[1]!.ids, ['silence:25']);
    media.plays[1]!.onEnded({ outcome: 'finished', positionMs: 500 });
    assert.deepEqual(await second, { outcome: 'finished', positionMs: 500 });
  });

  test('abort stops the play', async () => {
    const { leg } = setup();
    await leg.answer();
    const ac = new AbortController();
    const p = leg.play([tone], { signal: ac.signal });
    ac.abort();
    assert.equal((await p).outcome, 'stopped');
  });

  test('the caller hangs up mid-play and mid-collect: both resolve ended, the port and timers are freed', async () => {
    const { leg, media, session, clock } = setup();
    await leg.answer();
    const playing = leg.play([tone]);
    const collecting = leg.collectDigits({ max: 4, firstDigitTimeoutMs: 5000, interDigitTimeoutMs: 3000 });
    session.callerLeaves();
    assert.equal((await playing).outcome, 'ended');
    assert.equal((await collecting).outcome, 'ended');
    await settle();
    assert.equal(media.closed, 1);
    assert.deepEqual(clock.armed(), []);
    assert.equal(leg.end?.cause, 'normal-clearing');
    assert.equal(leg.end?.by, 'remote');
    assert.equal(leg.end?.sipStatus, 200);
  });

  test('hangup after answer sends BYE and resolves once the leg has ended, with the app’s cause', async () => {
    const { leg, session } = setup();
    await leg.answer();
    await leg.hangup('normal-clearing');
    assert.deepEqual(session.sent, ['200', 'BYE']);
    assert.equal(leg.state, 'ended');
    assert.equal(leg.end?.by, 'local');
  });

  test('hangup before answer refuses with the cause’s status (user-busy → 486)', async () => {
    const { leg, session } = setup();
    await leg.hangup('user-busy');
    assert.deepEqual(session.sent, ['486']);
    assert.equal(leg.end?.cause, 'user-busy');
  });

  test('hold plays music on hold in a loop without barge-in; unhold stops it', async () => {
    const { leg, media } = setup();
    await leg.answer();
    assert.ok((await leg.hold()).ok);
    assert.deepEqual(media.plays[0]!.ids, ['moh']);
    assert.equal(media.plays[0]!.loop, true);
    assert.equal(media.plays[0]!.bargeIn, false);
    assert.ok((await leg.unhold()).ok);
    assert.equal(media.stops, 1);
  });

  test('record before the answer is refused; after it, a recording of its own on the leg’s media, stopped when the leg ends', async () => {
    const { leg, media, session } = setup();
    const early = leg.record();
    assert.equal(early.ok, false);
    if (!early.ok) assert.equal(early.error.code, 'EDGE_ERR_CALL_LEG_STATE');
    assert.ok((await leg.answer()).ok);
    const r = leg.record({ maxDurationMs: 60_000 });
    assert.ok(r.ok);
    assert.deepEqual(media.recordings, [r.value.recordingId]);
    assert.match(r.value.recordingId, /^[A-Za-z0-9_-]+-rec1$/, 'usable as a file name');
    session.callerLeaves();
    assert.equal(leg.state, 'ended');
    assert.deepEqual(media.recordStops, [r.value.recordingId], 'the leg’s end stops it');
    assert.equal((await r.value.done).path, `/rec/${r.value.recordingId}.wav`);
  });
});

describe('running an app on a leg', () => {
  test('an app that throws: the caller is refused with 503, not left ringing', async () => {
    const { leg, session, call } = setup();
    await runLegApp(
      leg,
      call,
      () => {
        throw new Error('app bug');
      },
      logger,
    );
    assert.deepEqual(session.sent, ['503']);
    assert.equal(leg.end?.cause, 'temporary-failure');
  });

  test('an app that throws after answer: BYE', async () => {
    const { leg, session, call } = setup();
    await runLegApp(
      leg,
      call,
      async (l) => {
        await l.answer();
        throw new Error('app bug');
      },
      logger,
    );
    assert.deepEqual(session.sent, ['200', 'BYE']);
  });

  test('an app that returns with the leg up: the leg is hung up (no leg outlives its app)', async () => {
    const { leg, session, call } = setup();
    await runLegApp(leg, call, async (l) => void (await l.answer()), logger);
    assert.deepEqual(session.sent, ['200', 'BYE']);
    assert.equal(leg.end?.cause, 'normal-clearing');
  });

  test('waitOnLeg ends early when the leg ends and leaves no timer', async () => {
    const { leg, session, clock } = setup();
    const w = waitOnLeg(leg, clock, 'pause', 10_000);
    session.callerLeaves();
    assert.equal(await w, 'ended');
    assert.deepEqual(clock.armed(), []);
    const { leg: leg2, clock: clock2 } = setup();
    const w2 = waitOnLeg(leg2, clock2, 'pause', 100);
    clock2.advance(100);
    assert.equal(await w2, 'elapsed');
  });
});
