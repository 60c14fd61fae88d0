// The C parts of the media benchmark: built with gcc into a scratch directory at run time (only
// the sources are kept in the tree), the relay run as a target and the load generator run once
// per measurement.
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const sourceDir = resolve(dirname(fileURLToPath(import.meta.url)), 'c-relay');

export interface NativeTools {
  relay: string;
  loadgen: string;
}

/** gcc -O2 of relay.c and loadgen.c into `dir`; throws with gcc's output on failure. */
export function buildNative(dir: string): NativeTools {
  const out: NativeTools = { relay: join(dir, 'relay'), loadgen: join(dir, 'loadgen') };
  for (const [name, bin] of [
    ['relay.c', out.relay],
    ['loadgen.c', out.loadgen],
  ] as const) {
    execFileSync('gcc', ['-O2', '-Wall', '-o', bin, join(sourceDir, name), '-lpthread'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  }
  return out;
}

/** One call as the load generator sees it: its two local ports and where each sends. */
export interface CallPlan {
  aPort: number;
  aDest: { ip: string; port: number };
  bPort: number;
  bDest: { ip: string; port: number };
}

export interface LoadgenResult {
  calls: number;
  streams: number;
  packetsPerStream: number;
  pps: number;
  sendWallMs: number;
  sent: number;
  sendErrors: number;
  received: number;
  lost: number;
  lossPct: number;
  duplicates: number;
  reordered: number;
  misrouted: number;
  invalid: number;
  primesReceived: number;
  latencyUs: { p50: number; p90: number; p99: number; p999: number; max: number; beyond1s: number };
  senderLateMaxUs: number;
  senderLateOver1ms: number;
}

export async function runLoadgen(opts: {
  tools: NativeTools;
  configPath: string;
  plan: readonly CallPlan[];
  durationS: number;
  ppsPerStream: number;
  drainMs: number;
}): Promise<LoadgenResult> {
  const lines = opts.plan.map(
    (c) => `${c.aPort} ${c.aDest.ip} ${c.aDest.port} ${c.bPort} ${c.bDest.ip} ${c.bDest.port}`,
  );
  writeFileSync(opts.configPath, lines.join('\n') + '\n');
  const args = [opts.configPath, String(opts.durationS), String(opts.ppsPerStream), String(opts.drainMs)];
  const child = spawn(opts.tools.loadgen, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const limit = setTimeout(() => child.kill('SIGKILL'), (opts.durationS + 30) * 1000 + opts.drainMs);
  const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  clearTimeout(limit);
  if (code !== 0) throw new Error(`loadgen exited ${code}: ${stderr.slice(-2000)}`);
  const parsed = JSON.parse(stdout.trim()) as LoadgenResult & { ports?: unknown };
  delete parsed.ports;
  return parsed;
}

export interface RelayCounters {
  received: number;
  forwarded: number;
  droppedUnlatched: number;
  droppedForeign: number;
  sendErrors: number;
}

export interface RelayProcess {
  pid: number;
  /** A side of call i listens on basePort + 4i, B side on basePort + 4i + 2. */
  basePort: number;
  stop(): Promise<RelayCounters | null>;
}

export async function startRelay(
  tools: NativeTools,
  basePort: number,
  calls: number,
  threads: number,
): Promise<RelayProcess> {
  const child: ChildProcess = spawn(tools.relay, [String(basePort), String(calls), String(threads)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.on('exit', killOnExit);
  const deadline = Date.now() + 10_000;
  while (!stdout.includes('"ready"')) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`relay did not start: ${stderr.slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    pid: child.pid ?? -1,
    basePort,
    stop: async () => {
      child.kill('SIGTERM');
      const force = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(force);
      process.off('exit', killOnExit);
      const last = stdout.trim().split('\n').pop() ?? '';
      try {
        const c = JSON.parse(last) as Partial<RelayCounters>;
        return typeof c.forwarded === 'number' ? (c as RelayCounters) : null;
      } catch {
        return null;
      }
    },
  };
}
