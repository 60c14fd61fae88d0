import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  answerDirectionToHeld,
  answerDirectionToHolder,
  heldSide,
  holds,
  offerDirectionToHeld,
  type HoldStream,
} from '../../../src/media/sdp/hold-music.ts';
import type { SdpDirection } from '../../../src/media/sdp/sdp.ts';

const at = { address: '192.0.2.10', port: 4000 };
const s = (direction: SdpDirection): HoldStream => ({ direction, remote: at });
/** RFC 2543 hold: c=0.0.0.0, no address to send to. */
const nullHold: HoldStream = { direction: 'sendrecv', remote: undefined };

describe('music on hold: who is held (RFC 3264 §8.4)', () => {
  const cases: Array<[string, HoldStream, boolean]> = [
    ['sendrecv does not hold', s('sendrecv'), false],
    ['recvonly does not hold', s('recvonly'), false],
    ['sendonly holds', s('sendonly'), true],
    ['inactive holds', s('inactive'), true],
    ['RFC 2543 c=0.0.0.0 holds', nullHold, true],
  ];
  for (const [name, stream, want] of cases) test(name, () => assert.equal(holds(stream), want));

  const exchanges: Array<[string, 'a' | 'b', HoldStream, HoldStream, 'a' | 'b' | undefined]> = [
    ['a offers sendonly, b answers recvonly: b is held', 'a', s('sendonly'), s('recvonly'), 'b'],
    ['b offers sendonly, a answers recvonly: a is held', 'b', s('sendonly'), s('recvonly'), 'a'],
    ['a offers c=0.0.0.0: b is held', 'a', nullHold, s('sendrecv'), 'b'],
    ['a resumes with sendrecv: nobody is held', 'a', s('sendrecv'), s('sendrecv'), undefined],
    ['b (held) offers sendrecv, a answers sendonly: b stays held', 'b', s('sendrecv'), s('sendonly'), 'b'],
    ['both hold (b answers inactive): nobody waits, no music', 'a', s('sendonly'), s('inactive'), undefined],
  ];
  for (const [name, from, offer, answer, want] of exchanges)
    test(name, () => assert.equal(heldSide(from, offer, answer), want));
});

describe('music on hold: directions the gateway writes (RFC 3264 §6.1)', () => {
  test('an inactive hold offer reaches the held party as sendonly; the holder is answered inactive', () => {
    assert.equal(offerDirectionToHeld(s('inactive')), 'sendonly');
    assert.equal(answerDirectionToHolder(s('inactive')), 'inactive');
  });
  test('a sendonly hold offer is relayed as is, and so is its recvonly answer', () => {
    assert.equal(offerDirectionToHeld(s('sendonly')), undefined);
    assert.equal(answerDirectionToHolder(s('sendonly')), undefined);
  });
  const answers: Array<[SdpDirection, SdpDirection, SdpDirection | undefined]> = [
    ['sendrecv', 'inactive', 'sendonly'],
    ['recvonly', 'inactive', 'sendonly'],
    ['sendonly', 'inactive', undefined],
    ['sendrecv', 'sendonly', undefined],
  ];
  for (const [offer, answer, want] of answers)
    test(`held party offers ${offer}, holder answers ${answer}: held party is answered ${want ?? 'as relayed'}`, () =>
      assert.equal(answerDirectionToHeld(s(offer), s(answer)), want));
});
