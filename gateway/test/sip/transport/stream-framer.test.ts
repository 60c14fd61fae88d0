import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { StreamFramer, type FrameEvent } from '../../../src/sip/transport/stream-framer.ts';

const options = (body = '') =>
  `OPTIONS sip:edgeline@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bK1\r\nCall-ID: a@b\r\nCSeq: 1 OPTIONS\r\nContent-Length: ${body.length}\r\n\r\n${body}`;

function summary(events: FrameEvent[]): string[] {
  return events.map((e) =>
    e.type === 'message'
      ? `message:${e.bytes.length}`
      : e.type === 'ping'
        ? 'ping'
        : `error:${e.reason}:${e.status}`,
  );
}

function feed(framer: StreamFramer, chunks: string[]): string[] {
  return chunks.flatMap((c) => summary(framer.push(Buffer.from(c, 'latin1'))));
}

void describe('RFC 3261 §18.3 stream framing', () => {
  const one = options('v=0\r\n');
  const cases: Array<{ rule: string; chunks: string[]; expect: string[] }> = [
    { rule: 'MUST frame one message by Content-Length', chunks: [one], expect: [`message:${one.length}`] },
    {
      rule: 'MUST frame two pipelined messages delivered in one read',
      chunks: [one + one],
      expect: [`message:${one.length}`, `message:${one.length}`],
    },
    {
      rule: 'MUST reassemble a message split across three reads',
      chunks: [one.slice(0, 10), one.slice(10, one.length - 3), one.slice(one.length - 3)],
      expect: [`message:${one.length}`],
    },
    { rule: 'MUST wait for the body announced by Content-Length', chunks: [one.slice(0, -2)], expect: [] },
    {
      rule: 'MUST ignore a CRLF before the start-line (RFC 3261 §7.5)',
      chunks: ['\r\n' + one],
      expect: [`message:${one.length}`],
    },
    {
      rule: 'MUST answer a double-CRLF ping between messages (RFC 5626 §3.5.1)',
      chunks: [one + '\r\n\r\n' + one],
      expect: [`message:${one.length}`, 'ping', `message:${one.length}`],
    },
    { rule: 'MUST recognise a ping split across reads', chunks: ['\r\n', '\r', '\n'], expect: ['ping'] },
    {
      rule: 'MUST recognise the compact form l: of Content-Length',
      chunks: [one.replace('Content-Length:', 'l :')],
      expect: [`message:${one.length - 12}`],
    },
    {
      rule: 'MUST refuse a message without Content-Length on a stream with 400',
      chunks: [one.replace('Content-Length: 5\r\n', '')],
      expect: ['error:missing-content-length:400'],
    },
    {
      rule: 'MUST refuse conflicting Content-Length values with 400',
      chunks: [one.replace('Content-Length: 5\r\n', 'Content-Length: 5\r\nl: 6\r\n')],
      expect: ['error:bad-content-length:400'],
    },
    {
      rule: 'MUST refuse a non-numeric Content-Length with 400',
      chunks: [one.replace('Content-Length: 5', 'Content-Length: five')],
      expect: ['error:bad-content-length:400'],
    },
  ];
  for (const c of cases) {
    void test(c.rule, () => {
      assert.deepEqual(feed(new StreamFramer(65535), c.chunks), c.expect);
    });
  }

  void test('MUST refuse a Content-Length beyond the message limit with 413 before reading the body', () => {
    const framer = new StreamFramer(400);
    assert.deepEqual(feed(framer, [options().replace('Content-Length: 0', 'Content-Length: 100000')]), [
      'error:body-too-large:413',
    ]);
    assert.equal(framer.bufferedBytes, 0);
  });

  void test('MUST NOT hold more than the limit when a header section never ends', () => {
    const framer = new StreamFramer(300);
    const out: string[] = [];
    out.push(...feed(framer, ['OPTIONS sip:a@b SIP/2.0\r\n']));
    for (let i = 0; i < 20 && out.length === 0; i++) {
      out.push(...feed(framer, ['X-Filler: ' + 'x'.repeat(40) + '\r\n']));
      assert.ok(framer.bufferedBytes <= 300 || out.length > 0);
    }
    assert.deepEqual(out, ['error:header-too-large:513']);
    assert.deepEqual(feed(framer, [options()]), [], 'a failed framer reads nothing more');
  });

  void test('midMessage is false for keepalive CRLFs and true for a partial message', () => {
    const framer = new StreamFramer(65535);
    framer.push(Buffer.from('\r\n'));
    assert.equal(framer.midMessage, false);
    framer.push(Buffer.from('\r\nOPTIONS sip:a@b SIP/2.0\r\n'));
    assert.equal(framer.midMessage, true);
  });
});
