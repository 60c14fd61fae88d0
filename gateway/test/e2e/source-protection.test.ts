/**
 * Source protection against real attack tools and real phones, from addresses of their own (only
 * 127.0.0.1 and ::1 are in the default allow-list, so every other address is a stranger):
 *
 * - svcrack (sipvicious) guessing 1001's password from a network namespace of its own (this
 *   svcrack ignores `-b`, so it gets a host of its own: 10.231.7.2): banned after 5 failures, its
 *   further guesses dropped unread — the right password at the end of its list is never tried
 *   through — while a phone on 127.0.0.3 registers and calls as usual. One parsable security
 *   line per failure and per ban at `warn`.
 * - A flood of ACKs at 5,000 per second from 127.0.0.4 while SIPp places calls from
 *   127.0.0.3: the flooder is banned within 2 s, the calls all complete, the gateway's RSS grows
 *   by less than 50 MB.
 * - 200 INVITEs without credentials in a row from 127.0.0.5 (a scanner): banned after 20
 *   challenges it never answered.
 * - The ban list through the API: an allow-listed address or no address at all is refused naming
 *   `address`; lifting a ban lets the source in again.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeSipPort, startGateway, type GatewayProcess } from '../peers/gateway-process.ts';
import { describeSippResult, runSipp, sippBinary } from '../peers/sipp.ts';
import { buildRequest, callIdOf, metricSum, statusOf } from '../peers/raw-sip.ts';
import { netnsUnavailable, openNetns, type Netns } from '../peers/netns.ts';

const PHONE = '127.0.0.3';
const FLOODER = '127.0.0.4';

function svcrack(): string | undefined {
  for (const c of ['svcrack', 'sipvicious_svcrack'])
    if (spawnSync('sh', ['-c', `command -v ${c}`]).status === 0) return c;
  return undefined;
}

const skip =
  sippBinary() === null
    ? 'sip-tester (SIPp) is not installed'
    : svcrack() === undefined
      ? 'sipvicious is not installed'
      : (netnsUnavailable() ?? false);

interface Ban {
  address: string;
  reason: string;
  sinceWallMs: number;
  untilWallMs: number;
  dropped: number;
}
interface Bans {
  bans: Ban[];
  counters: { banned: Record<string, number>; dropped: number; authFailures: number };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('source protection with real peers', { skip }, () => {
  let gw: GatewayProcess;
  let dir: string;
  let ns: Netns;
  let CRACKER = '';

  before(async () => {
    ns = openNetns(7);
    CRACKER = ns.nsIp;
    // Every address of this host: loopback for the API and the phones, the namespace's link.
    gw = await startGateway({ demo: true, extraArgs: ['--host', '0.0.0.0'] });
    dir = mkdtempSync(join(tmpdir(), 'edgeline-bans-'));
  });
  after(async () => {
    ns?.close();
    rmSync(dir, { recursive: true, force: true });
    const diedEarly = gw.proc.exitCode !== null;
    const code = await gw.stop();
    assert.ok(!diedEarly && code === 0, `gateway exited (${String(code)}):\n${gw.output().slice(-4000)}`);
  });

  const bans = async () => (await gw.api<Bans>('GET', '/api/security/bans')).body;

  /**
   * A REGISTER of `user` from `ip` through the digest challenge; SIPp's exit code (0: 200 OK).
   * From the cracker's address it runs in its namespace, towards the host's side of the link.
   */
  async function register(ip: string, user: string): Promise<number | null> {
    const inNs = ip === CRACKER;
    const r = await runSipp({
      scenario: 'register-auth.xml',
      remote: `${inNs ? ns.hostIp : '127.0.0.1'}:${gw.sipPort}`,
      ...(inNs ? { wrap: ns.exec } : {}),
      localPort: await freeSipPort(1),
      calls: 1,
      auth: { username: user, password: `demo${user}`, uri: 'edgeline.local' },
      keys: { caller: user, caller_domain: 'edgeline.local', expires: '300' },
      extraArgs: ['-i', ip],
      timeoutS: 8,
    });
    return r.exitCode;
  }

  test('svcrack from a host of its own is banned after 5 failures and finds nothing; a phone on 127.0.0.3 keeps working', async (t) => {
    const words = [...Array.from({ length: 15 }, (_, i) => `guess${i}`), 'demo1001', ''];
    writeFileSync(join(dir, 'words.txt'), words.join('\n'));
    const bin = svcrack() ?? 'svcrack';
    const started = Date.now();
    const out = await new Promise<{ code: number | null; out: string }>((resolve) => {
      let text = '';
      const child = spawn(
        ns.exec[0] ?? 'ip',
        [
          ...ns.exec.slice(1),
          'timeout',
          '-k',
          '5',
          '40',
          bin,
          '-u',
          '1001',
          '-d',
          join(dir, 'words.txt'),
          '-P',
          '5060',
          '--maximumtime',
          '5',
          '-p',
          String(gw.sipPort),
          ns.hostIp,
        ],
        { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      child.stdout.on('data', (d: Buffer) => (text += d.toString()));
      child.stderr.on('data', (d: Buffer) => (text += d.toString()));
      child.on('close', (code) => resolve({ code, out: text }));
    });
    t.diagnostic(`svcrack (${Date.now() - started} ms): ${out.out.trim().split('\n').slice(-2).join(' / ')}`);
    assert.notEqual(out.code, 124, `svcrack ran out of time:\n${out.out}`);
    assert.doesNotMatch(out.out, /demo1001/, 'the password is never found: the source was banned first');

    const b = await bans();
    const ban = b.bans.find((x) => x.address === CRACKER);
    assert.equal(ban?.reason, 'auth-failures', JSON.stringify(b));
    assert.ok((ban?.dropped ?? 0) > 0, 'its later guesses were dropped unread');
    assert.equal(b.counters.authFailures, 5, 'exactly 5 failures reached the digest check');
    assert.ok(Math.abs((ban?.untilWallMs ?? 0) - (ban?.sinceWallMs ?? 0) - 300_000) < 1000, 'banned 300 s');
    const metrics = (await gw.api<string>('GET', '/metrics')).body;
    assert.equal(metricSum(metrics, 'edgeline_sip_source_bans_total', /reason="auth-failures"/), 1);
    assert.ok(metricSum(metrics, 'edgeline_sip_banned_dropped_total') > 0);

    // One parsable line per failure and per ban, at the default level.
    const lines = gw
      .output()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { event?: string; source?: string; level?: number });
    assert.equal(lines.filter((l) => l.event === 'auth-failure' && l.source === CRACKER).length, 5);
    assert.equal(lines.filter((l) => l.event === 'source-banned' && l.source === CRACKER).length, 1);

    assert.equal(await register(PHONE, '1002'), 0, 'a phone on another source registers');
    assert.notEqual(
      await register(CRACKER, '1001'),
      0,
      'the banned source, even with the right password, is not',
    );
  });

  test('5,000 ACKs per second from 127.0.0.4: banned within 2 s while calls from 127.0.0.3 all complete', async (t) => {
    const rssBefore = (await gw.api<{ process: { memory: { rss: number } } }>('GET', '/api/status')).body
      .process.memory.rss;
    const calls = runSipp({
      scenario: 'uac-auth.xml',
      remote: `127.0.0.1:${gw.sipPort}`,
      localPort: await freeSipPort(1),
      service: '*43',
      calls: 100,
      rate: 20,
      holdMs: 500,
      auth: { username: '1003', password: 'demo1003' },
      keys: { caller: '1003', caller_domain: 'edgeline.local' },
      extraArgs: ['-i', PHONE],
      traceMessages: false,
      timeoutS: 40,
    });
    await sleep(1000);
    const sock = createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, FLOODER, () => r()));
    const floodStart = Date.now();
    let sent = 0;
    // 50 datagrams every 10 ms for 3 s: 5,000 per second, 15,000 in all.
    while (Date.now() - floodStart < 3000) {
      for (let i = 0; i < 50; i++) {
        // ACKs outside any dialog: nothing answers them, nothing challenges them; only the
        // flood limit can stop this source.
        const msg = buildRequest({
          method: 'ACK',
          uri: `sip:127.0.0.1:${gw.sipPort}`,
          viaPort: sock.address().port,
          callId: `flood-${sent}`,
        });
        sock.send(msg, gw.sipPort, '127.0.0.1');
        sent++;
      }
      await sleep(10);
    }
    sock.close();
    const r = await calls;
    const b = await bans();
    const ban = b.bans.find((x) => x.address === FLOODER);
    const rssAfter = (await gw.api<{ process: { memory: { rss: number } } }>('GET', '/api/status')).body
      .process.memory.rss;
    t.diagnostic(
      `sent ${sent} ACKs; banned after ${(ban?.sinceWallMs ?? 0) - floodStart} ms, ${ban?.dropped ?? 0} dropped; ` +
        `calls ${r.stats?.successful ?? '?'}/100; RSS +${((rssAfter - rssBefore) / 1048576).toFixed(1)} MB`,
    );
    assert.equal(ban?.reason, 'flood', JSON.stringify(b));
    assert.ok((ban?.sinceWallMs ?? Infinity) - floodStart <= 2000, 'banned within 2 s');
    assert.equal(r.exitCode, 0, describeSippResult(r));
    assert.equal(r.stats?.successful, 100, 'every call completed');
    assert.ok(rssAfter - rssBefore < 50 * 1048576, 'RSS grew by less than 50 MB');
    assert.equal(
      b.bans.find((x) => x.address === PHONE),
      undefined,
      'the phone, challenged on each of its 100 calls and answering each, is not banned',
    );
  });

  test('200 INVITEs without credentials in a row from 127.0.0.5: banned as a scanner after 20 challenges', async () => {
    const SCANNER = '127.0.0.5';
    const sock = createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, SCANNER, () => r()));
    const challenged = new Set<string>();
    sock.on('message', (m: Buffer) => {
      if (statusOf(m) === 407) challenged.add(callIdOf(m) ?? '');
    });
    for (let i = 0; i < 200; i++) {
      sock.send(
        buildRequest({
          method: 'INVITE',
          uri: `sip:9${String(8613800000000 + i)}@127.0.0.1:${gw.sipPort}`,
          viaPort: sock.address().port,
          fromUser: '1001',
        }),
        gw.sipPort,
        '127.0.0.1',
      );
      await sleep(5);
    }
    await sleep(500);
    sock.close();
    const ban = (await bans()).bans.find((x) => x.address === SCANNER);
    assert.equal(ban?.reason, 'scan');
    assert.ok((ban?.dropped ?? 0) >= 170, `the rest were dropped unread (${ban?.dropped})`);
    assert.equal(challenged.size, 20, 'exactly 20 INVITEs were challenged, the rest never read');
  });

  test('the ban list through the API: the allow-list and bad addresses are refused naming the field; a lifted ban lets the source in', async () => {
    const self = await gw.api<{ error: { field: string; message: string } }>('POST', '/api/security/bans', {
      address: '127.0.0.1',
    });
    assert.equal(self.status, 400);
    assert.equal(self.body.error.field, 'address');
    assert.match(self.body.error.message, /allow-list/);
    const junk = await gw.api<{ error: { field: string } }>('POST', '/api/security/bans', {
      address: 'pbx.example',
    });
    assert.equal(junk.status, 400);
    assert.equal(junk.body.error.field, 'address');

    const set = await gw.api<{ ban: Ban }>('POST', '/api/security/bans', { address: PHONE, durationS: 60 });
    assert.equal(set.status, 201);
    assert.equal(set.body.ban.reason, 'manual');
    assert.notEqual(await register(PHONE, '1002'), 0, 'banned by hand: dropped');
    assert.equal((await gw.api('DELETE', `/api/security/bans/${PHONE}`)).status, 204);
    assert.equal((await gw.api('DELETE', `/api/security/bans/${PHONE}`)).status, 404);
    assert.equal(await register(PHONE, '1002'), 0, 'lifted: registers again');
    assert.equal((await gw.api('DELETE', `/api/security/bans/${CRACKER}`)).status, 204);
    assert.equal(
      await register(CRACKER, '1001'),
      0,
      'the cracker’s address, lifted, with the right password',
    );
  });
});
