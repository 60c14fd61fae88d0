import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  answerServiceOffer,
  reanswerServiceOffer,
  remoteOfServiceAnswer,
  serviceOffer,
} from '../../../src/media/sdp/service-sdp.ts';
import { directionOf, parseSdp } from '../../../src/media/sdp/sdp.ts';

const offer = (dir: string, version = 1, addr = '10.0.0.7', port = 40000): Buffer =>
  Buffer.from(
    `v=0\r\no=phone 99 ${version} IN IP4 ${addr}\r\ns=-\r\nc=IN IP4 ${addr}\r\nt=0 0\r\n` +
      `m=audio ${port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=${dir}\r\n`,
  );
const local = { address: '127.0.0.1', rtpPort: 30000 };

function described(sdp: Buffer): { dir: string; version: string; sessId: string; port: number } {
  const p = parseSdp(sdp);
  assert.ok(p.ok);
  const m = p.value.media[0]!;
  return {
    dir: directionOf(m, p.value),
    version: p.value.origin.sessVersion,
    sessId: p.value.origin.sessId,
    port: m.port,
  };
}

describe('service SDP: the offer/answer of legs the gateway terminates', () => {
  const first = answerServiceOffer(offer('sendrecv'), local);
  assert.ok(first.ok);
  const ours = first.value.sdp;

  test('RFC 3264 §8: a re-offer that changes nothing (a session refresh) gets the same description, same version', () => {
    const r = reanswerServiceOffer(ours, offer('sendrecv', 2));
    assert.ok(r.ok);
    assert.deepEqual(r.value, ours);
  });

  test('RFC 3264 §6.1: a hold (sendonly) is answered recvonly, same stream, o= version + 1, same sess-id', () => {
    const r = reanswerServiceOffer(ours, offer('sendonly', 2));
    assert.ok(r.ok);
    const before = described(ours);
    const after = described(r.value);
    assert.equal(after.dir, 'recvonly');
    assert.equal(after.port, before.port);
    assert.equal(after.sessId, before.sessId);
    assert.equal(BigInt(after.version), BigInt(before.version) + 1n);
  });

  test('inactive is answered inactive; the resume after it sendrecv with the version up again', () => {
    const held = reanswerServiceOffer(ours, offer('inactive', 2));
    assert.ok(held.ok);
    assert.equal(described(held.value).dir, 'inactive');
    const resumed = reanswerServiceOffer(held.value, offer('sendrecv', 3));
    assert.ok(resumed.ok);
    assert.equal(described(resumed.value).dir, 'sendrecv');
    assert.equal(BigInt(described(resumed.value).version), BigInt(described(held.value).version) + 1n);
  });

  test('a re-offer that cannot be read, or rejects audio, is refused with 488 (the session stays as it was)', () => {
    const bad = reanswerServiceOffer(ours, Buffer.from('not sdp'));
    assert.equal(bad.ok, false);
    if (!bad.ok) assert.equal(bad.error.status, 488);
    const rejected = reanswerServiceOffer(ours, offer('sendrecv', 2, '10.0.0.7', 0));
    assert.equal(rejected.ok, false);
  });

  test('the answer to our offer gives the peer address; hold address and rejected audio are told apart', () => {
    const ourOffer = serviceOffer(local);
    assert.equal(ourOffer.plan.remote, undefined);
    const r = remoteOfServiceAnswer(offer('sendrecv', 1, '10.0.0.9', 41000));
    assert.ok(r.ok);
    assert.deepEqual(r.value, { address: '10.0.0.9', port: 41000 });
    const hold = remoteOfServiceAnswer(offer('sendrecv', 1, '0.0.0.0', 41000));
    assert.ok(hold.ok);
    assert.equal(hold.value, undefined);
    const refused = remoteOfServiceAnswer(offer('sendrecv', 1, '10.0.0.9', 0));
    assert.equal(refused.ok, false);
    if (!refused.ok) assert.equal(refused.error.status, 488);
  });
});
