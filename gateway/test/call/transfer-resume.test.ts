import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { leftOnHold, TransfereeResume, twoWay } from '../../src/call/transfer-resume.ts';
import { ManualClock } from '../../../base/clock.ts';
import { resumeOfferSdp } from '../../src/media/engine/engine-transfers.ts';
import { SipHeaders, type SipResponse } from '../../src/sip/message/types.ts';
import { parseSdp } from '../../src/media/sdp/sdp.ts';

const sdp = (dir: string, addr = '10.0.0.5', version = '7'): Buffer =>
  Buffer.from(
    `v=0\r\no=gw 42 ${version} IN IP4 ${addr}\r\ns=-\r\nc=IN IP4 ${addr}\r\nt=0 0\r\n` +
      `m=audio 30000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=${dir}\r\n`,
  );

const response = (status: number): SipResponse => ({
  kind: 'response',
  version: 'SIP/2.0',
  status,
  reason: '',
  headers: new SipHeaders(),
  body: Buffer.alloc(0),
});

function harness(o: { ownsCallId?: boolean; busy?: () => boolean; random?: number } = {}) {
  const clock = new ManualClock();
  const sent: Array<(res: SipResponse | undefined) => void> = [];
  const log: string[] = [];
  const machine = new TransfereeResume({
    timers: clock,
    random: () => o.random ?? 0.5,
    ownsCallId: o.ownsCallId ?? false,
    busy: o.busy ?? (() => false),
    send: (final) => {
      sent.push(final);
      log.push(`send@${clock.now()}`);
    },
    resumed: (res) => log.push(`resumed ${res.status}`),
    failed: (cause) => log.push(`failed ${cause}`),
  });
  return { clock, sent, log, machine };
}

describe('resuming a transferee left on hold', () => {
  test('MUST re-offer the same stream with a=sendrecv and the origin version incremented by one (RFC 3264 §8)', () => {
    const out = resumeOfferSdp(sdp('sendonly'), { address: '10.0.0.5', rtpPort: 30000 });
    assert.ok(out);
    const s = parseSdp(out);
    assert.ok(s.ok);
    assert.equal(s.value.origin.sessId, '42');
    assert.equal(s.value.origin.sessVersion, '8');
    const m = s.value.media[0];
    assert.equal(m?.port, 30000);
    assert.deepEqual(m?.formats, ['0', '101']);
    assert.ok(m?.attributes.some((a) => a.name === 'sendrecv'));
    assert.ok(!m?.attributes.some((a) => a.name === 'sendonly'));
  });

  test('MUST write our address back over an RFC 2543 hold (c=0.0.0.0) in the re-offer', () => {
    const out = resumeOfferSdp(sdp('sendrecv', '0.0.0.0'), { address: '10.0.0.5', rtpPort: 30002 });
    assert.ok(out);
    assert.match(out.toString(), /c=IN IP4 10\.0\.0\.5\r\n/);
    assert.match(out.toString(), /m=audio 30002 /);
  });

  const holdCases: Array<{ name: string; sent?: Buffer; received?: Buffer; held: boolean }> = [
    { name: 'both sendrecv', sent: sdp('sendrecv'), received: sdp('sendrecv'), held: false },
    {
      name: 'told sendonly, answered recvonly',
      sent: sdp('sendonly'),
      received: sdp('recvonly'),
      held: true,
    },
    { name: 'told inactive', sent: sdp('inactive'), received: sdp('inactive'), held: true },
    {
      name: 'RFC 2543 hold address',
      sent: sdp('sendrecv', '0.0.0.0'),
      received: sdp('sendrecv'),
      held: true,
    },
    { name: 'nothing known', held: false },
  ];
  for (const c of holdCases)
    test(`a transferee is left on hold when ${c.name}: ${c.held}`, () => {
      assert.equal(leftOnHold(c.sent, c.received), c.held);
    });

  test('the transfer target is offered a two-way stream even when the transferee last answered recvonly', () => {
    assert.match(twoWay(sdp('recvonly')).toString(), /a=sendrecv/);
    assert.doesNotMatch(twoWay(sdp('recvonly')).toString(), /a=recvonly/);
    const already = sdp('sendrecv');
    assert.equal(twoWay(already), already);
  });

  test('a 2xx resumes the transferee', () => {
    const h = harness();
    h.machine.start();
    assert.equal(h.machine.offering, true);
    h.sent[0]?.(response(200));
    assert.deepEqual(h.log, ['send@0', 'resumed 200']);
    assert.equal(h.machine.currentState, 'done');
  });

  const glare: Array<{ name: string; ownsCallId: boolean; random: number; delayMs: number }> = [
    { name: 'not the Call-ID owner, low draw', ownsCallId: false, random: 0, delayMs: 0 },
    { name: 'not the Call-ID owner, high draw', ownsCallId: false, random: 0.999, delayMs: 2000 },
    { name: 'Call-ID owner, low draw', ownsCallId: true, random: 0, delayMs: 2100 },
    { name: 'Call-ID owner, high draw', ownsCallId: true, random: 0.999, delayMs: 4000 },
  ];
  for (const c of glare)
    test(`MUST retry after 491 within the RFC 3261 §14.1 range (${c.name}: ${c.delayMs} ms)`, () => {
      const h = harness({ ownsCallId: c.ownsCallId, random: c.random });
      h.machine.start();
      h.sent[0]?.(response(491));
      assert.equal(h.machine.offering, false, 'a re-INVITE from the transferee is welcome while we wait');
      if (c.delayMs > 0) {
        h.clock.advance(c.delayMs - 1);
        assert.equal(h.sent.length, 1, 'not before the back-off');
        h.clock.advance(1);
      } else h.clock.advance(0);
      assert.equal(h.sent.length, 2);
      h.sent[1]?.(response(200));
      assert.deepEqual(h.log.at(-1), 'resumed 200');
    });

  const failures: Array<{ name: string; res: SipResponse | undefined; cause: RegExp }> = [
    { name: '488 refused', res: response(488), cause: /refused \(488\)/ },
    { name: '481 dialog gone', res: response(481), cause: /refused \(481\)/ },
    { name: 'timeout', res: undefined, cause: /timed out/ },
  ];
  for (const c of failures)
    test(`MUST end the call when the resume fails (${c.name})`, () => {
      const h = harness();
      h.machine.start();
      h.sent[0]?.(c.res);
      assert.match(h.log.at(-1) ?? '', c.cause);
      assert.equal(h.machine.currentState, 'failed');
    });

  test('waits while another offer/answer exchange is under way on the leg, and gives up on endless glare', () => {
    let busy = true;
    const h = harness({ busy: () => busy });
    h.machine.start();
    assert.equal(h.sent.length, 0);
    h.clock.advance(200);
    assert.equal(h.sent.length, 0);
    busy = false;
    h.clock.advance(200);
    assert.equal(h.sent.length, 1);
    for (let i = 0; i < 10 && h.machine.currentState !== 'failed'; i++) {
      h.sent.at(-1)?.(response(491));
      h.clock.advance(2000);
    }
    assert.match(h.log.at(-1) ?? '', /glare/);
  });

  test('close() cancels a pending retry', () => {
    const h = harness();
    h.machine.start();
    h.sent[0]?.(response(491));
    h.machine.close();
    h.clock.advance(5000);
    assert.equal(h.sent.length, 1);
    assert.deepEqual(h.machine.dump(), { state: 'closed', tries: 1 });
  });
});
