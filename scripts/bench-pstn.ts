// bench:pstn — every channel of the simulated card busy with a bridged PSTN↔SIP call.
//
// The gateway runs as its own process (scripts/bench/pstn-gateway.ts: `npm start`, telling its
// ports over IPC) on a fresh data directory whose configuration routes
// calls arriving on any simulated line to a SIP trunk. The trunk's one member is the far end in
// this process (scripts/bench/pstn-far-end.ts): it answers at once and echoes RTP. The simulated
// office then originates one call per channel (POST /api/sim/calls, caller ID given), and each
// caller plays its own tone (300 Hz + 11 Hz × channel index, −10 dBm0) for the whole run, so:
//   PSTN → SIP:  the far end measures each stream's frequency: it must be the caller's own tone;
//   SIP → PSTN:  the caller's recording (what came back through the echo) must hold the tone's
//                level over the measurement window.
// Per run, over the measurement window: channels busy (the gateway's own view of its ports),
// calls up (answered at the office and at the far end), the gateway's CPU (/proc utime+stime of
// its process tree, % of one core, and per channel), RSS (total, per channel, and the growth over
// idle per channel), the office's frame-clock overruns and the card's transmit overruns and
// underruns (the gateway late with, or flooding, a channel's 20 ms frames), all read from
// `GET /api/status` (the `pstn` dump's `frames`, the media engine's `frames`: frames decoded,
// dropped, and the playout buffers' underruns). Medians of the runs
// per configuration; the load average of the (shared) machine is printed alongside.
//
// Target: 240 simultaneous calls (8 E1 spans) with no frame overruns.
//
// Usage: node --import tsx scripts/bench-pstn.ts [--configs small,large] [--runs 3]
//          [--duration 30] [--settle 3] [--fxo-cid after-first-ring|before-ring] [--json-out FILE]
//          [--cpu-prof DIR]   (V8 CPU profiles of the gateway's threads, written to DIR at its exit)
//   small = 4 FXO + 1 E1 span (34 channels), large = 8 E1 spans (240 channels); or FXO+SPANS,
//   e.g. 0+4.
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { isPortFree } from '../gateway/test/peers/free-port.ts';
import { channelCount, pstnBenchConfig, type CardSize } from './bench/pstn-config.ts';
import { startFarEnd, type FarEnd, type FarEndCallStats } from './bench/pstn-far-end.ts';
import type { FrameLegsDump } from '../gateway/src/media/engine/engine.ts';
import type { PstnFrameStats } from '../gateway/src/pstn/pstn-service.ts';
import { clockTicksPerSecond, cpuMs, memory, processTree } from './bench/proc-stats.ts';
import { GATEWAY_NODE_FLAGS } from '../gateway/src/node-flags.ts';

const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const TONE_LEVEL_DBM0 = -10;
/** Echo level accepted at the caller, dB around the level played. */
const LEVEL_TOLERANCE_DB = 1;
/** Frequency accepted at the far end, Hz around the caller's tone (neighbours are 11 Hz apart). */
const FREQ_TOLERANCE_HZ = 4;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Options {
  configs: Array<{ name: string; size: CardSize }>;
  runs: number;
  durationS: number;
  settleS: number;
  jsonOut: string | null;
  cpuProfDir: string | null;
  fxoCidTiming: 'before-ring' | 'after-first-ring';
}

function parseSize(s: string): { name: string; size: CardSize } {
  if (s === 'small') return { name: 'small (4 FXO + 1 E1)', size: { fxo: 4, e1Spans: 1 } };
  if (s === 'large') return { name: 'large (8 E1)', size: { fxo: 0, e1Spans: 8 } };
  const m = /^(\d+)\+(\d+)$/.exec(s);
  if (!m) throw new Error(`--configs takes small, large or FXO+SPANS, got ${s}`);
  const size = { fxo: Number(m[1]), e1Spans: Number(m[2]) };
  return { name: `${size.fxo} FXO + ${size.e1Spans} E1`, size };
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      configs: { type: 'string', default: 'small,large' },
      runs: { type: 'string', default: '3' },
      duration: { type: 'string', default: '30' },
      settle: { type: 'string', default: '3' },
      'json-out': { type: 'string' },
      'cpu-prof': { type: 'string' },
      'fxo-cid': { type: 'string', default: 'after-first-ring' },
    },
  });
  const num = (v: string, name: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number`);
    return n;
  };
  return {
    configs: values.configs.split(',').map((s) => parseSize(s.trim())),
    runs: Math.round(num(values.runs, 'runs')),
    durationS: num(values.duration, 'duration'),
    settleS: num(values.settle, 'settle'),
    jsonOut: values['json-out'] ?? null,
    cpuProfDir: values['cpu-prof'] ? resolve(values['cpu-prof']) : null,
    fxoCidTiming: values['fxo-cid'] === 'before-ring' ? 'before-ring' : 'after-first-ring',
  };
}

// ---------------------------------------------------------------------------------------------
// The gateway process.

/** What the bench reads of `GET /api/status`. */
interface PstnBenchDump {
  office: { ticks: number; overruns: number; calls: number; callsRejected: number } | null;
  cards: PstnFrameStats;
  frameLegs: FrameLegsDump | null;
}

interface StatusBody {
  pstn: { frames: { cards: PstnFrameStats; office: PstnBenchDump['office'] } } | null;
  media: { engine: { frames?: FrameLegsDump } | null } | null;
}

interface GatewayChild {
  pid: number;
  httpPort: number;
  api<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>;
  dump(): Promise<PstnBenchDump>;
  stop(): Promise<void>;
  tail(): string;
}

/** A free range of `width` RTP ports below the ephemeral range, probed at a few points. */
async function rtpRange(width: number): Promise<{ lo: number; hi: number }> {
  for (let attempt = 0; attempt < 40; attempt++) {
    const lo = 10_000 + 2 * Math.floor(Math.random() * ((32_000 - width - 10_000) / 2));
    let free = true;
    for (let p = lo; p < lo + width && free; p += Math.max(2, Math.floor(width / 16)))
      free = await isPortFree('udp', p);
    if (free) return { lo, hi: lo + width - 1 };
  }
  throw new Error('no free RTP port range');
}

async function startGatewayChild(
  dataDir: string,
  channels: number,
  cpuProfDir: string | null,
): Promise<GatewayChild> {
  // Three port pairs per call (the frame leg, the B2BUA's two anchored legs), with room to spare.
  const rtp = await rtpRange(Math.max(1000, channels * 8));
  const args = ['--data-dir', dataDir, '--sip-port', '0', '--http-port', '0'];
  args.push('--rtp-ports', `${rtp.lo}-${rtp.hi}`);
  const child: ChildProcess = fork(join(projectRoot, 'scripts/bench/pstn-gateway.ts'), args, {
    cwd: projectRoot,
    // --cpu-prof profiles every thread of the gateway (main and each worker, a file each).
    execArgv: [
      ...GATEWAY_NODE_FLAGS,
      '--import',
      'tsx',
      ...(cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', cpuProfDir] : []),
    ],
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    env: { NODE_ENV: 'production', EDGELINE_LOG_LEVEL: 'warn', ...process.env },
  });
  let tail = '';
  const onData = (d: string): void => {
    tail = (tail + d).slice(-65_536);
  };
  child.stdout?.setEncoding('utf8').on('data', onData);
  child.stderr?.setEncoding('utf8').on('data', onData);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.on('exit', killOnExit);
  const ready = new Promise<{ httpPort: number }>((resolveReady, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway not ready in 60 s\n${tail}`)), 60_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`gateway exited (${code})\n${tail}`));
    });
    child.on('message', (m: { t: string; httpPort?: number }) => {
      if (m.t === 'ready') {
        clearTimeout(timer);
        resolveReady({ httpPort: m.httpPort ?? 0 });
      }
    });
  });
  const { httpPort } = await ready;
  const api = async <T>(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; body: T }> => {
    const res = await fetch(`http://127.0.0.1:${httpPort}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
  };
  return {
    pid: child.pid ?? -1,
    httpPort,
    tail: () => tail,
    api,
    async dump() {
      const s = (await api<StatusBody>('GET', '/api/status')).body;
      const frames = s.pstn?.frames;
      if (!frames) throw new Error('GET /api/status has no pstn.frames');
      return { office: frames.office, cards: frames.cards, frameLegs: s.media?.engine?.frames ?? null };
    },
    async stop() {
      child.kill('SIGTERM');
      const force = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(force);
      process.off('exit', killOnExit);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// One run.

interface SimLine {
  id: string;
  kind: string;
  number: string;
  state: string;
}
interface SimCall {
  id: string;
  line: string;
  state: 'alerting' | 'answered' | 'ended';
  cause: string | null;
  endedBy: string | null;
  recording: { frames: number; levelDbm0: number | null };
}
interface PstnLine {
  key: string;
  state: string;
  lastFault: { reason: string } | null;
}

export interface RunResult {
  channels: number;
  busy: number;
  callsUp: number;
  setupS: number;
  cpuPct: number;
  cpuPctPerChannel: number;
  /** The gateway process's CPU by thread name (main = the signalling thread), % of one core. */
  cpuPctByThread: Record<string, number>;
  /** The signalling thread (SIP, call control, the simulated office and its frames). */
  cpuMainPct: number;
  /** Every other thread: the media workers (named `node`), the recorder, libuv and V8 helpers. */
  cpuOtherThreadsPct: number;
  /** This process (the office's HTTP client and the far end's echo), % of one core. */
  benchCpuPct: number;
  /** RTP packets per second per call reaching the far end (the PSTN → SIP path), median: 50 is whole. */
  upPacketsPerSecond: number;
  rssMb: number;
  rssKbPerChannel: number;
  rssGrowthKbPerChannel: number;
  officeOverruns: number;
  txOverruns: number;
  txUnderruns: number;
  channelsWithUnderruns: number;
  /** Over the window: frames the workers' decoders dropped, and the playout buffers' underruns, overruns, drained frames. */
  decoderDropped: number;
  playoutUnderruns: number;
  playoutOverruns: number;
  playoutDrained: number;
  /** The deepest playout target any leg reached, frames. */
  playoutMaxTarget: number;
  audioUpOk: number;
  audioDownOk: number;
  downLevelDbm0Median: number | null;
  load1: number;
  passed: boolean;
  notes: string[];
}

async function pool<T>(items: readonly T[], width: number, fn: (t: T, i: number) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        const item = items[i];
        if (item !== undefined) await fn(item, i);
      }
    }),
  );
}

/** CPU milliseconds per thread name of a process (/proc/<pid>/task/<tid>/stat). */
function threadCpuMs(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const text = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = text.slice(text.indexOf('(') + 1, text.lastIndexOf(')'));
      const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
      const ms = ((Number(f[11] ?? 0) + Number(f[12] ?? 0)) * 1000) / clockTicksPerSecond();
      const key = tid === String(pid) ? 'main' : name;
      out.set(key, (out.get(key) ?? 0) + ms);
    } catch {
      // the thread ended
    }
  }
  return out;
}

const toneHz = (i: number): number => 300 + 11 * i;
const callerNumber = (i: number): string => `1380000${String(i).padStart(4, '0')}`;

/** Mean power of a recording between two summaries, dBm0. */
function windowLevel(
  a: SimCall['recording'] | undefined,
  b: SimCall['recording'] | undefined,
): number | null {
  if (!a || !b || b.frames <= a.frames) return null;
  const energy = (r: SimCall['recording']): number =>
    r.levelDbm0 === null ? 0 : 10 ** (r.levelDbm0 / 10) * r.frames;
  const e = (energy(b) - energy(a)) / (b.frames - a.frames);
  return e > 0 ? 10 * Math.log10(e) : null;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] ?? NaN) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

async function run(
  gw: GatewayChild,
  farEnd: FarEnd,
  lines: SimLine[],
  idleRssKb: number,
  opts: Options,
): Promise<RunResult> {
  const n = lines.length;
  const notes: string[] = [];
  const t0 = Date.now();
  const ids: Array<string | undefined> = new Array<string | undefined>(n);
  await pool(lines, 16, async (line, i) => {
    const r = await gw.api<{ id: string }>('POST', '/api/sim/calls', {
      line: line.id,
      callerId: { number: callerNumber(i), name: `BENCH ${i}` },
      // The load generator keeps levels, not audio: its memory is not the gateway's.
      record: false,
      ...(line.kind === 'fxo' ? { cidMode: 'fsk-bell202', cidTiming: opts.fxoCidTiming } : {}),
    });
    if (r.status === 201) ids[i] = r.body.id;
    else notes.push(`line ${line.id}: originate answered ${r.status} ${JSON.stringify(r.body)}`);
  });
  const byId = async (): Promise<Map<string, SimCall>> =>
    new Map((await gw.api<{ calls: SimCall[] }>('GET', '/api/sim/calls')).body.calls.map((c) => [c.id, c]));
  const deadline = Date.now() + 60_000 + n * 200;
  let answered: number;
  for (;;) {
    const calls = await byId();
    answered = ids.filter((id) => id !== undefined && calls.get(id)?.state === 'answered').length;
    if ((answered === n && farEnd.active() >= n) || Date.now() > deadline) break;
    await sleep(500);
  }
  const setupS = (Date.now() - t0) / 1000;
  if (answered < n) {
    notes.push(`only ${answered}/${n} calls answered after ${setupS.toFixed(0)} s`);
    const calls = await byId();
    for (const id of ids) {
      const c = id === undefined ? undefined : calls.get(id);
      if (c && c.state !== 'answered')
        notes.push(`  ${c.id} on ${c.line}: ${c.state} (${c.cause ?? '-'} by ${c.endedBy ?? '-'})`);
    }
    const faulty = (await gw.api<{ lines: PstnLine[] }>('GET', '/api/pstn/lines')).body.lines.filter(
      (l) => l.lastFault !== null,
    );
    for (const l of faulty)
      notes.push(`  port ${l.key}: ${l.state}, last fault ${l.lastFault?.reason ?? ''}`);
    if (process.env['BENCH_PSTN_DEBUG']) process.stderr.write(`gateway output:\n${gw.tail()}\n`);
  }
  const toneMs = Math.round((opts.settleS + opts.durationS + 30) * 1000);
  await pool(ids, 16, async (id, i) => {
    if (id === undefined) return;
    const r = await gw.api('POST', `/api/sim/calls/${id}/play`, {
      tone: { frequenciesHz: [toneHz(i)], levelDbm0: TONE_LEVEL_DBM0, durationMs: toneMs },
    });
    if (r.status !== 200) notes.push(`call ${id}: play answered ${r.status}`);
  });
  await sleep(opts.settleS * 1000);

  // The measurement window: nothing but sampling happens here.
  const pids = processTree(gw.pid);
  const before = await gw.dump();
  const recBefore = await byId();
  farEnd.openWindow();
  const cpu0 = cpuMs(pids);
  const threads0 = threadCpuMs(gw.pid);
  const own0 = process.cpuUsage();
  const w0 = Date.now();
  const rssSamples: number[] = [];
  const loads: number[] = [];
  while (Date.now() - w0 < opts.durationS * 1000) {
    await sleep(Math.min(5000, opts.durationS * 1000 - (Date.now() - w0)));
    rssSamples.push(memory(processTree(gw.pid)).rssKb);
    loads.push(loadavg()[0] ?? 0);
  }
  const cpu1 = cpuMs(pids);
  const threads1 = threadCpuMs(gw.pid);
  const own1 = process.cpuUsage(own0);
  const w1 = Date.now();
  farEnd.closeWindow();
  const after = await gw.dump();
  const recAfter = await byId();
  const pstnLines = (await gw.api<{ lines: PstnLine[] }>('GET', '/api/pstn/lines')).body.lines;
  const busy = pstnLines.filter((l) => l.state === 'connected').length;
  const answeredNow = ids.filter((id) => id !== undefined && recAfter.get(id)?.state === 'answered').length;
  const farCalls = farEnd.calls().filter((c) => !c.ended);
  const callsUp = Math.min(answeredNow, farCalls.length);
  const windowS = (w1 - w0) / 1000;
  const upPps = farCalls.length > 0 ? median(farCalls.map((c) => c.windowPackets / windowS)) : 0;

  // PSTN → SIP: every call's stream carries its own caller's tone.
  const farByCaller = new Map<string, FarEndCallStats>(farCalls.map((c) => [c.caller, c]));
  let audioUpOk = 0;
  let audioDownOk = 0;
  const downLevels: number[] = [];
  for (let i = 0; i < n; i++) {
    const fc = farByCaller.get(callerNumber(i));
    if (fc?.windowHz != null && Math.abs(fc.windowHz - toneHz(i)) <= FREQ_TOLERANCE_HZ) audioUpOk++;
    const id = ids[i];
    const level = id ? windowLevel(recBefore.get(id)?.recording, recAfter.get(id)?.recording) : null;
    if (level !== null) {
      downLevels.push(level);
      if (Math.abs(level - TONE_LEVEL_DBM0) <= LEVEL_TOLERANCE_DB) audioDownOk++;
    }
  }
  if (farCalls.length > 0 && farByCaller.size < farCalls.length)
    notes.push('far end: some calls arrived without a distinct caller number');

  // Hang up and wait for every port and the far end to be free again.
  await pool(ids, 16, async (id) => {
    if (id !== undefined) await gw.api('POST', `/api/sim/calls/${id}/hangup`);
  });
  const freeBy = Date.now() + 30_000;
  while (Date.now() < freeBy) {
    const l = (await gw.api<{ lines: PstnLine[] }>('GET', '/api/pstn/lines')).body.lines;
    if (farEnd.active() === 0 && l.every((x) => x.state === 'idle')) break;
    await sleep(500);
  }
  if (farEnd.active() > 0) notes.push(`${farEnd.active()} far-end calls still up after hangup`);

  const seconds = (w1 - w0) / 1000;
  const cpuPct = ((cpu1 - cpu0) / 1000 / seconds) * 100;
  const cpuPctByThread: Record<string, number> = {};
  for (const [name, ms] of threads1) {
    const pct = ((ms - (threads0.get(name) ?? 0)) / 1000 / seconds) * 100;
    if (pct >= 0.5) cpuPctByThread[name] = Math.round(pct * 10) / 10;
  }
  const rssKb = median(rssSamples);
  const officeOverruns = (after.office?.overruns ?? 0) - (before.office?.overruns ?? 0);
  const txOverruns = after.cards.txOverruns - before.cards.txOverruns;
  const txUnderruns = after.cards.txUnderruns - before.cards.txUnderruns;
  const fl0 = before.frameLegs;
  const fl1 = after.frameLegs;
  const flDelta = (f: (d: NonNullable<typeof fl1>) => number): number =>
    fl1 ? f(fl1) - (fl0 ? f(fl0) : 0) : 0;
  const passed =
    busy === n &&
    callsUp === n &&
    officeOverruns === 0 &&
    txOverruns === 0 &&
    txUnderruns === 0 &&
    audioUpOk === n &&
    audioDownOk === n;
  return {
    channels: n,
    busy,
    callsUp,
    setupS,
    cpuPct,
    cpuPctPerChannel: cpuPct / n,
    cpuPctByThread,
    upPacketsPerSecond: upPps,
    benchCpuPct: ((own1.user + own1.system) / 1e6 / seconds) * 100,
    cpuMainPct: cpuPctByThread['main'] ?? 0,
    cpuOtherThreadsPct: Object.entries(cpuPctByThread)
      .filter(([k]) => k !== 'main')
      .reduce((a, [, v]) => a + v, 0),
    rssMb: rssKb / 1024,
    rssKbPerChannel: rssKb / n,
    rssGrowthKbPerChannel: (rssKb - idleRssKb) / n,
    officeOverruns,
    txOverruns,
    txUnderruns,
    channelsWithUnderruns: after.cards.channelsUnderrun,
    decoderDropped: flDelta((d) => d.decoderDropped),
    playoutUnderruns: flDelta((d) => d.playout.underruns),
    playoutOverruns: flDelta((d) => d.playout.overruns),
    playoutDrained: flDelta((d) => d.playout.drained),
    playoutMaxTarget: fl1?.playout.maxTargetFrames ?? 0,
    audioUpOk,
    audioDownOk,
    downLevelDbm0Median: downLevels.length > 0 ? median(downLevels) : null,
    load1: median(loads),
    passed,
    notes,
  };
}

// ---------------------------------------------------------------------------------------------

interface ConfigResult {
  config: string;
  size: CardSize;
  channels: number;
  runs: RunResult[];
  median: Omit<RunResult, 'notes' | 'passed' | 'cpuPctByThread'> & { passedRuns: number };
  idleRssMb: number;
}

async function benchConfig(name: string, size: CardSize, opts: Options): Promise<ConfigResult> {
  const channels = channelCount(size);
  const work = mkdtempSync(join(tmpdir(), 'edgeline-bench-pstn-'));
  const dataDir = join(work, 'data');
  mkdirSync(dataDir);
  const farEnd = await startFarEnd();
  // A configuration written into a fresh data directory is taken as revision 1 at start.
  writeFileSync(join(dataDir, 'config.json'), JSON.stringify(pstnBenchConfig(size, farEnd.sipPort), null, 2));
  const gw = await startGatewayChild(dataDir, channels, opts.cpuProfDir);
  try {
    const lines = (await gw.api<{ lines: SimLine[] }>('GET', '/api/sim/lines')).body.lines;
    const ports = (await gw.api<{ lines: PstnLine[] }>('GET', '/api/pstn/lines')).body.lines;
    if (lines.length !== channels || ports.length !== channels)
      throw new Error(
        `expected ${channels} lines, the office has ${lines.length}, the gateway ${ports.length}`,
      );
    await sleep(2000);
    const idleRssKb = memory(processTree(gw.pid)).rssKb;
    const runs: RunResult[] = [];
    for (let r = 0; r < opts.runs; r++) {
      process.stderr.write(`${name}: run ${r + 1}/${opts.runs} (${channels} channels)…\n`);
      const result = await run(gw, farEnd, lines, idleRssKb, opts);
      for (const note of result.notes) process.stderr.write(`  ${note}\n`);
      runs.push(result);
    }
    const med = (k: keyof RunResult): number =>
      median(runs.map((x) => x[k]).filter((v): v is number => typeof v === 'number'));
    return {
      config: name,
      size,
      channels,
      runs,
      idleRssMb: idleRssKb / 1024,
      median: {
        channels,
        busy: med('busy'),
        callsUp: med('callsUp'),
        setupS: med('setupS'),
        cpuPct: med('cpuPct'),
        cpuPctPerChannel: med('cpuPctPerChannel'),
        cpuMainPct: med('cpuMainPct'),
        cpuOtherThreadsPct: med('cpuOtherThreadsPct'),
        benchCpuPct: med('benchCpuPct'),
        upPacketsPerSecond: med('upPacketsPerSecond'),
        rssMb: med('rssMb'),
        rssKbPerChannel: med('rssKbPerChannel'),
        rssGrowthKbPerChannel: med('rssGrowthKbPerChannel'),
        officeOverruns: med('officeOverruns'),
        txOverruns: med('txOverruns'),
        txUnderruns: med('txUnderruns'),
        channelsWithUnderruns: med('channelsWithUnderruns'),
        decoderDropped: med('decoderDropped'),
        playoutUnderruns: med('playoutUnderruns'),
        playoutOverruns: med('playoutOverruns'),
        playoutDrained: med('playoutDrained'),
        playoutMaxTarget: med('playoutMaxTarget'),
        audioUpOk: med('audioUpOk'),
        audioDownOk: med('audioDownOk'),
        downLevelDbm0Median: med('downLevelDbm0Median'),
        load1: med('load1'),
        passedRuns: runs.filter((x) => x.passed).length,
      },
    };
  } catch (e) {
    process.stderr.write(`gateway output:\n${gw.tail()}\n`);
    throw e;
  } finally {
    await gw.stop();
    await farEnd.close();
    rmSync(work, { recursive: true, force: true });
  }
}

function table(results: ConfigResult[]): string {
  const head = [
    'config',
    'ch',
    'busy',
    'up',
    'cpu %',
    'cpu %/ch',
    'main %',
    'other thr %',
    'rss MB',
    'rss KB/ch',
    'Δrss KB/ch',
    'ovr office',
    'ovr tx',
    'undr tx',
    'pl undr',
    'pl drain',
    'audio up',
    'audio down',
    'load1',
    'pass',
  ];
  const rows = results.map((r) => {
    const m = r.median;
    return [
      r.config,
      String(r.channels),
      String(m.busy),
      String(m.callsUp),
      m.cpuPct.toFixed(1),
      m.cpuPctPerChannel.toFixed(3),
      m.cpuMainPct.toFixed(1),
      m.cpuOtherThreadsPct.toFixed(1),
      m.rssMb.toFixed(0),
      m.rssKbPerChannel.toFixed(0),
      m.rssGrowthKbPerChannel.toFixed(0),
      String(m.officeOverruns),
      String(m.txOverruns),
      String(m.txUnderruns),
      String(m.playoutUnderruns),
      String(m.playoutDrained),
      `${m.audioUpOk}/${r.channels}`,
      `${m.audioDownOk}/${r.channels}`,
      m.load1.toFixed(2),
      `${m.passedRuns}/${r.runs.length}`,
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  const fmt = (cells: string[]): string => cells.map((c, i) => c.padStart(widths[i] ?? 0)).join('  ');
  return [fmt(head), ...rows.map(fmt)].join('\n');
}

async function main(): Promise<void> {
  const opts = parseOptions();
  const started = new Date().toISOString();
  const load0 = loadavg();
  const results: ConfigResult[] = [];
  for (const c of opts.configs) results.push(await benchConfig(c.name, c.size, opts));
  const report = {
    bench: 'pstn',
    started,
    durationS: opts.durationS,
    runs: opts.runs,
    loadAverageAtStart: load0,
    loadAverageAtEnd: loadavg(),
    target: { channels: 240, overruns: 0 },
    results,
  };
  process.stdout.write(
    `\nbench:pstn — medians of ${opts.runs} run(s) of ${opts.durationS} s; load average at start ` +
      `${load0.map((x) => x.toFixed(2)).join(' ')}, at end ${loadavg()
        .map((x) => x.toFixed(2))
        .join(' ')}\n\n${table(results)}\n\n`,
  );
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  if (opts.jsonOut) writeFileSync(opts.jsonOut, JSON.stringify(report, null, 2));
}

void main().catch((e: unknown) => {
  process.stderr.write(`bench:pstn failed: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
