/**
 * Hostile input against the real gateway process: garbage, lies and floods on UDP, TCP and TLS.
 * The rule under test is DESIGN §2: "Bad input gets the protocol's answer ... and a counter, never
 * a crash" — and nothing it does may make the gateway lose state or memory it cannot give back.
 *
 * All traffic goes to 127.0.0.1, every loop is bounded in count and time, the PRNG is seeded so a
 * failure replays byte for byte.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { startGateway, type GatewayProcess } from '../peers/gateway-process.ts';
import {
  buildRequest,
  callIdOf,
  headerOf,
  metricSum,
  openTcp,
  openTls,
  openUdp,
  statusOf,
  statusesIn,
  type StreamPeer,
  type UdpPeer,
} from '../peers/raw-sip.ts';

/** mulberry32: small, fast, and the same sequence for the same seed on every machine. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Largest UDP payload over IPv4 (65,535 − 20 IP − 8 UDP): a 70 KB datagram cannot be sent at all. */
const maxUdpPayload = 65_507;

function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

async function metrics(gw: GatewayProcess): Promise<string> {
  const r = await gw.api<string>('GET', '/metrics');
  assert.equal(r.status, 200);
  return r.body;
}

async function status(
  gw: GatewayProcess,
): Promise<{ transactions: { active: Record<string, number> }; transports: { connections: unknown[] } }> {
  const r = await gw.api<{
    transactions: { active: Record<string, number> };
    transports: { connections: unknown[] };
  }>('GET', '/api/status');
  assert.equal(r.status, 200);
  return r.body;
}

/** Send and wait for the first answer carrying the same Call-ID. */
async function ask(
  udp: UdpPeer,
  gw: GatewayProcess,
  message: string | Buffer,
  timeoutMs = 2000,
): Promise<Buffer | undefined> {
  const bytes = typeof message === 'string' ? Buffer.from(message, 'latin1') : message;
  const callId = callIdOf(bytes);
  await udp.send(bytes, gw.sipPort);
  return udp.receive({ timeoutMs, match: (b) => callIdOf(b) === callId });
}

/** An OPTIONS whose header section is built by `mutate` from a sound one. */
function options(
  port: number,
  callId: string,
  extra: string[] = [],
  body?: string,
  contentLength?: string,
): string {
  return buildRequest({ method: 'OPTIONS', viaPort: port, callId, extraHeaders: extra, body, contentLength });
}

describe('hostile input against the running gateway', () => {
  let gw: GatewayProcess;

  before(async () => {
    gw = await startGateway({ demo: true, env: { EDGELINE_LOG_LEVEL: 'info' } });
  });
  after(async () => {
    const diedEarly = gw.proc.exitCode !== null || gw.proc.signalCode !== null;
    const code = await gw.stop();
    assert.ok(
      !diedEarly && code === 0,
      `gateway exited (${String(code)}, ${String(gw.proc.signalCode)}):\n${gw.output().slice(-6000)}`,
    );
  });

  describe('UDP', () => {
    let udp: UdpPeer;
    before(async () => {
      udp = await openUdp();
    });
    after(async () => {
      await udp.close();
    });

    const lies: Array<{ name: string; message: (port: number, id: string) => string; expect: number[] }> = [
      {
        name: 'Content-Length larger than the body',
        message: (p, id) => options(p, id, [], 'abc', '300'),
        expect: [400],
      },
      // RFC 3261 §18.3: "If the message is smaller than Content-Length" ... extra octets are discarded.
      {
        name: 'Content-Length smaller than the body (the rest is ignored)',
        message: (p, id) => options(p, id, ['Content-Type: text/plain'], 'abcdef', '2'),
        expect: [407],
      },
      { name: 'negative Content-Length', message: (p, id) => options(p, id, [], '', '-5'), expect: [400] },
      {
        name: 'non-numeric Content-Length',
        message: (p, id) => options(p, id, [], '', 'twelve'),
        expect: [400],
      },
      {
        name: 'Content-Length beyond 32 bits',
        message: (p, id) => options(p, id, [], '', '99999999999999999999'),
        expect: [400],
      },
      {
        name: 'two Content-Length header fields that disagree',
        message: (p, id) => options(p, id, ['Content-Length: 7'], '', '0'),
        expect: [400],
      },
      {
        name: 'a NUL inside a header value',
        message: (p, id) => options(p, id, ['Subject: a\u0000b']),
        expect: [407],
      },
      {
        name: 'invalid UTF-8 in a display name',
        message: (p, id) => options(p, id, ['Subject: \u00ff\u00fe\u00c3\u0028']),
        expect: [407],
      },
      {
        name: 'a header value of 60 KB',
        message: (p, id) => options(p, id, [`Subject: ${'x'.repeat(60_000)}`]),
        expect: [513],
      },
      {
        name: '1,200 Via header lines',
        message: (p, id) =>
          options(
            p,
            id,
            Array.from({ length: 1200 }, (_, i) => `Via: SIP/2.0/UDP h${i}.invalid;branch=z9hG4bK${i}`),
          ),
        expect: [513],
      },
      {
        name: '4,000 Via values in one header line',
        message: (p, id) =>
          options(p, id, [`Via: ${Array.from({ length: 4000 }, () => 'SIP/2.0/UDP a').join(',')}`]),
        expect: [513],
      },
      {
        name: '2,000 nested angle brackets in To',
        message: (p, id) =>
          buildRequest({ method: 'OPTIONS', viaPort: p, callId: id }).replace(
            /^To: .*$/m,
            `To: ${'<'.repeat(2000)}sip:a@b${'>'.repeat(2000)}`,
          ),
        expect: [400],
      },
      {
        name: '4,000 escaped quotes in a display name',
        message: (p, id) =>
          buildRequest({ method: 'OPTIONS', viaPort: p, callId: id }).replace(
            /^From: /m,
            `From: "${'\\"'.repeat(4000)}" `,
          ),
        expect: [407],
      },
      {
        name: 'an unterminated quote running to the end of the header section',
        message: (p, id) =>
          buildRequest({ method: 'OPTIONS', viaPort: p, callId: id }).replace(
            /^From: /m,
            `From: "${'a'.repeat(3000)} `,
          ),
        expect: [400],
      },
    ];
    for (const c of lies) {
      test(`answers ${c.expect.join('/')} to ${c.name}`, async () => {
        const id = `lie-${Math.random().toString(36).slice(2)}`;
        const bytes = Buffer.from(c.message(udp.port, id), 'latin1');
        assert.ok(bytes.length <= maxUdpPayload, `${bytes.length} bytes do not fit a datagram`);
        const reply = await ask(udp, gw, bytes);
        assert.ok(reply, 'no answer');
        assert.ok(
          c.expect.includes(statusOf(reply) ?? 0),
          `got: ${reply.toString('latin1').split('\r\n')[0] ?? ''}`,
        );
      });
    }

    const methods: Array<{
      name: string;
      message: (port: number) => string;
      expect: number | 'silence';
      header?: [string, RegExp];
    }> = [
      {
        name: 'MUST answer 501 with Allow to an unknown method (RFC 3261 §8.2.1)',
        message: (p) => buildRequest({ method: 'FROBNICATE', viaPort: p }),
        expect: 501,
        header: ['allow', /OPTIONS/],
      },
      {
        name: 'MUST answer 405 with Allow to a known method it does not support (RFC 3261 §8.2.1)',
        message: (p) => buildRequest({ method: 'PUBLISH', viaPort: p }),
        expect: 405,
        header: ['allow', /INVITE/],
      },
      {
        name: 'MUST answer 481 to a BYE for a dialog that does not exist (RFC 3261 §15.1.2)',
        message: (p) => buildRequest({ method: 'BYE', viaPort: p, toTag: 'nosuchdialog' }),
        expect: 481,
      },
      {
        name: 'MUST answer 481 to a re-INVITE for a dialog that does not exist (RFC 3261 §12.2.2)',
        message: (p) => buildRequest({ method: 'INVITE', viaPort: p, toTag: 'nosuchdialog' }),
        expect: 481,
      },
      {
        name: 'MUST answer 481 to a CANCEL that matches no transaction (RFC 3261 §9.2)',
        message: (p) => buildRequest({ method: 'CANCEL', viaPort: p }),
        expect: 481,
      },
      {
        name: 'MUST NOT answer an ACK that matches nothing (RFC 3261 §17.1.1.3)',
        message: (p) => buildRequest({ method: 'ACK', viaPort: p, toTag: 'nosuchdialog' }),
        expect: 'silence',
      },
      {
        name: 'MUST NOT answer an unparseable ACK (RFC 3261 §17.1.1.3)',
        message: (p) => buildRequest({ method: 'ACK', viaPort: p }).replace(/^CSeq: .*$/m, 'CSeq: x ACK'),
        expect: 'silence',
      },
    ];
    for (const c of methods) {
      test(c.name, async () => {
        const reply = await ask(udp, gw, c.message(udp.port), c.expect === 'silence' ? 500 : 2000);
        if (c.expect === 'silence') {
          assert.equal(reply, undefined, `got: ${reply?.toString('latin1').split('\r\n')[0] ?? ''}`);
          return;
        }
        assert.ok(reply, 'no answer');
        assert.equal(statusOf(reply), c.expect, reply.toString('latin1').split('\r\n')[0]);
        if (c.header) assert.match(headerOf(reply, c.header[0]) ?? '', c.header[1]);
      });
    }

    test('5,000 seeded hostile datagrams: the gateway stays up, answers what it can, counts the rest, keeps its memory', async () => {
      const rand = prng(4475);
      const int = (n: number) => Math.floor(rand() * n);
      const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => int(256)));
      const invite = (id: string) =>
        buildRequest({
          method: 'INVITE',
          viaPort: udp.port,
          callId: id,
          extraHeaders: ['Content-Type: application/sdp'],
          body: 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n',
        });
      type Kind = { name: string; answerable: boolean; make: (id: string) => Buffer };
      const kinds: Kind[] = [
        { name: 'random bytes', answerable: false, make: () => bytes(1 + int(1400)) },
        {
          name: 'random text lines',
          answerable: false,
          make: () =>
            Buffer.from(
              Array.from({ length: 1 + int(30) }, () => bytes(int(80)).toString('latin1')).join('\r\n'),
            ),
        },
        {
          name: 'truncated INVITE',
          answerable: false,
          make: (id) => {
            const m = Buffer.from(invite(id));
            return m.subarray(0, 1 + int(m.length - 1));
          },
        },
        {
          name: 'flipped bytes',
          answerable: false,
          make: (id) => {
            const m = Buffer.from(options(udp.port, id));
            for (let k = 0; k < 1 + int(5); k++) m[int(m.length)] = int(256);
            return m;
          },
        },
        {
          name: 'NUL-riddled',
          answerable: true,
          make: (id) =>
            Buffer.from(options(udp.port, id, [`Subject: ${'\u0000x'.repeat(1 + int(200))}`]), 'latin1'),
        },
        {
          name: 'invalid UTF-8',
          answerable: true,
          make: (id) =>
            Buffer.concat([
              Buffer.from(options(udp.port, id, ['X-Junk: ']).replace(/\r\n\r\n$/, ''), 'latin1'),
              bytes(0),
              Buffer.from([0xc3, 0x28, 0xa0, 0xa1, 0xe2, 0x28, 0xa1, 0xf0, 0x28, 0x8c, 0xbc]),
              Buffer.from('\r\n\r\n'),
            ]),
        },
        {
          name: 'huge header',
          answerable: true,
          make: (id) =>
            Buffer.from(options(udp.port, id, [`X-Huge: ${'h'.repeat(9000 + int(50_000))}`]), 'latin1'),
        },
        {
          name: 'max-size datagram',
          answerable: false,
          make: (id) => {
            const head = Buffer.from(options(udp.port, id, [`X-Pad: ${'p'.repeat(100)}`]));
            return Buffer.concat([head, Buffer.alloc(maxUdpPayload - head.length, 0x41)]);
          },
        },
        {
          name: 'many Vias',
          answerable: true,
          make: (id) =>
            Buffer.from(
              options(
                udp.port,
                id,
                Array.from(
                  { length: 300 + int(1000) },
                  (_, i) => `v: SIP/2.0/UDP 192.0.2.${i % 250};branch=z9hG4bK${i}`,
                ),
              ),
              'latin1',
            ),
        },
        {
          name: 'deep nesting',
          answerable: true,
          make: (id) => {
            const d = 1 + int(3000);
            return Buffer.from(
              options(udp.port, id).replace(
                /^To: .*$/m,
                `To: "${'\\"'.repeat(d)}" ${'<'.repeat(d)}sip:x@y${'>'.repeat(d)}`,
              ),
              'latin1',
            );
          },
        },
        {
          name: 'Content-Length lie',
          answerable: true,
          make: (id) =>
            Buffer.from(
              options(udp.port, id, [], 'body', ['-1', '999', 'NaN', '1e3', '0x10', '', ' 4 4'][int(7)]),
              'latin1',
            ),
        },
      ];
      const sent = new Map<string, { kind: string; answerable: boolean }>();
      const tally: Record<string, { sent: number; answered: number }> = {};
      for (const k of kinds) tally[k.name] = { sent: 0, answered: 0 };

      const before = await metrics(gw);
      const parseErrorsBefore = metricSum(before, 'edgeline_sip_parse_errors_total');
      // Warm up allocation (JIT, buffers) so RSS growth measures retention, not start-up.
      await sleep(200);
      const rssBefore = rssKb(gw.proc.pid ?? 0);
      const total = 5000;
      const deadline = Date.now() + 90_000;
      for (let i = 0; i < total && Date.now() < deadline; i++) {
        const kind = kinds[i % kinds.length] ?? kinds[0];
        if (!kind) break;
        const id = `hx-${i}-${kind.name.replace(/\W/g, '')}`;
        const datagram = kind.make(id);
        sent.set(id, { kind: kind.name, answerable: kind.answerable });
        const t = tally[kind.name];
        if (t) t.sent++;
        await udp.send(datagram.subarray(0, maxUdpPayload), gw.sipPort);
        // Paced so the kernel's socket buffer (a few large datagrams deep) is not what decides
        // the outcome: loss there is UDP's, not the gateway's.
        if (datagram.length > 8192) await sleep(3);
        else if (i % 25 === 24) await sleep(5);
      }
      await sleep(1500);
      assert.equal(gw.proc.exitCode, null, `gateway died:\n${gw.output().slice(-4000)}`);
      for (const d of udp.take()) {
        const id = callIdOf(d);
        const s = id === undefined ? undefined : sent.get(id);
        const t = s ? tally[s.kind] : undefined;
        if (t && statusOf(d) !== undefined) t.answered++;
      }
      const health = await gw.api('GET', '/healthz');
      assert.equal(health.status, 200);
      const afterText = await metrics(gw);
      const rssAfter = rssKb(gw.proc.pid ?? 0);
      const parseErrors = metricSum(afterText, 'edgeline_sip_parse_errors_total') - parseErrorsBefore;
      const report = { rssBeforeKb: rssBefore, rssAfterKb: rssAfter, parseErrors, tally };
      console.log(`# hostile UDP: ${JSON.stringify(report)}`);
      assert.ok(parseErrors >= 1000, `edgeline_sip_parse_errors_total grew by ${parseErrors}`);
      assert.ok(rssAfter - rssBefore < 50 * 1024, `RSS grew from ${rssBefore} kB to ${rssAfter} kB`);
      for (const k of kinds.filter((x) => x.answerable)) {
        const t = tally[k.name];
        assert.ok(
          t && t.answered >= 0.8 * t.sent,
          `${k.name}: ${t?.answered ?? 0} of ${t?.sent ?? 0} answered`,
        );
      }
    });

    test('2,000 INVITEs from one unknown source: each challenged 407, transaction table bounded and drained', async () => {
      const flood = await openUdp();
      try {
        const n = 2000;
        const branches = new Map<string, string>();
        const invites = new Map<string, string>();
        const challenged = new Set<string>();
        // INVITEs of earlier tests that were never ACKed wait for Timer H: the baseline.
        const baseline = (await status(gw)).transactions.active.invite_server ?? 0;
        let peakInviteServers = 0;
        const ackFor = (reply: Buffer) => {
          const id = callIdOf(reply) ?? '';
          const branch = branches.get(id);
          const toTag = /;tag=([^;>\s]+)/.exec(headerOf(reply, 'to') ?? '')?.[1];
          if (!branch || !toTag) return undefined;
          // RFC 3261 §17.1.1.3: the ACK for a non-2xx has the INVITE's top Via (branch), Call-ID,
          // From and CSeq number, and the To of the response.
          return buildRequest({
            method: 'ACK',
            viaPort: flood.port,
            callId: id,
            branch,
            toTag,
            fromTag: `fl-${id}`,
          });
        };
        const drain = async () => {
          for (const d of flood.take()) {
            const id = callIdOf(d);
            if (statusOf(d) !== 407 || id === undefined || challenged.has(id)) continue;
            challenged.add(id);
            const ack = ackFor(d);
            if (ack) await flood.send(ack, gw.sipPort);
          }
        };
        const deadline = Date.now() + 60_000;
        for (let i = 0; i < n && Date.now() < deadline; i++) {
          const id = `flood-${i}-${Math.random().toString(36).slice(2)}`;
          const branch = `z9hG4bKflood${i}x${Math.random().toString(36).slice(2)}`;
          branches.set(id, branch);
          const invite = buildRequest({
            method: 'INVITE',
            viaPort: flood.port,
            callId: id,
            branch,
            fromTag: `fl-${id}`,
            toUser: '1002',
          });
          invites.set(id, invite);
          await flood.send(invite, gw.sipPort);
          if (i % 50 === 49) {
            await sleep(20);
            await drain();
          }
          if (i % 500 === 499) {
            const s = await status(gw);
            peakInviteServers = Math.max(peakInviteServers, s.transactions.active.invite_server ?? 0);
          }
        }
        // RFC 3261 §17.1.1.2: a UAC retransmits an unanswered INVITE (Timer A); a datagram lost
        // in a loaded kernel is the network's, and the retransmission finds the same transaction.
        for (let k = 0; k < 20 && challenged.size < n; k++) {
          await sleep(250);
          await drain();
          if (k % 4 !== 3) continue;
          for (const [id, invite] of invites) if (!challenged.has(id)) await flood.send(invite, gw.sipPort);
        }
        assert.equal(gw.proc.exitCode, null, `gateway died:\n${gw.output().slice(-4000)}`);
        assert.equal(challenged.size, n, `${challenged.size} of ${n} INVITEs challenged`);
        assert.ok(
          peakInviteServers <= baseline + n,
          `${peakInviteServers} INVITE server transactions for ${n} INVITEs (${baseline} before)`,
        );
        // RFC 3261 §17.2.1: an ACKed transaction lingers in Confirmed for Timer I (T4, 5 s on UDP), then goes.
        let left = Infinity;
        for (let k = 0; k < 40 && left > baseline; k++) {
          await sleep(250);
          left = (await status(gw)).transactions.active.invite_server ?? 0;
        }
        console.log(
          `# INVITE flood: ${challenged.size} challenged, peak ${peakInviteServers} INVITE server transactions, ${left} left after Timer I`,
        );
        assert.ok(
          left <= baseline,
          `${left} INVITE server transactions left after their ACK and Timer I (${baseline} before)`,
        );
        const text = await metrics(gw);
        assert.equal(metricSum(text, 'edgeline_calls_active'), 0);
      } finally {
        await flood.close();
      }
    });
  });

  describe('TCP', () => {
    const opened: StreamPeer[] = [];
    after(() => {
      for (const p of opened) p.destroy();
    });
    const connect = async () => {
      const p = await openTcp(gw.sipPort);
      opened.push(p);
      return p;
    };

    test('MUST answer 413 to a Content-Length of 100,000,000 and close the connection (RFC 3261 §21.4.11)', async () => {
      const c = await connect();
      c.write(
        buildRequest({
          method: 'OPTIONS',
          viaPort: c.socket.localPort ?? 0,
          transport: 'TCP',
          contentLength: '100000000',
        }),
      );
      assert.ok(await c.waitClosed(5000), 'connection still open');
      assert.deepEqual(statusesIn(c.received()), [413]);
    });

    test('answers 400 to a request without Content-Length on a stream and closes (RFC 3261 §18.3)', async () => {
      const c = await connect();
      c.write(
        buildRequest({ method: 'OPTIONS', viaPort: c.socket.localPort ?? 0, transport: 'TCP' }).replace(
          /^Content-Length: .*\r\n/m,
          '',
        ),
      );
      assert.ok(await c.waitClosed(5000), 'connection still open');
      assert.deepEqual(statusesIn(c.received()), [400]);
    });

    test('closes a connection whose header section passes 100 KB without an end', async () => {
      const c = await connect();
      const head =
        buildRequest({ method: 'OPTIONS', viaPort: c.socket.localPort ?? 0, transport: 'TCP' }).split(
          '\r\nContent-Length',
        )[0] ?? '';
      c.write(`${head}\r\n`);
      for (let i = 0; i < 100 && !c.closed; i++) c.write(`X-Filler-${i}: ${'f'.repeat(1000)}\r\n`);
      assert.ok(await c.waitClosed(5000), 'connection still open');
      assert.ok(
        statusesIn(c.received()).every((s) => s === 513),
        `answers: ${statusesIn(c.received()).join(',')}`,
      );
    });

    test('closes a connection that sends 10,000 Via header fields', async () => {
      const c = await connect();
      const vias = Array.from(
        { length: 10_000 },
        (_, i) => `Via: SIP/2.0/TCP 192.0.2.${i % 250};branch=z9hG4bK${i}`,
      );
      c.write(
        buildRequest({
          method: 'OPTIONS',
          viaPort: c.socket.localPort ?? 0,
          transport: 'TCP',
          extraHeaders: vias,
        }),
      );
      assert.ok(await c.waitClosed(5000), 'connection still open');
      assert.ok(
        statusesIn(c.received()).every((s) => s === 513),
        `answers: ${statusesIn(c.received()).join(',')}`,
      );
    });

    test('200 connections that send nothing are accepted, and a fresh one is still served', async () => {
      for (const p of opened.splice(0)) p.destroy();
      const idle = await Promise.all(Array.from({ length: 200 }, () => connect()));
      // A half-sent message on some of them: the framer holds them, nothing else waits on them.
      for (const p of idle.slice(0, 50))
        p.write('OPTIONS sip:1002@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1');
      await sleep(200);
      const s = await status(gw);
      assert.ok(
        s.transports.connections.length >= 200,
        `${s.transports.connections.length} connections open`,
      );
      assert.ok(
        idle.every((p) => !p.closed),
        'an idle connection was closed early',
      );
      const fresh = await connect();
      fresh.write(
        buildRequest({ method: 'OPTIONS', viaPort: fresh.socket.localPort ?? 0, transport: 'TCP' }),
      );
      assert.ok(
        await fresh.waitFor((b) => statusesIn(b).length > 0, 5000),
        'no answer on a fresh connection',
      );
      assert.deepEqual(statusesIn(fresh.received()), [407]);
      for (const p of idle) p.destroy();
      // The gateway notices every close and frees the connection; only `fresh` stays.
      let open: unknown[] = [];
      for (let k = 0; k < 40; k++) {
        await sleep(100);
        open = (await status(gw)).transports.connections;
        if (open.length <= 1) break;
      }
      assert.ok(open.length <= 1, `connections still held after the peers left: ${JSON.stringify(open)}`);
    });
  });

  describe('TLS', () => {
    test('closes a connection that sends garbage instead of a ClientHello, and still serves TLS', async () => {
      const raw = await openTcp(gw.sipPort + 1);
      try {
        raw.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n' + '\u0000\u00ff'.repeat(500), 'latin1'));
        assert.ok(await raw.waitClosed(5000), 'connection still open');
      } finally {
        raw.destroy();
      }
      const before = metricSum(
        await metrics(gw),
        'edgeline_sip_parse_errors_total',
        /reason="tls-handshake"/,
      );
      assert.ok(before >= 1, 'the failed handshake is counted');
      const tls = await openTls(gw.sipPort + 1);
      try {
        tls.write(buildRequest({ method: 'OPTIONS', viaPort: tls.socket.localPort ?? 0, transport: 'TLS' }));
        assert.ok(await tls.waitFor((b) => statusesIn(b).length > 0, 5000), 'no answer over TLS');
        assert.deepEqual(statusesIn(tls.received()), [407]);
      } finally {
        tls.destroy();
      }
    });
  });

  test('after all of it: healthy, and the counters tell what happened', async () => {
    assert.equal(gw.proc.exitCode, null);
    assert.equal((await gw.api('GET', '/healthz')).status, 200);
    const text = await metrics(gw);
    const numbers = {
      parseErrors: metricSum(text, 'edgeline_sip_parse_errors_total'),
      oversize: metricSum(text, 'edgeline_sip_oversize_dropped_total'),
      transactionDiscards: metricSum(text, 'edgeline_sip_transaction_discards_total'),
      rejected: metricSum(text, 'edgeline_sip_requests_rejected_total'),
      rssKb: rssKb(gw.proc.pid ?? 0),
    };
    console.log(`# hostile totals: ${JSON.stringify(numbers)}`);
    assert.ok(numbers.parseErrors > 0);
    assert.ok(numbers.oversize > 0, 'stream messages over the size limit are counted as oversize');
    assert.ok(numbers.rejected > 0);
  });
});
