// edgeline as the media benchmark's target: the real gateway process with a dedicated RTP port
// range, one trunk to a SIPp UAS, and N calls set up through it by a SIPp UAC (extension 1001,
// digest). Each call's SDP names the load generator's ports; the address the gateway hands each
// side (its anchored ports, or the far party's when media passes through) is logged by SIPp and
// becomes the load generator's plan.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, isPortFree } from '../../gateway/test/peers/free-port.ts';
import { startSipp } from '../../gateway/test/peers/sipp.ts';
import type { SippServer } from '../../gateway/test/peers/sipp.ts';
import { benchConfig } from './edgeline-target.ts';
import type { CallPlan } from './media-native.ts';
import { writeInjection, writeMediaScenarios } from './media-scenarios.ts';
import { GATEWAY_NODE_FLAGS } from '../../gateway/src/node-flags.ts';

const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * Configuration merged into the benchmark configuration for the "with recording" variant: record
 * both legs of every bridged call. Kept in one place so it follows the schema's field name.
 */
export const RECORDING_CONFIG: Record<string, unknown> = {
  media: { anchor: true, recording: 'all' },
};

/** First number dialled; call i dials FIRST_NUMBER + i (routed to the trunk by the `X.` route). */
const FIRST_NUMBER = 7_000_000;

export interface EdgelineMediaSetup {
  pid: number;
  plan: CallPlan[];
  /** The gateway rewrote SDP to its own ports on both legs. */
  anchored: boolean;
  /** Why recording is not in effect when it was asked for; null otherwise. */
  recordingRefused: string | null;
  setupMs: number;
  stop(): Promise<void>;
  outputTail(): string;
}

function tcpAccepts(port: number): Promise<boolean> {
  return new Promise((r) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      r(true);
    });
    s.once('error', () => r(false));
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Logged {
  number: string;
  ownPort: number;
  ip: string;
  port: number;
}

/** Lines "A 7000001 ownPort c=IN IP4 ip m=audio port" (B: "B INVITE sip:7000001@ …") of a -trace_logs file. */
function readLogged(path: string, tag: 'A' | 'B'): Map<string, Logged> {
  const out = new Map<string, Logged>();
  if (!existsSync(path)) return out;
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const m = new RegExp(
      `^${tag} (?:INVITE sip:)?([^@\\s]+)@? (\\d+) c=IN IP4 ([0-9.]+) m=audio (\\d+)\\s*$`,
    ).exec(line.trim());
    if (m?.[1] === undefined || m[3] === undefined) continue;
    out.set(m[1], { number: m[1], ownPort: Number(m[2]), ip: m[3], port: Number(m[4]) });
  }
  return out;
}

export async function setupEdgelineCalls(opts: {
  calls: number;
  rtpPorts: { lo: number; hi: number };
  /** Load generator ports: call i uses loadgenBase + 2i (A) and loadgenBase + 2i + 1 (B). */
  loadgenBase: number;
  holdS: number;
  recording: boolean;
  setupRate: number;
}): Promise<EdgelineMediaSetup> {
  const work = mkdtempSync(join(tmpdir(), 'edgeline-bench-media-'));
  const dataDir = join(work, 'data');
  const sipPort = await freePort('udp');
  const httpPort = await freePort('tcp');
  // BENCH_MEDIA_NODE_ARGS: extra Node options for the gateway only (e.g. `--cpu-prof
  // --cpu-prof-dir=/tmp/prof`, which NODE_OPTIONS refuses); worker threads inherit them.
  const nodeArgs = (process.env['BENCH_MEDIA_NODE_ARGS'] ?? '').split(' ').filter((a) => a !== '');
  const args = [
    ...GATEWAY_NODE_FLAGS,
    ...nodeArgs,
    '--import',
    'tsx',
    'gateway/src/main.ts',
    '--data-dir',
    dataDir,
    '--demo',
  ];
  args.push('--sip-port', String(sipPort), '--http-port', String(httpPort));
  args.push('--rtp-ports', `${opts.rtpPorts.lo}-${opts.rtpPorts.hi}`);
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
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.on('exit', killOnExit);
  const peers: SippServer[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(peers.map((p) => p.stop(500)));
    child.kill('SIGTERM');
    // A profiled gateway writes its profiles on a clean exit, after its drain: give it time.
    const force = setTimeout(() => child.kill('SIGKILL'), nodeArgs.length > 0 ? 60_000 : 5000);
    await exited;
    clearTimeout(force);
    process.off('exit', killOnExit);
    rmSync(work, { recursive: true, force: true });
  };
  try {
    const up = Date.now() + 30_000;
    while (!((await tcpAccepts(httpPort)) && !(await isPortFree('udp', sipPort)))) {
      if (child.exitCode !== null || Date.now() > up) throw new Error(`edgeline did not come up\n${tail}`);
      await sleep(100);
    }
    const scenarios = writeMediaScenarios(work);
    const uasPort = await freePort('udp');
    const config = benchConfig(uasPort);
    let recordingRefused: string | null = null;
    const put = async (doc: Record<string, unknown>): Promise<Response> =>
      fetch(`http://127.0.0.1:${httpPort}/api/config`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(doc),
        signal: AbortSignal.timeout(10_000),
      });
    if (opts.recording) {
      const res = await put({ ...config, ...RECORDING_CONFIG });
      if (!res.ok) recordingRefused = `${res.status}: ${(await res.text()).slice(0, 300)}`;
    }
    if (!opts.recording || recordingRefused !== null) {
      const res = await put(config);
      if (!res.ok) throw new Error(`PUT /api/config answered ${res.status}: ${await res.text()}`);
    }

    const holdMs = opts.holdS * 1000;
    const uasInf = join(work, 'uas.csv');
    const uacInf = join(work, 'uac.csv');
    writeInjection(
      uasInf,
      Array.from({ length: opts.calls }, (_, i) => [opts.loadgenBase + 2 * i + 1, '-'] as const),
    );
    writeInjection(
      uacInf,
      Array.from(
        { length: opts.calls },
        (_, i) => [opts.loadgenBase + 2 * i, String(FIRST_NUMBER + i)] as const,
      ),
    );
    const uasLog = join(work, 'uas-media.log');
    const uacLog = join(work, 'uac-media.log');
    const common = { traceMessages: false, statsPeriodS: 5, socketBufferBytes: 4 * 1024 * 1024 };
    peers.push(
      await startSipp({
        ...common,
        scenario: scenarios.uas,
        localPort: uasPort,
        timeoutS: opts.holdS + 120,
        injectionCsv: uasInf,
        extraArgs: ['-trace_logs', '-log_file', uasLog],
      }),
    );
    const t0 = Date.now();
    peers.push(
      await startSipp({
        ...common,
        scenario: scenarios.uac,
        remote: `127.0.0.1:${sipPort}`,
        localPort: await freePort('udp'),
        timeoutS: opts.holdS + 120,
        auth: { username: '1001', password: 'demo1001' },
        calls: opts.calls,
        rate: opts.setupRate,
        maxConcurrent: opts.calls,
        holdMs,
        injectionCsv: uacInf,
        extraArgs: ['-trace_logs', '-log_file', uacLog],
      }),
    );
    const deadline = Date.now() + (opts.calls / opts.setupRate) * 1000 + 60_000;
    let a = readLogged(uacLog, 'A');
    let b = readLogged(uasLog, 'B');
    while (a.size < opts.calls || b.size < opts.calls) {
      if (Date.now() > deadline || child.exitCode !== null)
        throw new Error(`only ${a.size}/${b.size} of ${opts.calls} calls answered on A/B\n${tail}`);
      await sleep(250);
      a = readLogged(uacLog, 'A');
      b = readLogged(uasLog, 'B');
    }
    const setupMs = Date.now() - t0;
    const loadgenPorts = new Set<number>();
    for (let i = 0; i < opts.calls; i++)
      loadgenPorts.add(opts.loadgenBase + 2 * i).add(opts.loadgenBase + 2 * i + 1);
    let anchored = true;
    const plan: CallPlan[] = [];
    for (let i = 0; i < opts.calls; i++) {
      const number = String(FIRST_NUMBER + i);
      const la = a.get(number);
      const lb = b.get(number);
      if (la === undefined || lb === undefined) throw new Error(`call ${number} missing from the SIPp logs`);
      if (loadgenPorts.has(la.port) || loadgenPorts.has(lb.port)) anchored = false;
      plan.push({
        aPort: la.ownPort,
        aDest: { ip: la.ip, port: la.port },
        bPort: lb.ownPort,
        bDest: { ip: lb.ip, port: lb.port },
      });
    }
    return { pid: child.pid ?? -1, plan, anchored, recordingRefused, setupMs, stop, outputTail: () => tail };
  } catch (e) {
    await stop();
    throw e;
  }
}
