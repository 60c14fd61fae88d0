/**
 * Starting and stopping the gateway process as a user does: ports in use, invalid configuration
 * and bad flags are one-line errors with a non-zero exit; the demo seeds only on first start;
 * registrations survive a restart; SIGTERM drains calls and exits 0.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeSipPort, startGateway } from '../peers/gateway-process.ts';
import { freePort } from '../peers/free-port.ts';
import { describeSippResult, runSipp, sippBinary, startSipp } from '../peers/sipp.ts';

/** Run the gateway to completion (it is expected to refuse to start) and capture what it says. */
function runToExit(args: string[], timeoutMs = 20_000): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', 'gateway/src/main.ts', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'edgeline-startup-'));
}

describe('starting the gateway', () => {
  test('a SIP port already in use is a one-line error naming it, exit 1', async () => {
    const port = await freeSipPort(2);
    const blocker = createSocket('udp4');
    await new Promise<void>((r) => blocker.bind(port, '127.0.0.1', r));
    const dir = tempDir();
    try {
      const r = await runToExit([
        '--data-dir',
        dir,
        '--sip-port',
        String(port),
        '--http-port',
        String(await freeSipPort(1)),
      ]);
      assert.equal(r.code, 1);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`SIP port ${port}/udp is already in use`));
    } finally {
      blocker.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('an HTTP port already in use is a one-line error naming it, exit 1', async () => {
    const httpPort = await freePort('tcp');
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(httpPort, '127.0.0.1', r));
    const dir = tempDir();
    try {
      const r = await runToExit([
        '--data-dir',
        dir,
        '--sip-port',
        String(await freeSipPort(2)),
        '--http-port',
        String(httpPort),
      ]);
      assert.equal(r.code, 1);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`HTTP port ${httpPort}/tcp is already in use`));
    } finally {
      blocker.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('an invalid config.json is refused with the JSON path of the bad value; nothing starts', async () => {
    const dir = tempDir();
    const sipPort = await freeSipPort(2);
    writeFileSync(
      join(dir, 'config.json'),
      JSON.stringify({
        trunks: [{ id: 'cloud', members: [{ host: '127.0.0.1', port: 70000, transport: 'udp' }] }],
      }),
    );
    try {
      const r = await runToExit([
        '--data-dir',
        dir,
        '--sip-port',
        String(sipPort),
        '--http-port',
        String(await freeSipPort(1)),
      ]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /\/trunks\/0\/members\/0\/port/);
      // Not half-configured: the SIP port was never bound.
      const probe = createSocket('udp4');
      await new Promise<void>((resolve, reject) => {
        probe.once('error', reject);
        probe.bind(sipPort, '127.0.0.1', () => resolve());
      });
      probe.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('bad flags exit 2 with the usage line', async () => {
    const r = await runToExit(['--sip-port', 'seventy']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--sip-port needs a port number/);
    assert.match(r.stderr, /usage: npm start/);
  });

  test('without --demo nothing is seeded: no extension, no password known to anyone', async () => {
    const gw = await startGateway();
    try {
      const cfg = await gw.api<{ extensions: unknown[]; services: unknown[] }>('GET', '/api/config');
      assert.deepEqual(cfg.body.extensions, []);
      assert.deepEqual(cfg.body.services, []);
    } finally {
      assert.equal(await gw.stop(), 0);
    }
  });

  test('--demo seeds only on first start: a change made afterwards survives a restart with --demo', async () => {
    const dir = tempDir();
    try {
      const first = await startGateway({ demo: true, dataDir: dir });
      const cfg = await first.api<{ extensions: Array<{ number: string }> }>('GET', '/api/config');
      assert.equal(cfg.body.extensions.length, 8);
      const put = await first.api('PUT', '/api/config', {
        ...cfg.body,
        extensions: cfg.body.extensions.filter((e) => e.number !== '1008'),
      });
      assert.equal(put.status, 200);
      assert.equal(await first.stop(), 0);
      const second = await startGateway({ demo: true, dataDir: dir });
      const again = await second.api<{ extensions: Array<{ number: string }> }>('GET', '/api/config');
      assert.equal(again.body.extensions.length, 7);
      const revisions = await second.api<{ revisions: unknown[] }>('GET', '/api/config/revisions');
      assert.equal(revisions.body.revisions.length, 2);
      assert.equal(await second.stop(), 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test(
    'registrations survive a restart',
    { skip: sippBinary() === null ? 'SIPp is not installed' : false },
    async () => {
      const dir = tempDir();
      try {
        const first = await startGateway({ demo: true, dataDir: dir });
        const port = await freePort('udp');
        const reg = await runSipp({
          scenario: 'register-auth.xml',
          remote: `127.0.0.1:${first.sipPort}`,
          localPort: port,
          calls: 1,
          auth: { username: '1004', password: 'demo1004', uri: 'edgeline.local' },
          keys: { caller: '1004', caller_domain: 'edgeline.local', expires: '600' },
          timeoutS: 15,
        });
        assert.equal(reg.exitCode, 0, describeSippResult(reg));
        assert.equal(await first.stop(), 0);
        const second = await startGateway({ demo: true, dataDir: dir });
        const status = await second.api<{ registrar: { bindings: Array<{ aor: string; contact: string }> } }>(
          'GET',
          '/api/status',
        );
        assert.ok(
          status.body.registrar.bindings.some(
            (b) => b.aor.includes('1004') && b.contact.includes(String(port)),
          ),
          JSON.stringify(status.body.registrar),
        );
        assert.equal(await second.stop(), 0);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );

  test(
    'SIGTERM refuses new calls with 503, lets the call in progress end, writes its CDR and exits 0',
    { skip: sippBinary() === null ? 'SIPp is not installed' : false },
    async () => {
      const dir = tempDir();
      try {
        const gw = await startGateway({ demo: true, dataDir: dir, extraArgs: ['--drain-ms', '8000'] });
        const calleePort = await freePort('udp');
        const reg = await runSipp({
          scenario: 'register-auth.xml',
          remote: `127.0.0.1:${gw.sipPort}`,
          localPort: calleePort,
          calls: 1,
          auth: { username: '1002', password: 'demo1002', uri: 'edgeline.local' },
          keys: { caller: '1002', caller_domain: 'edgeline.local', expires: '600' },
          timeoutS: 15,
        });
        assert.equal(reg.exitCode, 0, describeSippResult(reg));
        const callee = await startSipp({ scenario: 'uas.xml', localPort: calleePort, timeoutS: 60 });
        // A 3 s call: SIGTERM arrives in the middle of it.
        const call = runSipp({
          scenario: 'uac-auth.xml',
          remote: `127.0.0.1:${gw.sipPort}`,
          localPort: await freePort('udp'),
          service: '1002',
          calls: 1,
          holdMs: 3000,
          auth: { username: '1001', password: 'demo1001' },
          keys: { caller: '1001', caller_domain: 'edgeline.local' },
          timeoutS: 20,
        });
        await new Promise((r) => setTimeout(r, 1000));
        const stopped = gw.stop(20_000);
        await new Promise((r) => setTimeout(r, 300));
        const refused = await runSipp({
          scenario: 'uac-expect-503.xml',
          remote: `127.0.0.1:${gw.sipPort}`,
          localPort: await freePort('udp'),
          service: '1002',
          calls: 1,
          auth: { username: '1001', password: 'demo1001' },
          keys: { caller: '1001', caller_domain: 'edgeline.local' },
          timeoutS: 15,
        });
        assert.equal(refused.exitCode, 0, describeSippResult(refused));
        const finished = await call;
        assert.equal(finished.exitCode, 0, describeSippResult(finished));
        assert.equal(await stopped, 0);
        await callee.stop(500);
        // The CDR of the drained call is on disk: a new process reads it back.
        const again = await startGateway({ dataDir: dir });
        const rows = await again.api<{ interactions: Array<{ outcome: string; dialled: string }> }>(
          'GET',
          '/api/interactions',
        );
        assert.ok(
          rows.body.interactions.some((i) => i.dialled === '1002' && i.outcome === 'answered'),
          JSON.stringify(rows.body),
        );
        assert.equal(await again.stop(), 0);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});
