/**
 * SIPVicious, the scanner every exposed SIP service meets first, against the real gateway:
 * svmap (discovery), svwar (extension enumeration) and svcrack (digest password guessing).
 *
 * What must hold: an unknown source learns that a SIP service is there and nothing more. RFC 3261
 * §22 challenges are the same for an extension that exists and one that does not, so enumeration
 * finds nothing; a password is only ever found by knowing it, which proves the digest is checked.
 * Every run is bounded (`timeout` plus the tools' own limits) and binds to 127.0.0.1.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeSipPort, startGateway, type GatewayProcess } from '../peers/gateway-process.ts';

/** Debian 12 installs the tools as svmap/svwar/svcrack; newer packages prefix them. */
function findTool(name: 'svmap' | 'svwar' | 'svcrack'): string | undefined {
  for (const candidate of [name, `sipvicious_${name}`]) {
    if (spawnSync('sh', ['-c', `command -v ${candidate}`], { encoding: 'utf8' }).status === 0)
      return candidate;
  }
  return undefined;
}

function ensureSipvicious(): string | undefined {
  if (findTool('svmap')) return undefined;
  // The Debian package is the only source: no download of its own.
  const install = spawnSync('sh', ['-c', 'DEBIAN_FRONTEND=noninteractive apt-get install -y sipvicious'], {
    encoding: 'utf8',
    timeout: 180_000,
  });
  if (findTool('svmap')) return undefined;
  return `sipvicious is not installed and could not be (apt-get exit ${String(install.status)}): ${(install.stderr ?? '').trim().split('\n').pop() ?? ''}`;
}

interface ToolRun {
  code: number | null;
  out: string;
  ms: number;
}

function runTool(
  tool: 'svmap' | 'svwar' | 'svcrack',
  args: string[],
  cwd: string,
  limitS = 40,
): Promise<ToolRun> {
  const bin = findTool(tool) ?? tool;
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn('timeout', ['-k', '5', String(limitS), bin, ...args], {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', (code) => resolve({ code, out, ms: Date.now() - started }));
  });
}

/** The extensions in svwar's result table (`| 1001 | reqauth |`). */
function tableRows(out: string): string[] {
  return [...out.matchAll(/^\|\s*([^|\s]+)\s*\|\s*([^|]*?)\s*\|\s*$/gm)]
    .map((m) => m[1] ?? '')
    .filter((v) => v !== 'Extension' && v !== 'SIP');
}

const skipReason = ensureSipvicious();

describe('SIPVicious against the running gateway', { skip: skipReason }, () => {
  let gw: GatewayProcess;
  let dir: string;
  const target = () => ['-p', String(gw.sipPort), '127.0.0.1'];
  /** Our own source port on loopback: the tools default to binding 5060 on every address. */
  const local = async () => ['-b', '127.0.0.1', '-P', String(await freeSipPort(1))];

  before(async () => {
    gw = await startGateway({ demo: true, env: { EDGELINE_LOG_LEVEL: 'info' } });
    dir = mkdtempSync(join(tmpdir(), 'edgeline-sipvicious-'));
    writeFileSync(
      join(dir, 'wrong.txt'),
      ['1234', 'password', '1001', 'demo', 'demo1002', 'admin', 'secret', ''].join('\n'),
    );
    writeFileSync(join(dir, 'right.txt'), ['1234', 'password', 'demo1001', 'secret', ''].join('\n'));
  });
  after(async () => {
    rmSync(dir, { recursive: true, force: true });
    const diedEarly = gw.proc.exitCode !== null;
    const code = await gw.stop();
    assert.ok(!diedEarly && code === 0, `gateway exited (${String(code)}):\n${gw.output().slice(-4000)}`);
  });

  test('svmap finds a SIP service but no product name to look up exploits for', async () => {
    const r = await runTool('svmap', [...(await local()), ...target()], dir, 30);
    console.log(`# svmap (${r.ms} ms): ${r.out.trim().replace(/\n/g, ' / ')}`);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, new RegExp(`127\\.0\\.0\\.1:${gw.sipPort}`));
    // The challenge carries neither Server nor User-Agent: svmap prints "unknown".
    assert.match(r.out, /\|\s*unknown\s*\|/);
  });

  for (const method of ['REGISTER', 'INVITE', 'OPTIONS'] as const) {
    test(`svwar cannot tell extensions 1001-1008 from 1000, 1009, 1010 with ${method}`, async () => {
      for (const force of [false, true]) {
        const r = await runTool(
          'svwar',
          [
            ...(await local()),
            ...(force ? ['--force'] : []),
            '-m',
            method,
            '-e',
            '1000-1010',
            '--maximumtime=5',
            ...target(),
          ],
          dir,
          40,
        );
        const found = tableRows(r.out);
        console.log(
          `# svwar -m ${method}${force ? ' --force' : ''} (${r.ms} ms): found [${found.join(', ')}]`,
        );
        assert.notEqual(r.code, 124, `svwar ran out of time:\n${r.out}`);
        // Either nothing or everything: the one answer that would betray the directory is exactly 1001-1008.
        assert.ok(
          found.length === 0 || found.length === 11,
          `svwar told extensions apart: ${found.join(', ')}\n${r.out}`,
        );
      }
      assert.equal(gw.proc.exitCode, null);
    });
  }

  test('svcrack finds no password for 1001 in a list without it', async () => {
    const r = await runTool(
      'svcrack',
      [...(await local()), '--maximumtime=3', '-u', '1001', '-d', 'wrong.txt', ...target()],
      dir,
      40,
    );
    console.log(`# svcrack wrong list (${r.ms} ms): ${r.out.trim().split('\n').pop() ?? ''}`);
    assert.notEqual(r.code, 124, `svcrack ran out of time:\n${r.out}`);
    assert.doesNotMatch(r.out, /\|\s*1001\s*\|/);
    assert.match(r.out, /found nothing/);
  });

  test('svcrack finds demo1001 for 1001 when the list holds it: the digest response is really checked', async () => {
    const r = await runTool(
      'svcrack',
      [...(await local()), '--maximumtime=3', '-u', '1001', '-d', 'right.txt', ...target()],
      dir,
      40,
    );
    console.log(`# svcrack right list (${r.ms} ms): ${r.out.trim().replace(/\n/g, ' / ')}`);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /\|\s*1001\s*\|\s*demo1001\s*\|/);
  });

  test('the gateway is still healthy after the scans', async () => {
    assert.equal(gw.proc.exitCode, null);
    assert.equal((await gw.api('GET', '/healthz')).status, 200);
  });
});
