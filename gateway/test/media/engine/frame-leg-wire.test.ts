import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { test } from 'node:test';
import { silentLogger } from '../../../src/core/log.ts';
import { MediaEngine } from '../../../src/media/engine/engine.ts';

const sdp = (port: number): Buffer =>
  Buffer.from(
    [
      'v=0',
      'o=x 1 1 IN IP4 127.0.0.1',
      's=-',
      'c=IN IP4 127.0.0.1',
      't=0 0',
      `m=audio ${port} RTP/AVP 0 101`,
      'a=rtpmap:0 PCMU/8000',
      'a=rtpmap:101 telephone-event/8000',
      'a=sendrecv',
      '',
    ].join('\r\n'),
  );
const portOf = (b: Buffer): number => Number(/m=audio (\d+)/.exec(b.toString())?.[1]);

test('an anchored leg whose SDP names a frame leg MUST be wired to it in the worker, audio crossing both ways', async () => {
  const lo = 24_000 + 2 * Math.floor(Math.random() * 2000);
  const engine = await MediaEngine.start({
    host: '127.0.0.1',
    rtpPorts: { lo, hi: lo + 40 },
    codecs: ['PCMU', 'telephone-event'],
    deadMediaTimeoutS: 0,
    logger: silentLogger,
    workers: 2,
  });
  const peer = createSocket('udp4');
  try {
    const f = engine.openFrameLeg('pstn-1', {});
    assert.ok(f);
    assert.equal(await f.opened(), true);
    await new Promise<void>((r) => peer.bind(0, '127.0.0.1', () => r()));
    let heard = 0;
    peer.on('message', () => heard++);
    // The PSTN side offers the frame leg's port; the SIP party answers with its own.
    const toSip = engine.relay('c1', 'a', sdp(f.rtpPort));
    assert.ok(Buffer.isBuffer(toSip));
    const toPstn = engine.relay('c1', 'b', sdp(peer.address().port));
    assert.ok(Buffer.isBuffer(toPstn));
    assert.equal(await engine.opened('c1'), true);
    f.start({
      remote: { address: '127.0.0.1', port: portOf(toPstn) },
      law: 'pcmu',
      audioPayloadType: 0,
      telephoneEventPayloadType: 101,
    });
    const pkt = Buffer.alloc(172, 0xff);
    pkt[0] = 0x80;
    pkt[1] = 0;
    pkt.writeUInt32BE(0x1234, 8);
    let pulled = 0;
    for (let seq = 0; seq < 25; seq++) {
      pkt.writeUInt16BE(seq, 2);
      pkt.writeUInt32BE(seq * 160, 4);
      peer.send(pkt, portOf(toSip), '127.0.0.1');
      f.send(new Int16Array(160).fill(1000));
      engine.flushFrames();
      await new Promise((r) => setTimeout(r, 20));
      if (f.pull()) pulled++;
    }
    await new Promise((r) => setTimeout(r, 60));
    const d = await engine.refresh();
    assert.equal(d.frames.wired, 1);
    const call = d.calls[0];
    assert.equal(call?.a.wired, true);
    assert.ok(heard >= 20, `SIP party heard ${heard} packets`);
    assert.ok(pulled >= 18, `line got ${pulled} frames`);
    assert.equal(d.frames.decoderDropped, 0);
    await f.close();
  } finally {
    peer.close();
    await engine.close();
  }
});
