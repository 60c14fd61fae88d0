import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMessage, parseVia } from '../../../src/sip/message/index.ts';
import type { SipEndpoint, SipRequest } from '../../../src/sip/message/types.ts';
import { responseDestination, stampReceived } from '../../../src/sip/message/via-routing.ts';

function requestWith(lines: string): SipRequest {
  const parsed = parseMessage(
    Buffer.from(
      `OPTIONS sip:e@f SIP/2.0\r\n${lines}From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`,
    ),
  );
  assert.ok(parsed.ok && parsed.value.kind === 'request');
  return parsed.value;
}

void describe('RFC 3261 §18.2.2 / RFC 3581 §4 response destination', () => {
  const tcpSource: SipEndpoint = {
    transport: 'tcp',
    address: '203.0.113.5',
    port: 40001,
    connectionId: 'tcp-7',
  };
  const cases: Array<{ rule: string; via: string; source?: SipEndpoint; expect: SipEndpoint }> = [
    {
      rule: 'MUST send to received:rport when rport was filled in',
      via: 'SIP/2.0/UDP 10.0.0.2:5062;rport=40000;received=203.0.113.5;branch=z9hG4bK1',
      expect: { transport: 'udp', address: '203.0.113.5', port: 40000 },
    },
    {
      rule: 'MUST send to received with the sent-by port when rport is absent',
      via: 'SIP/2.0/UDP 10.0.0.2:5062;received=203.0.113.5;branch=z9hG4bK1',
      expect: { transport: 'udp', address: '203.0.113.5', port: 5062 },
    },
    {
      rule: 'MUST NOT follow maddr (a sender could aim our responses at a third party)',
      via: 'SIP/2.0/UDP 10.0.0.2;maddr=198.51.100.9;branch=z9hG4bK1',
      expect: { transport: 'udp', address: '10.0.0.2', port: 5060 },
    },
    {
      rule: 'MUST send to sent-by, port 5060 by default, when nothing was stamped',
      via: 'SIP/2.0/UDP 10.0.0.2;branch=z9hG4bK1',
      expect: { transport: 'udp', address: '10.0.0.2', port: 5060 },
    },
    {
      rule: 'MUST use the connection the request came on, falling back to received:sent-by port',
      via: 'SIP/2.0/TCP 10.0.0.2:5070;received=203.0.113.5;branch=z9hG4bK1',
      source: tcpSource,
      expect: { transport: 'tcp', address: '203.0.113.5', port: 5070, connectionId: 'tcp-7' },
    },
    {
      rule: 'MUST default a TLS sent-by port to 5061',
      via: 'SIP/2.0/TLS 10.0.0.2;branch=z9hG4bK1',
      expect: { transport: 'tls', address: '10.0.0.2', port: 5061 },
    },
  ];
  const udpSource: SipEndpoint = { transport: 'udp', address: '203.0.113.5', port: 40000 };
  for (const c of cases) {
    void test(c.rule, () => {
      const routed = responseDestination(
        requestWith(`Via: ${c.via}\r\n`),
        c.source ?? { ...udpSource, transport: c.expect.transport },
      );
      assert.ok(routed.ok);
      assert.deepEqual(routed.value, c.expect);
    });
  }
});

void describe('RFC 3261 §18.2.1 received stamping', () => {
  void test('MUST change only the first element of the top Via and keep header order', () => {
    const req = requestWith(
      'Max-Forwards: 70\r\nVia: SIP/2.0/UDP 10.0.0.2;rport;branch=z9hG4bKa ,  SIP/2.0/UDP 10.0.0.3;branch=z9hG4bKb\r\nVia: SIP/2.0/UDP 10.0.0.4;branch=z9hG4bKc\r\n',
    );
    assert.equal(stampReceived(req, { transport: 'udp', address: '203.0.113.5', port: 40000 }), true);
    const names = [...req.headers.entries()].map(([n]) => n);
    assert.deepEqual(names.slice(0, 3), ['max-forwards', 'via', 'via']);
    const lines = req.headers.getLines('via');
    const top = parseVia(req.headers.getList('via')[0] ?? '');
    assert.ok(top.ok);
    assert.equal(top.value.params.get('rport'), '40000');
    assert.equal(top.value.params.get('received'), '203.0.113.5');
    assert.equal(top.value.params.get('branch'), 'z9hG4bKa');
    assert.ok(
      (lines[0] ?? '').endsWith(',  SIP/2.0/UDP 10.0.0.3;branch=z9hG4bKb'),
      'the second element keeps its bytes',
    );
    assert.equal(lines[1], 'SIP/2.0/UDP 10.0.0.4;branch=z9hG4bKc');
  });

  void test('MUST compare an IPv6 sent-by without its brackets', () => {
    const req = requestWith('Via: SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bKa\r\n');
    stampReceived(req, { transport: 'udp', address: '2001:db8::1', port: 5060 });
    assert.doesNotMatch(req.headers.get('via') ?? '', /received/);
  });
});
