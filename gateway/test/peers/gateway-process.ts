/**
 * Start the real gateway as a child process, the way `npm start` does, on loopback ports of
 * its own and a fresh data directory; stop it with SIGTERM and report how it exited.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isPortFree } from './free-port.ts';
import { GATEWAY_NODE_FLAGS } from '../../src/node-flags.ts';

export interface GatewayProcess {
  sipPort: number;
  httpPort: number;
  dataDir: string;
  proc: ChildProcess;
  output(): string;
  /** GET/PUT/POST JSON on the HTTP API. */
  api<T = unknown>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>;
  /** SIGTERM and wait for exit (bounded); returns the exit code. */
  stop(timeoutMs?: number): Promise<number | null>;
}

/** A port free on 127.0.0.1 for both UDP and TCP (and, with `span`, the following ports too: TLS is SIP + 1). */
const gatewayPorts = new Set<number>();

export async function freeSipPort(span = 2): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    // Above the default RTP range (20000-29999) so a test gateway never collides with its own media
    // ports, and below the kernel's ephemeral range (32768+) that outgoing connections draw from.
    const base = 30000 + Math.floor(Math.random() * 1350) * 2;
    // Never twice in one test process: a gateway started earlier may not have bound it yet.
    if (gatewayPorts.has(base)) continue;
    let okAll = true;
    for (let p = base; p < base + span && okAll; p++)
      okAll = (await isPortFree('tcp', p)) && (await isPortFree('udp', p));
    if (okAll) {
      gatewayPorts.add(base);
      return base;
    }
  }
  throw new Error('no free port found');
}

/** A block of 400 ports (200 RTP/RTCP pairs) inside the default RTP range. */
function randomRtpBlock(): string {
  const lo = 20000 + Math.floor(Math.random() * 24) * 400;
  return `${lo}-${lo + 399}`;
}

export async function startGateway(
  opts: { demo?: boolean; dataDir?: string; extraArgs?: string[]; env?: Record<string, string> } = {},
): Promise<GatewayProcess> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'edgeline-test-'));
  const sipPort = await freeSipPort(2);
  const httpPort = await freeSipPort(1);
  // Each test gateway gets its own block of the RTP range unless the test names one, so two
  // gateways alive at once (a restart test, parallel runs) never fight over media ports.
  const rtpArgs = (opts.extraArgs ?? []).includes('--rtp-ports') ? [] : ['--rtp-ports', randomRtpBlock()];
  const args = [
    ...GATEWAY_NODE_FLAGS,
    '--import',
    'tsx',
    'gateway/src/main.ts',
    '--data-dir',
    dataDir,
    '--sip-port',
    String(sipPort),
    '--http-port',
    String(httpPort),
    ...(opts.demo ? ['--demo'] : []),
    ...rtpArgs,
    ...(opts.extraArgs ?? []),
  ];
  const proc = spawn(process.execPath, args, {
    env: { ...process.env, EDGELINE_LOG_LEVEL: 'warn', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-200_000)));
  proc.stderr?.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-200_000)));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const api = async <T>(method: string, path: string, body?: unknown) => {
    const res = await fetch(`http://127.0.0.1:${httpPort}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // text body (metrics)
    }
    return { status: res.status, body: parsed as T };
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`gateway exited early (${proc.exitCode}):\n${out}`);
    try {
      const r = await api('GET', '/healthz');
      if (r.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`gateway not ready within 20 s:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    sipPort,
    httpPort,
    dataDir,
    proc,
    output: () => out,
    api,
    async stop(timeoutMs = 15_000) {
      if (proc.exitCode !== null) return proc.exitCode;
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
      const code = await exited;
      clearTimeout(timer);
      if (!opts.dataDir) rmSync(dataDir, { recursive: true, force: true });
      return code;
    },
  };
}

/**
 * The demo's PSTN lines answered by a connect service (an operator line): `number` plays the
 * hold prompt and rings `extension`. Fails the test when the configuration is refused.
 */
export async function routeLinesToConnect(
  gw: GatewayProcess,
  number: string,
  extension: string,
): Promise<void> {
  const cfg = (
    await gw.api<{ services: unknown[]; routes: { inbound: Array<{ id: string; destination: unknown }> } }>(
      'GET',
      '/api/config',
    )
  ).body;
  cfg.services.push({ number, type: 'connect', file: 'prompts/connect-hold.wav', extension });
  for (const r of cfg.routes.inbound)
    if (r.id === 'pstn-in') r.destination = { type: 'service', target: number };
  const put = await gw.api('PUT', '/api/config', cfg);
  if (put.status !== 200) throw new Error(`configuration refused: ${JSON.stringify(put.body)}`);
}
