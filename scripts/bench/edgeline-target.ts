// edgeline as a benchmark target: the gateway started as its own process on a throw-away data
// directory with the demo configuration, then given one trunk (the SIPp UAS) and a catch-all
// outbound route through the HTTP API.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isPortFree } from '../../gateway/test/peers/free-port.ts';
import { GATEWAY_NODE_FLAGS } from '../../gateway/src/node-flags.ts';

const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export interface EdgelineTarget {
  pid: number;
  sipPort: number;
  httpPort: number;
  dataDir: string;
  outputTail(): string;
  stop(): Promise<{ exitCode: number | null; signal: NodeJS.Signals | null }>;
}

/** Demo extensions 1001–1008, digest password demo<number>. */
export function demoExtensions(): Array<{ number: string; displayName: string; password: string }> {
  return Array.from({ length: 8 }, (_, i) => {
    const number = String(1001 + i);
    return { number, displayName: `Ext ${number}`, password: `demo${number}` };
  });
}

/**
 * The configuration document the benchmark runs edgeline with: one trunk to the SIPp UAS.
 * `anchorMedia: false` is the signalling-only B2BUA of bench:sip (SDP passes through untouched);
 * bench:media anchors.
 */
export function benchConfig(uasPort: number, opts: { anchorMedia?: boolean } = {}): Record<string, unknown> {
  return {
    system: { name: 'edgeline', domain: 'edgeline.local', country: 'CN' },
    media: { anchor: opts.anchorMedia ?? true },
    // SIPp answers only the first challenge and computes only MD5: offer MD5 first.
    sip: { digestAlgorithms: ['MD5', 'SHA-256'] },
    extensions: demoExtensions(),
    trunks: [
      {
        id: 'bench',
        name: 'bench',
        members: [{ host: '127.0.0.1', port: uasPort, transport: 'udp', weight: 1 }],
        probe: { enabled: false, intervalMs: 5000, timeoutMs: 2000, downAfter: 3, upAfter: 2 },
        failover: { inviteTimeoutMs: 4000, onStatus: [408, 500, 502, 503, 504] },
        identity: { trusted: true, acceptPai: true, sendPai: true },
        inbound: { acceptFromMembersOnly: true },
      },
    ],
    routes: {
      outbound: [
        { id: 'bench', pattern: 'X.', strip: 0, prefix: '', trunks: ['bench'], permission: 'international' },
      ],
      inbound: [],
    },
    services: [
      { number: '*43', type: 'echo' },
      { number: '*44', type: 'milliwatt' },
    ],
  };
}

/** PUTs the benchmark configuration; throws with the API's answer when it is refused. */
export async function configureEdgelineForBench(httpPort: number, uasPort: number): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${httpPort}/api/config`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(benchConfig(uasPort, { anchorMedia: false })),
    signal: AbortSignal.timeout(10_000),
  });
  if (!res.ok)
    throw new Error(`PUT /api/config answered ${res.status}: ${(await res.text()).slice(0, 2000)}`);
}

function tcpAccepts(port: number): Promise<boolean> {
  return new Promise((r) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      r(true);
    });
    socket.once('error', () => r(false));
  });
}

/**
 * Starts `gateway/src/main.ts` on a fresh data directory (no --demo: the benchmark's configuration
 * is PUT afterwards, and no simulated card runs beside the B2BUA) and resolves when both its HTTP
 * and SIP ports are bound.
 */
export async function startEdgeline(opts: {
  sipPort: number;
  httpPort: number;
  timeoutS: number;
}): Promise<EdgelineTarget> {
  const dataDir = mkdtempSync(join(tmpdir(), 'edgeline-bench-data-'));
  const args = [...GATEWAY_NODE_FLAGS, '--import', 'tsx', 'gateway/src/main.ts', '--data-dir', dataDir];
  args.push('--sip-port', String(opts.sipPort), '--http-port', String(opts.httpPort));
  const child: ChildProcess = spawn(process.execPath, args, {
    cwd: projectRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_ENV: 'production' },
  });
  let tail = '';
  const onData = (d: string): void => {
    tail = (tail + d).slice(-8192);
  };
  child.stdout?.setEncoding('utf8').on('data', onData);
  child.stderr?.setEncoding('utf8').on('data', onData);
  let exited = false;
  const done = new Promise<{ exitCode: number | null; signal: NodeJS.Signals | null }>((r) => {
    child.once('exit', (exitCode, signal) => {
      exited = true;
      r({ exitCode, signal });
    });
  });
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.on('exit', killOnExit);
  const hard = setTimeout(() => child.kill('SIGKILL'), opts.timeoutS * 1000);
  void done.then(() => {
    clearTimeout(hard);
    process.off('exit', killOnExit);
  });
  const stop = async (): Promise<{ exitCode: number | null; signal: NodeJS.Signals | null }> => {
    if (!exited) {
      child.kill('SIGTERM');
      const force = setTimeout(() => child.kill('SIGKILL'), 5000);
      void done.then(() => clearTimeout(force));
    }
    const r = await done;
    rmSync(dataDir, { recursive: true, force: true });
    return r;
  };

  const deadline = Date.now() + 30_000;
  while (!exited && Date.now() < deadline) {
    if ((await tcpAccepts(opts.httpPort)) && !(await isPortFree('udp', opts.sipPort))) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  if (exited || Date.now() >= deadline) {
    await stop();
    throw new Error(`edgeline did not come up on sip ${opts.sipPort} / http ${opts.httpPort}\n${tail}`);
  }
  return {
    pid: child.pid ?? -1,
    sipPort: opts.sipPort,
    httpPort: opts.httpPort,
    dataDir,
    outputTail: () => tail,
    stop,
  };
}
