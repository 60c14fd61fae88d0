import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Dialog, DialogTable, dialogIdOf } from '../../../src/sip/dialog/dialog.ts';
import { createResponse, parseMessage, serializeMessage } from '../../../src/sip/message/index.ts';
import type { SipRequest, SipResponse } from '../../../src/sip/message/index.ts';

function msg(lines: string[], body = ''): Buffer {
  const withLength = [...lines, `Content-Length: ${Buffer.byteLength(body)}`];
  return Buffer.from(withLength.join('\r\n') + '\r\n\r\n' + body);
}

function req(lines: string[], body = ''): SipRequest {
  const r = parseMessage(msg(lines, body));
  assert.ok(r.ok, r.ok ? '' : r.error.message);
  assert.equal(r.value.kind, 'request');
  return r.value;
}

function res(lines: string[], body = ''): SipResponse {
  const r = parseMessage(msg(lines, body));
  assert.ok(r.ok, r.ok ? '' : r.error.message);
  assert.equal(r.value.kind, 'response');
  return r.value;
}

/** An INVITE from a phone, through two record-routing proxies (p1 first hop, p2 next to us). */
const incomingInvite = (): SipRequest =>
  req([
    'INVITE sip:1000@gw.example.com SIP/2.0',
    'Via: SIP/2.0/UDP p2.example.com;branch=z9hG4bKp2',
    'Via: SIP/2.0/UDP p1.example.com;branch=z9hG4bKp1',
    'Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKphone',
    'Record-Route: <sip:p2.example.com;lr>',
    'Record-Route: <sip:p1.example.com;lr>',
    'Max-Forwards: 68',
    'From: "Alice" <sip:alice@example.com>;tag=a73kszlfl',
    'To: <sip:1000@gw.example.com>',
    'Call-ID: 1j9FpLxk3uxtm8tn@10.0.0.5',
    'CSeq: 1 INVITE',
    'Contact: <sip:alice@10.0.0.5:5060>',
  ]);

function uasDialog(status = 200): Dialog {
  const invite = incomingInvite();
  const response = createResponse(invite, status, undefined, {
    toTag: 'gw1',
    headers: [['Contact', '<sip:gw@192.0.2.1:5060>']],
  });
  const d = Dialog.fromUasResponse(invite, response);
  assert.ok(d.ok);
  return d.value;
}

/** Our INVITE to a carrier, and its 2xx through record-routing proxies (q1 next to us, q2 next to them). */
const outgoingInvite = (): SipRequest =>
  req([
    'INVITE sip:+15551234@carrier.example.net SIP/2.0',
    'Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKgw',
    'Max-Forwards: 70',
    'From: "Front Desk" <sip:100@gw.example.com>;tag=gwtag',
    'To: <sip:+15551234@carrier.example.net>',
    'Call-ID: out-1@192.0.2.1',
    'CSeq: 101 INVITE',
    'Contact: <sip:100@192.0.2.1:5060>',
    'Proxy-Authorization: Digest username="gw", realm="carrier", nonce="n1", uri="sip:+15551234@carrier.example.net", response="0123456789abcdef0123456789abcdef"',
  ]);

function uacResponse(
  status: number,
  recordRoutes: string[],
  contact = '<sip:callee@203.0.113.9:5070>',
): SipResponse {
  return res([
    `SIP/2.0 ${status} ${status === 200 ? 'OK' : 'Ringing'}`,
    'Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKgw',
    ...recordRoutes.map((r) => `Record-Route: ${r}`),
    'From: "Front Desk" <sip:100@gw.example.com>;tag=gwtag',
    'To: <sip:+15551234@carrier.example.net>;tag=cr9',
    'Call-ID: out-1@192.0.2.1',
    'CSeq: 101 INVITE',
    `Contact: ${contact}`,
  ]);
}

function uacDialog(recordRoutes: string[], status = 200): Dialog {
  const d = Dialog.fromUacResponse(outgoingInvite(), uacResponse(status, recordRoutes));
  assert.ok(d.ok);
  return d.value;
}

void describe('dialog creation (RFC 3261 §12.1)', () => {
  void test('UAS: route set = Record-Route of the request in order, remote target = Contact, remote seq = CSeq', () => {
    const d = uasDialog();
    assert.deepEqual(d.routeSet, ['<sip:p2.example.com;lr>', '<sip:p1.example.com;lr>']);
    assert.equal(d.remoteTarget, 'sip:alice@10.0.0.5:5060');
    assert.equal(d.remoteSeq, 1);
    assert.equal(d.localSeq, null);
    assert.deepEqual(d.id, { callId: '1j9FpLxk3uxtm8tn@10.0.0.5', localTag: 'gw1', remoteTag: 'a73kszlfl' });
    assert.equal(d.localUri, 'sip:1000@gw.example.com');
    assert.equal(d.remoteUri, 'sip:alice@example.com');
    assert.equal(d.state, 'confirmed');
    assert.equal(d.secure, false);
  });

  void test('UAS: a 1xx with a To tag creates an early dialog, confirmed when the 2xx is sent', () => {
    const d = uasDialog(180);
    assert.equal(d.state, 'early');
    d.responseSent(createResponse(incomingInvite(), 200, undefined, { toTag: 'gw1' }));
    assert.equal(d.state, 'confirmed');
  });

  void test('UAS: a non-2xx final response to the INVITE ends the early dialog (§12.3)', () => {
    const d = uasDialog(183);
    d.responseSent(createResponse(incomingInvite(), 486, undefined, { toTag: 'gw1' }));
    assert.equal(d.state, 'terminated');
  });

  void test('UAC: route set = Record-Route of the response in REVERSE order, remote target = Contact of the response', () => {
    const d = uacDialog(['<sip:q2.example.net;lr>', '<sip:q1.example.net;lr>']);
    assert.deepEqual(d.routeSet, ['<sip:q1.example.net;lr>', '<sip:q2.example.net;lr>']);
    assert.equal(d.remoteTarget, 'sip:callee@203.0.113.9:5070');
    assert.equal(d.localSeq, 101);
    assert.equal(d.remoteSeq, null);
    assert.deepEqual(d.id, { callId: 'out-1@192.0.2.1', localTag: 'gwtag', remoteTag: 'cr9' });
  });

  void test('UAC: a response without a To tag cannot create a dialog', () => {
    const r = uacResponse(200, []);
    r.headers.set('to', '<sip:+15551234@carrier.example.net>');
    assert.equal(Dialog.fromUacResponse(outgoingInvite(), r).ok, false);
  });

  void test('secure is set only for a SIPS Request-URI over TLS', () => {
    const cases: { uri: string; overTls: boolean; secure: boolean }[] = [
      { uri: 'sips:1000@gw.example.com', overTls: true, secure: true },
      { uri: 'sips:1000@gw.example.com', overTls: false, secure: false },
      { uri: 'sip:1000@gw.example.com', overTls: true, secure: false },
    ];
    for (const c of cases) {
      const invite = incomingInvite();
      invite.uri = c.uri;
      const d = Dialog.fromUasResponse(invite, createResponse(invite, 200, undefined, { toTag: 'x' }), {
        overTls: c.overTls,
      });
      assert.ok(d.ok);
      assert.equal(d.value.secure, c.secure, c.uri);
    }
  });

  void test('UAC: the 2xx confirms an early dialog and the route set is recomputed from it (§13.2.2.4)', () => {
    const d = uacDialog(['<sip:q1.example.net;lr>'], 180);
    assert.equal(d.state, 'early');
    const r = d.receiveResponse(uacResponse(200, ['<sip:q2.example.net;lr>', '<sip:q1.example.net;lr>']));
    assert.ok(r.ok);
    assert.equal(d.state, 'confirmed');
    assert.deepEqual(d.routeSet, ['<sip:q1.example.net;lr>', '<sip:q2.example.net;lr>']);
  });

  void test('UAC: a non-2xx final response to the INVITE terminates the early dialog', () => {
    const d = uacDialog([], 180);
    const r = uacResponse(200, []);
    const failed = { ...r, status: 486, reason: 'Busy Here' };
    d.receiveResponse(failed);
    assert.equal(d.state, 'terminated');
  });
});

void describe('requests within a dialog (RFC 3261 §12.2.1.1)', () => {
  const routing: {
    name: string;
    routeSet: string[];
    requestUri: string;
    routes: string[];
    nextHop: string;
  }[] = [
    {
      name: 'empty route set: Request-URI = remote target, no Route',
      routeSet: [],
      requestUri: 'sip:callee@203.0.113.9:5070',
      routes: [],
      nextHop: 'sip:callee@203.0.113.9:5070',
    },
    {
      name: 'loose routing: Request-URI = remote target, Route = route set in order',
      routeSet: ['<sip:q2.example.net;lr>', '<sip:q1.example.net;lr>'],
      requestUri: 'sip:callee@203.0.113.9:5070',
      routes: ['<sip:q1.example.net;lr>', '<sip:q2.example.net;lr>'],
      nextHop: 'sip:q1.example.net;lr',
    },
    {
      name: 'strict routing: Request-URI = first route (params not allowed stripped), remote target appended as last Route',
      routeSet: ['<sip:q2.example.net;lr>', '<sip:q1.example.net;method=INVITE;transport=udp>'],
      requestUri: 'sip:q1.example.net;transport=udp',
      routes: ['<sip:q2.example.net;lr>', '<sip:callee@203.0.113.9:5070>'],
      nextHop: 'sip:q1.example.net;transport=udp',
    },
  ];
  for (const c of routing) {
    void test(c.name, () => {
      const d = uacDialog(c.routeSet);
      const { request, nextHop } = d.createRequest('BYE');
      assert.equal(request.uri, c.requestUri);
      assert.deepEqual(request.headers.getList('route'), c.routes);
      assert.equal(nextHop, c.nextHop);
    });
  }

  void test('carries From/To with tags, Call-ID, Max-Forwards 70 and no Via', () => {
    const d = uacDialog([]);
    const { request } = d.createRequest('INFO', {
      body: 'Signal=5\r\n',
      contentType: 'application/dtmf-relay',
    });
    assert.equal(request.headers.get('from'), '"Front Desk" <sip:100@gw.example.com>;tag=gwtag');
    assert.equal(request.headers.get('to'), '<sip:+15551234@carrier.example.net>;tag=cr9');
    assert.equal(request.headers.get('call-id'), 'out-1@192.0.2.1');
    assert.equal(request.headers.get('max-forwards'), '70');
    assert.equal(request.headers.has('via'), false);
    assert.equal(request.headers.has('contact'), false, 'INFO is not a target refresh request');
    assert.equal(request.headers.get('content-type'), 'application/dtmf-relay');
    // The built request survives the wire: serialize and parse back.
    request.headers.prepend('via', 'SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKnew');
    const back = parseMessage(serializeMessage(request));
    assert.ok(back.ok);
  });

  void test('MUST use strictly increasing CSeq (+1) except ACK and CANCEL; target refresh requests carry Contact', () => {
    const d = uacDialog([]);
    const seqs: [string, string, boolean][] = [
      ['INVITE', '102 INVITE', true],
      ['CANCEL', '102 CANCEL', false],
      ['UPDATE', '103 UPDATE', true],
      ['BYE', '104 BYE', false],
    ];
    for (const [method, cseq, hasContact] of seqs) {
      const { request } = d.createRequest(method);
      assert.equal(request.headers.get('cseq'), cseq, method);
      assert.equal(request.headers.has('contact'), hasContact, method);
    }
    assert.equal(d.localSeq, 104);
  });

  void test('UAS side: an empty local sequence number gets an initial value below 2^31, then +1', () => {
    const d = uasDialog();
    const first = Number(d.createRequest('INFO').request.headers.get('cseq')?.split(' ')[0]);
    const second = Number(d.createRequest('INFO').request.headers.get('cseq')?.split(' ')[0]);
    assert.ok(first >= 1 && first < 2 ** 31);
    assert.equal(second, first + 1);
    // The UAS builds From from its local URI and tag (the To of the INVITE).
    assert.equal(d.createRequest('BYE').request.headers.get('from'), '<sip:1000@gw.example.com>;tag=gw1');
  });

  void test('the callee MUST NOT send BYE on an early dialog (§15)', () => {
    const d = uasDialog(180);
    assert.throws(() => d.createRequest('BYE'), { code: 'EDGE_ERR_SIP_DIALOG_STATE' });
  });

  void test('ACK for a 2xx: CSeq number of the INVITE, method ACK, same Route set, INVITE credentials copied', () => {
    const d = uacDialog(['<sip:q2.example.net;lr>', '<sip:q1.example.net;lr>']);
    const ack = d.createAck(outgoingInvite());
    assert.ok(ack.ok);
    const { request, nextHop } = ack.value;
    assert.equal(request.method, 'ACK');
    assert.equal(request.uri, 'sip:callee@203.0.113.9:5070');
    assert.equal(request.headers.get('cseq'), '101 ACK');
    assert.deepEqual(request.headers.getList('route'), [
      '<sip:q1.example.net;lr>',
      '<sip:q2.example.net;lr>',
    ]);
    assert.match(request.headers.get('proxy-authorization') ?? '', /^Digest username="gw"/);
    assert.equal(request.headers.has('via'), false, 'the caller adds a Via with a new branch');
    assert.equal(nextHop, 'sip:q1.example.net;lr');
    assert.equal(d.localSeq, 101, 'the ACK does not consume a sequence number');
  });

  void test('ACK for a re-INVITE uses that re-INVITE’s CSeq and may carry the answer', () => {
    const d = uacDialog([]);
    const reinvite = d.createRequest('INVITE').request;
    const ack = d.createAck(reinvite, { body: 'v=0\r\n', contentType: 'application/sdp' });
    assert.ok(ack.ok);
    assert.equal(ack.value.request.headers.get('cseq'), '102 ACK');
    assert.equal(ack.value.request.headers.get('content-type'), 'application/sdp');
  });
});

void describe('requests received within a dialog (RFC 3261 §12.2.2)', () => {
  function inDialog(method: string, cseq: number, contact?: string): SipRequest {
    return req([
      `${method} sip:gw@192.0.2.1:5060 SIP/2.0`,
      'Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK' + method + String(cseq),
      'Max-Forwards: 70',
      'From: "Alice" <sip:alice@example.com>;tag=a73kszlfl',
      'To: <sip:1000@gw.example.com>;tag=gw1',
      'Call-ID: 1j9FpLxk3uxtm8tn@10.0.0.5',
      `CSeq: ${cseq} ${method}`,
      ...(contact ? [`Contact: ${contact}`] : []),
    ]);
  }

  void test('MUST reject a request with a CSeq lower than the remote sequence number with 500', () => {
    const d = uasDialog();
    const cases: [string, number, boolean | number][] = [
      ['INFO', 5, true],
      ['INFO', 3, 500],
      ['INFO', 5, true],
      ['ACK', 1, true],
      ['BYE', 6, true],
    ];
    for (const [method, cseq, expect] of cases) {
      const r = d.receiveRequest(inDialog(method, cseq));
      if (expect === true) assert.ok(r.ok, `${method} ${cseq}`);
      else assert.deepEqual(r, { ok: false, status: expect, reason: 'Server Internal Error' });
    }
    assert.equal(d.remoteSeq, 6);
    assert.equal(d.state, 'terminated', 'BYE ends the dialog');
    const after = d.receiveRequest(inDialog('INFO', 7));
    assert.equal(after.ok ? 0 : after.status, 481);
  });

  void test('target refresh: a re-INVITE or UPDATE with Contact replaces the remote target; INFO does not', () => {
    const d = uasDialog();
    assert.ok(d.receiveRequest(inDialog('INFO', 2, '<sip:alice@10.0.0.99>')).ok);
    assert.equal(d.remoteTarget, 'sip:alice@10.0.0.5:5060');
    assert.ok(d.receiveRequest(inDialog('INVITE', 3, '<sip:alice@10.0.0.6:5062>')).ok);
    assert.equal(d.remoteTarget, 'sip:alice@10.0.0.6:5062');
    assert.ok(d.receiveRequest(inDialog('UPDATE', 4, '"A" <sip:alice@10.0.0.7>;expires=60')).ok);
    assert.equal(d.remoteTarget, 'sip:alice@10.0.0.7');
  });

  void test('a 2xx to a re-INVITE answered from this dialog carries our Contact and To tag', () => {
    const d = uasDialog();
    const reinvite = inDialog('INVITE', 2, '<sip:alice@10.0.0.6>');
    const r = d.createResponse(reinvite, 200);
    assert.equal(r.headers.get('contact'), '<sip:gw@192.0.2.1:5060>');
    assert.equal(r.headers.get('to'), '<sip:1000@gw.example.com>;tag=gw1');
  });

  void test('a request for another dialog is answered 481', () => {
    const d = uasDialog();
    const other = inDialog('BYE', 9);
    other.headers.set('to', '<sip:1000@gw.example.com>;tag=other');
    const r = d.receiveRequest(other);
    assert.equal(r.ok ? 0 : r.status, 481);
    assert.equal(d.state, 'confirmed');
  });
});

void describe('responses within a dialog (RFC 3261 §12.2.1.2)', () => {
  function response(status: number, cseq: string, contact?: string): SipResponse {
    return res([
      `SIP/2.0 ${status} X`,
      'Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKx',
      'From: "Front Desk" <sip:100@gw.example.com>;tag=gwtag',
      'To: <sip:+15551234@carrier.example.net>;tag=cr9',
      'Call-ID: out-1@192.0.2.1',
      `CSeq: ${cseq}`,
      ...(contact ? [`Contact: ${contact}`] : []),
    ]);
  }

  void test('a 2xx to a re-INVITE or UPDATE replaces the remote target; a 4xx does not', () => {
    const d = uacDialog([]);
    d.receiveResponse(response(491, '102 INVITE', '<sip:callee@198.51.100.1>'));
    assert.equal(d.remoteTarget, 'sip:callee@203.0.113.9:5070');
    d.receiveResponse(response(200, '103 INVITE', '<sip:callee@198.51.100.2>'));
    assert.equal(d.remoteTarget, 'sip:callee@198.51.100.2');
    d.receiveResponse(response(200, '104 UPDATE', '<sip:callee@198.51.100.3>'));
    assert.equal(d.remoteTarget, 'sip:callee@198.51.100.3');
    d.receiveResponse(response(200, '105 INFO', '<sip:callee@198.51.100.4>'));
    assert.equal(d.remoteTarget, 'sip:callee@198.51.100.3');
    assert.equal(d.state, 'confirmed');
  });

  for (const status of [481, 408]) {
    void test(`a ${status} to a request within the dialog terminates it`, () => {
      const d = uacDialog([]);
      d.receiveResponse(response(status, '102 INFO'));
      assert.equal(d.state, 'terminated');
      assert.throws(() => d.createRequest('INFO'), { code: 'EDGE_ERR_SIP_DIALOG_STATE' });
    });
  }
});

void describe('dialog identification and table', () => {
  void test('dialogIdOf takes the local tag from From as UAC and from To as UAS', () => {
    const r = uacResponse(200, []);
    assert.deepEqual(dialogIdOf(r, 'uac'), {
      callId: 'out-1@192.0.2.1',
      localTag: 'gwtag',
      remoteTag: 'cr9',
    });
    assert.deepEqual(dialogIdOf(r, 'uas'), {
      callId: 'out-1@192.0.2.1',
      localTag: 'cr9',
      remoteTag: 'gwtag',
    });
    assert.equal(dialogIdOf(outgoingInvite(), 'uas'), null, 'no To tag yet');
  });

  void test('the table finds dialogs by ID, refuses duplicates and removes', () => {
    const table = new DialogTable({ maxDialogs: 2 });
    const a = uacDialog([]);
    const b = uasDialog();
    assert.ok(table.add(a).ok);
    const dup = table.add(a);
    assert.equal(dup.ok ? '' : dup.error.code, 'EDGE_ERR_SIP_DIALOG_DUPLICATE');
    assert.ok(table.add(b).ok);
    assert.equal(table.findFor(uacResponse(200, []), 'uac'), a);
    assert.equal(table.find(b.id), b);
    assert.equal(table.dump().size, 2);
    assert.ok(table.remove(a.id));
    assert.equal(table.size, 1);
    table.close();
    assert.equal(b.state, 'terminated');
  });

  void test('the table refuses a new dialog when full', () => {
    const table = new DialogTable({ maxDialogs: 1 });
    assert.ok(table.add(uacDialog([])).ok);
    const full = table.add(uasDialog());
    assert.equal(full.ok ? '' : full.error.code, 'EDGE_ERR_SIP_DIALOG_TABLE_FULL');
  });

  void test('dump is plain JSON', () => {
    const d = uacDialog(['<sip:q1.example.net;lr>']);
    const dump = d.dump();
    assert.deepEqual(JSON.parse(JSON.stringify(dump)), dump);
    assert.equal(dump.state, 'confirmed');
  });
});
