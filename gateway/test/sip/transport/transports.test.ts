import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect as tcpConnect, createServer as createTcpServer, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { MetricsRegistry } from '../../../src/core/metrics.ts';
import { EdgeError, ErrorCodes } from '../../../src/core/errors.ts';
import { createResponse, parseMessage, parseVia } from '../../../src/sip/message/index.ts';
import type { SipEndpoint, SipMessage, SipRequest } from '../../../src/sip/message/types.ts';
import { SipTransports, type SipTransportOptions } from '../../../src/sip/transport/transports.ts';
import { ensureCertificate } from '../../../src/sip/transport/certificate.ts';
import { responseDestination } from '../../../src/sip/message/via-routing.ts';

const host = '127.0.0.1';

function request(opts: {
  via: string;
  method?: string;
  body?: string;
  contentLength?: boolean;
  extra?: string;
}): string {
  const body = opts.body ?? '';
  const method = opts.method ?? 'OPTIONS';
  return (
    `${method} sip:edgeline@${host} SIP/2.0\r\n` +
    `Via: ${opts.via}\r\n` +
    'Max-Forwards: 70\r\n' +
    `From: <sip:alice@${host}>;tag=a1\r\n` +
    `To: <sip:edgeline@${host}>\r\n` +
    `Call-ID: ${Math.random().toString(16).slice(2)}@${host}\r\n` +
    `CSeq: 1 ${method}\r\n` +
    (opts.extra ?? '') +
    (opts.contentLength === false ? '' : `Content-Length: ${Buffer.byteLength(body)}\r\n`) +
    `\r\n${body}`
  );
}

interface Harness {
  t: SipTransports;
  metrics: MetricsRegistry;
  inbox: Array<{ msg: SipMessage; source: SipEndpoint }>;
  next(): Promise<{ msg: SipMessage; source: SipEndpoint }>;
}

async function start(opts: Partial<SipTransportOptions> = {}): Promise<Harness> {
  const metrics = new MetricsRegistry();
  const t = await SipTransports.listen({ host, udpPort: 0, tcpPort: 0, tlsPort: 0, metrics, ...opts });
  const inbox: Harness['inbox'] = [];
  const waiters: Array<(m: { msg: SipMessage; source: SipEndpoint }) => void> = [];
  t.onMessage = (msg, source) => {
    const w = waiters.shift();
    if (w) w({ msg, source });
    else inbox.push({ msg, source });
  };
  const next = () => {
    const queued = inbox.shift();
    return queued
      ? Promise.resolve(queued)
      : new Promise<{ msg: SipMessage; source: SipEndpoint }>((resolve) => waiters.push(resolve));
  };
  return { t, metrics, inbox, next };
}

async function udpClient(): Promise<UdpSocket & { port: number }> {
  const s = createSocket('udp4');
  s.bind(0, host);
  await once(s, 'listening');
  return Object.assign(s, { port: s.address().port });
}

function nextDatagram(s: UdpSocket, timeoutMs = 2000): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      s.off('message', onMsg);
      resolve(undefined);
    }, timeoutMs);
    const onMsg = (buf: Buffer) => {
      clearTimeout(timer);
      resolve(buf);
    };
    s.once('message', onMsg);
  });
}

/** A stream peer that records everything it reads and when the server closed. */
async function streamClient(port: number): Promise<{
  socket: Socket;
  received: () => string;
  closed: Promise<void>;
  waitFor: (re: RegExp) => Promise<string>;
}> {
  const socket = tcpConnect({ host, port });
  await once(socket, 'connect');
  return recordStream(socket);
}

function recordStream(socket: Socket) {
  let data = '';
  const watchers: Array<() => void> = [];
  socket.on('data', (c: Buffer) => {
    data += c.toString('latin1');
    for (const w of watchers.splice(0)) w();
  });
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const waitFor = (re: RegExp) =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        if (re.test(data)) resolve(data);
        else watchers.push(check);
      };
      void closed.then(() =>
        re.test(data)
          ? resolve(data)
          : reject(new Error(`closed before ${String(re)}; got ${JSON.stringify(data)}`)),
      );
      check();
    });
  return { socket, received: () => data, closed, waitFor };
}

function topVia(msg: SipMessage) {
  const v = msg.headers.getList('via')[0];
  assert.ok(v);
  const parsed = parseVia(v);
  assert.ok(parsed.ok);
  return parsed.value;
}

void describe('SIP over UDP', () => {
  let h: Harness;
  let client: UdpSocket & { port: number };
  before(async () => {
    h = await start({ maxMessageBytes: 4096 });
    client = await udpClient();
  });
  after(async () => {
    client.close();
    await h.t.close();
  });

  const stampCases: Array<{
    rule: string;
    via: (clientPort: number) => string;
    received: string | undefined;
    rport: string | null | undefined;
  }> = [
    {
      rule: 'MUST add received when sent-by differs from the packet source (RFC 3261 §18.2.1)',
      via: () => 'SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKdiff',
      received: host,
      rport: undefined,
    },
    {
      rule: 'MUST add received when sent-by is a domain name (RFC 3261 §18.2.1)',
      via: () => 'SIP/2.0/UDP phone.example.com;branch=z9hG4bKname',
      received: host,
      rport: undefined,
    },
    {
      rule: 'MUST NOT add received when sent-by equals the source address and rport is absent',
      via: (p) => `SIP/2.0/UDP ${host}:${p};branch=z9hG4bKsame`,
      received: undefined,
      rport: undefined,
    },
    {
      rule: 'MUST set rport to the source port and add received even when equal (RFC 3581 §4)',
      via: () => `SIP/2.0/UDP ${host}:5999;rport;branch=z9hG4bKrport`,
      received: host,
      rport: 'client',
    },
  ];
  for (const c of stampCases) {
    void test(c.rule, async () => {
      client.send(
        request({ via: c.via(client.port) + ', SIP/2.0/UDP 198.51.100.7;branch=z9hG4bKlower' }),
        h.t.localSentBy('udp').port,
        host,
      );
      const { msg, source } = await h.next();
      assert.equal(msg.kind, 'request');
      assert.deepEqual(
        { transport: source.transport, address: source.address, port: source.port },
        { transport: 'udp', address: host, port: client.port },
      );
      const via = topVia(msg);
      assert.equal(via.params.get('received'), c.received);
      assert.equal(via.params.get('rport'), c.rport === 'client' ? String(client.port) : c.rport);
      assert.equal(
        msg.headers.getList('via')[1],
        'SIP/2.0/UDP 198.51.100.7;branch=z9hG4bKlower',
        'the rest of the Via header is untouched',
      );
    });
  }

  void test('MUST send the response to received:rport (RFC 3581 §4)', async () => {
    client.send(
      request({ via: 'SIP/2.0/UDP 192.0.2.10:5060;rport;branch=z9hG4bKresp' }),
      h.t.localSentBy('udp').port,
      host,
    );
    const { msg, source } = await h.next();
    assert.equal(msg.kind, 'request');
    const res = createResponse(msg, 200);
    const routed = responseDestination(msg, source);
    assert.ok(routed.ok);
    const dest = routed.value;
    assert.deepEqual(dest, { transport: 'udp', address: host, port: client.port });
    const answer = nextDatagram(client);
    h.t.send(res, dest);
    const buf = await answer;
    assert.ok(buf);
    const parsed = parseMessage(buf);
    assert.ok(parsed.ok && parsed.value.kind === 'response' && parsed.value.status === 200);
    assert.equal(
      h.metrics.counter('edgeline_sip_messages_sent_total', '').get({ transport: 'udp' }) >= 1,
      true,
    );
  });

  void test('MUST count and drop an unparseable datagram without answering or crashing', async () => {
    const before = h.metrics
      .counter('edgeline_sip_parse_errors_total', '')
      .get({ transport: 'udp', reason: 'EDGE_ERR_SIP_PARSE' });
    const answer = nextDatagram(client, 300);
    client.send(Buffer.from([0x00, 0xff, 0x13, 0x37, 0x0d, 0x0a]), h.t.localSentBy('udp').port, host);
    assert.equal(await answer, undefined);
    assert.equal(
      h.metrics
        .counter('edgeline_sip_parse_errors_total', '')
        .get({ transport: 'udp', reason: 'EDGE_ERR_SIP_PARSE' }),
      before + 1,
    );
    client.send(
      request({ via: 'SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKafter' }),
      h.t.localSentBy('udp').port,
      host,
    );
    assert.equal((await h.next()).msg.kind, 'request', 'the socket still serves after garbage');
  });

  void test('MUST answer 400 to a malformed request whose start line and Via parse', async () => {
    const answer = nextDatagram(client);
    const bad = request({
      via: `SIP/2.0/UDP ${host}:${client.port};branch=z9hG4bKbad`,
      extra: 'this is not a header\r\n',
    });
    client.send(bad, h.t.localSentBy('udp').port, host);
    const buf = await answer;
    assert.ok(buf, 'an answer arrives');
    const parsed = parseMessage(buf);
    assert.ok(parsed.ok && parsed.value.kind === 'response');
    assert.equal(parsed.value.status, 400);
    assert.match(parsed.value.headers.get('via') ?? '', /z9hG4bKbad/);
    assert.equal(h.inbox.length, 0, 'the malformed request never reaches the transaction layer');
  });

  void test('MUST drop and count a datagram larger than maxMessageBytes', async () => {
    const big = request({ via: 'SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKbig', body: 'x'.repeat(5000) });
    client.send(big, h.t.localSentBy('udp').port, host);
    client.send(
      request({ via: 'SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKsmall' }),
      h.t.localSentBy('udp').port,
      host,
    );
    const { msg } = await h.next();
    assert.match(msg.headers.get('via') ?? '', /z9hG4bKsmall/);
    assert.equal(h.metrics.counter('edgeline_sip_oversize_dropped_total', '').get({ transport: 'udp' }), 1);
  });

  void test('MUST survive ICMP port unreachable after sending to a closed port', async () => {
    const gone = await udpClient();
    const port = gone.port;
    gone.close();
    h.t.sendRaw(Buffer.from('OPTIONS sip:x SIP/2.0\r\n\r\n'), { transport: 'udp', address: host, port });
    h.t.sendRaw(Buffer.from('OPTIONS sip:x SIP/2.0\r\n\r\n'), { transport: 'udp', address: host, port });
    client.send(
      request({ via: 'SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKicmp' }),
      h.t.localSentBy('udp').port,
      host,
    );
    assert.match((await h.next()).msg.headers.get('via') ?? '', /z9hG4bKicmp/);
  });
});

void describe('SIP over TCP', () => {
  let h: Harness;
  before(async () => {
    h = await start({ maxMessageBytes: 2048, idleTimeoutMs: 5000 });
  });
  after(async () => {
    await h.t.close();
  });
  const port = () => h.t.localSentBy('tcp').port;

  void test('MUST frame two pipelined messages delivered in one write', async () => {
    const c = await streamClient(port());
    c.socket.write(
      request({ via: 'SIP/2.0/TCP 192.0.2.1;branch=z9hG4bKp1', body: 'v=0\r\n' }) +
        request({ via: 'SIP/2.0/TCP 192.0.2.1;branch=z9hG4bKp2' }),
    );
    const first = await h.next();
    const second = await h.next();
    assert.match(first.msg.headers.get('via') ?? '', /z9hG4bKp1/);
    assert.equal(first.msg.body.toString(), 'v=0\r\n');
    assert.match(second.msg.headers.get('via') ?? '', /z9hG4bKp2/);
    assert.equal(first.source.transport, 'tcp');
    assert.ok(first.source.connectionId);
    assert.equal(first.source.connectionId, second.source.connectionId);
    assert.equal(topVia(first.msg).params.get('received'), host);
    c.socket.destroy();
  });

  void test('MUST reassemble one message split across three writes', async () => {
    const c = await streamClient(port());
    const text = request({ via: 'SIP/2.0/TCP 192.0.2.1;branch=z9hG4bKsplit', body: 'hello' });
    const parts = [text.slice(0, 7), text.slice(7, text.length - 3), text.slice(text.length - 3)];
    for (const p of parts) {
      c.socket.write(p);
      await new Promise((r) => setTimeout(r, 20));
    }
    const { msg } = await h.next();
    assert.equal(msg.body.toString(), 'hello');
    c.socket.destroy();
  });

  void test('MUST answer a double-CRLF ping with a single CRLF (RFC 5626 §3.5.1)', async () => {
    const c = await streamClient(port());
    c.socket.write('\r\n\r\n');
    assert.equal(await c.waitFor(/\r\n/), '\r\n');
    c.socket.destroy();
  });

  void test('MUST answer 400 and close when Content-Length is missing on a stream (RFC 3261 §18.3)', async () => {
    const c = await streamClient(port());
    c.socket.write(request({ via: 'SIP/2.0/TCP 192.0.2.1;branch=z9hG4bKnocl', contentLength: false }));
    const text = await c.waitFor(/^SIP\/2\.0 400 /);
    assert.match(text, /z9hG4bKnocl/);
    await c.closed;
    assert.equal(
      h.metrics
        .counter('edgeline_sip_parse_errors_total', '')
        .get({ transport: 'tcp', reason: 'missing-content-length' }),
      1,
    );
  });

  void test('MUST answer 413 and close when Content-Length exceeds the limit', async () => {
    const c = await streamClient(port());
    c.socket.write(
      request({
        via: 'SIP/2.0/TCP 192.0.2.1;branch=z9hG4bKbig',
        contentLength: false,
        extra: 'Content-Length: 1000000\r\n',
      }),
    );
    await c.waitFor(/^SIP\/2\.0 413 /);
    await c.closed;
  });

  void test('MUST close a connection whose header section outgrows the limit', async () => {
    const c = await streamClient(port());
    c.socket.write(`OPTIONS sip:edgeline@${host} SIP/2.0\r\n`);
    for (let i = 0; i < 60 && !c.socket.destroyed; i++)
      c.socket.write(`X-Filler-${i}: ${'y'.repeat(60)}\r\n`);
    await c.closed;
    assert.equal(
      h.metrics.counter('edgeline_sip_oversize_dropped_total', '').get({ transport: 'tcp' }) >= 1,
      true,
    );
  });

  void test('MUST answer 400 on the same connection for a malformed request that frames', async () => {
    const c = await streamClient(port());
    c.socket.write(request({ via: 'SIP/2.0/TCP 192.0.2.1;branch=z9hG4bKmal', extra: 'not a header\r\n' }));
    await c.waitFor(/^SIP\/2\.0 400 [\s\S]*z9hG4bKmal/);
    c.socket.write(request({ via: 'SIP/2.0/TCP 192.0.2.1;branch=z9hG4bKgood' }));
    assert.match((await h.next()).msg.headers.get('via') ?? '', /z9hG4bKgood/, 'the connection stays usable');
    c.socket.destroy();
  });

  void test('MUST send a response on the connection the request came on (RFC 3261 §18.2.2)', async () => {
    const c = await streamClient(port());
    c.socket.write(request({ via: 'SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bKback' }));
    const { msg, source } = await h.next();
    assert.equal(msg.kind, 'request');
    const res = createResponse(msg, 200);
    const routed = responseDestination(msg, source);
    assert.ok(routed.ok);
    assert.equal(routed.value.connectionId, source.connectionId);
    h.t.send(res, routed.value);
    await c.waitFor(/^SIP\/2\.0 200 [\s\S]*z9hG4bKback/);
    c.socket.destroy();
  });

  void test('MUST open one connection to a peer and reuse it for the next message', async () => {
    const peerSockets: Socket[] = [];
    const server = createTcpServer((s) => peerSockets.push(s));
    server.listen(0, host);
    await once(server, 'listening');
    const addr = server.address();
    assert.ok(addr && typeof addr === 'object');
    const dest: SipEndpoint = { transport: 'tcp', address: host, port: addr.port };
    const msg: SipRequest = {
      kind: 'request',
      method: 'OPTIONS',
      uri: `sip:peer@${host}`,
      version: 'SIP/2.0',
      headers: (await parseRequestHeaders()).headers,
      body: Buffer.alloc(0),
    };
    h.t.send(msg, dest);
    h.t.send(msg, dest);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(peerSockets.length, 1);
    const peer = recordStream(peerSockets[0] as Socket);
    await peer.waitFor(/^OPTIONS [\s\S]*\r\nOPTIONS /);
    // Answer on that connection: the transport reads responses on connections it opened.
    (peerSockets[0] as Socket).write(
      `SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP ${host};branch=z9hG4bKout\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>;tag=2\r\nCall-ID: out\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`,
    );
    const { msg: res, source } = await h.next();
    assert.equal(res.kind, 'response');
    assert.equal(source.port, addr.port);
    for (const s of peerSockets) s.destroy();
    server.close();
  });

  void test('MUST close a silent connection after idleTimeoutMs, even mid-message (slowloris)', async () => {
    const short = await start({ idleTimeoutMs: 150 });
    try {
      const c = await streamClient(short.t.localSentBy('tcp').port);
      c.socket.write('OPTIONS sip:edgeline@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP');
      const t0 = Date.now();
      await c.closed;
      assert.ok(Date.now() - t0 < 2000);
      assert.equal((short.t.dump()['connections'] as unknown[]).length, 0);
    } finally {
      await short.t.close();
    }
  });

  void test('MUST close a connection that trickles a message beyond partialMessageTimeoutMs', async () => {
    const short = await start({ idleTimeoutMs: 5000, partialMessageTimeoutMs: 200 });
    try {
      const c = await streamClient(short.t.localSentBy('tcp').port);
      const trickle = setInterval(() => c.socket.write('X'), 40);
      c.socket.write('OPTIONS sip:edgeline@127.0.0.1 SIP/2.0\r\nX-Slow: ');
      await c.closed;
      clearInterval(trickle);
    } finally {
      await short.t.close();
    }
  });

  void test('MUST refuse connections beyond maxConnections', async () => {
    const small = await start({ maxConnections: 1 });
    try {
      const first = await streamClient(small.t.localSentBy('tcp').port);
      const second = await streamClient(small.t.localSentBy('tcp').port);
      await second.closed;
      assert.equal(first.socket.destroyed, false);
      assert.equal(
        small.metrics.counter('edgeline_sip_connections_refused_total', '').get({ transport: 'tcp' }),
        1,
      );
      assert.equal(
        small.metrics.gauge('edgeline_sip_transport_connections', '').get({ transport: 'tcp' }),
        1,
      );
      first.socket.destroy();
    } finally {
      await small.t.close();
    }
  });
});

async function parseRequestHeaders(): Promise<SipRequest> {
  const parsed = parseMessage(Buffer.from(request({ via: `SIP/2.0/TCP ${host};branch=z9hG4bKout` })));
  assert.ok(parsed.ok && parsed.value.kind === 'request');
  return Promise.resolve(parsed.value);
}

void describe('SIP over TLS', () => {
  let dataDir: string;
  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'edgeline-tls-'));
  });
  after(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  void test('ensureCertificate generates a self-signed pair once, key mode 0600, then reuses it', async () => {
    const first = await ensureCertificate(dataDir);
    assert.equal(first.generated, true);
    assert.match(first.cert, /BEGIN CERTIFICATE/);
    assert.equal((await stat(join(dataDir, 'tls', 'key.pem'))).mode & 0o777, 0o600);
    const second = await ensureCertificate(dataDir);
    assert.equal(second.generated, false);
    assert.equal(second.cert, first.cert);
  });

  void test('MUST carry a request and its response over TLS with the generated certificate', async () => {
    const tls = await ensureCertificate(dataDir);
    const h = await start({ tls: { cert: tls.cert, key: tls.key } });
    try {
      const socket = tlsConnect({ host, port: h.t.localSentBy('tls').port, rejectUnauthorized: false });
      await once(socket, 'secureConnect');
      assert.equal(socket.getPeerCertificate().subject.CN, 'edgeline');
      const c = recordStream(socket);
      socket.write(request({ via: 'SIP/2.0/TLS 192.0.2.1;branch=z9hG4bKtls' }));
      const { msg, source } = await h.next();
      assert.equal(source.transport, 'tls');
      assert.equal(msg.kind, 'request');
      h.t.send(createResponse(msg, 200), source);
      await c.waitFor(/^SIP\/2\.0 200 [\s\S]*z9hG4bKtls/);
      socket.destroy();
    } finally {
      await h.t.close();
    }
  });
});

void describe('binding', () => {
  const protocols = ['udp', 'tcp'] as const;
  for (const protocol of protocols) {
    void test(`MUST reject with PORT_IN_USE naming the port when ${protocol} is taken, releasing the rest`, async () => {
      const holder = await start();
      const port = holder.t.localSentBy(protocol).port;
      const probe = await udpClient();
      const freeUdpPort = probe.port;
      probe.close();
      try {
        await assert.rejects(
          SipTransports.listen({
            host,
            udpPort: protocol === 'udp' ? port : freeUdpPort,
            tcpPort: protocol === 'tcp' ? port : 0,
            tlsPort: 0,
          }),
          (e: unknown) => {
            assert.ok(e instanceof EdgeError);
            assert.equal(e.code, ErrorCodes.PORT_IN_USE);
            assert.equal(e.message, `SIP port ${port}/${protocol} is already in use`);
            return true;
          },
        );
        if (protocol === 'tcp') {
          const rebind = createSocket('udp4');
          rebind.bind(freeUdpPort, host);
          await once(rebind, 'listening');
          rebind.close();
        }
      } finally {
        await holder.t.close();
      }
    });
  }

  void test('close() frees every port: listening again on the same ports succeeds', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'edgeline-tls-'));
    try {
      const { cert, key } = await ensureCertificate(dir);
      const first = await start({ tls: { cert, key } });
      const ports = {
        udpPort: first.t.localSentBy('udp').port,
        tcpPort: first.t.localSentBy('tcp').port,
        tlsPort: first.t.localSentBy('tls').port,
      };
      const c = await streamClient(ports.tcpPort);
      await first.t.close();
      await c.closed;
      const again = await SipTransports.listen({ host, ...ports, tls: { cert, key } });
      assert.deepEqual(
        {
          udpPort: again.localSentBy('udp').port,
          tcpPort: again.localSentBy('tcp').port,
          tlsPort: again.localSentBy('tls').port,
        },
        ports,
      );
      await again.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
