// bench:sip — calls per second and CPU per call of edgeline against Kamailio, the anchor.
//
// For each target and each offered rate: a SIPp UAS plays the far end (answers, the caller
// hangs up), the target sits in the middle, and a SIPp UAC offers `rate` calls per second for
// `duration` seconds (-m rate·duration). Each run starts the target and the UAS afresh.
//
//   edgeline: B2BUA with the demo configuration plus one trunk to the UAS; every call is
//             digest-authenticated (407) as extension 1001.
//   kamailio: transaction-stateful record-routing proxy relaying to the UAS, no authentication
//             (unless --kamailio-auth), 2 UDP workers by default.
//
// Measured: failed calls (a rate passes below 0.1 %), completed calls/s, the target's CPU (all
// its processes, /proc utime+stime) per call, its memory (PSS and RSS of the process tree) at
// start, middle and end of the run. SIPp runs on the same cores as the target; its CPU is
// reported so the reader can tell when the load generator, not the target, is the limit.
//
// Usage: node --import tsx scripts/bench-sip.ts [--targets kamailio,edgeline] [--duration 60]
//          [--rates 500,1000,1500 | --find-max [--start-rate 250] [--max-rate 8000]]
//          [--hold-ms 1000] [--children 2] [--kamailio-auth] [--json-out FILE]
import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { freePort } from '../gateway/test/peers/free-port.ts';
import { kamailioUnavailableReason, startKamailio } from '../gateway/test/peers/kamailio.ts';
import { describeSippResult, runSipp, sippBinary, startSipp } from '../gateway/test/peers/sipp.ts';
import type { SippOptions } from '../gateway/test/peers/sipp.ts';
import { configureEdgelineForBench, startEdgeline } from './bench/edgeline-target.ts';
import { cpuMs, memory, processTree, reapedChildrenCpuMs } from './bench/proc-stats.ts';
import type { MemorySample } from './bench/proc-stats.ts';

type TargetName = 'kamailio' | 'edgeline';

interface BenchOptions {
  targets: TargetName[];
  durationS: number;
  rates: number[];
  findMax: boolean;
  startRate: number;
  maxRate: number;
  holdMs: number;
  children: number;
  shmMb: number;
  kamailioAuth: boolean;
  jsonOut: string | null;
}

interface RunResult {
  target: TargetName;
  authenticated: boolean;
  rate: number;
  durationS: number;
  holdMs: number;
  offered: number;
  successful: number;
  /** Failed plus never completed (offered − successful when SIPp could not finish). */
  failed: number;
  failedPct: number;
  retransmissions: number;
  /** SIPp's failure causes on the caller side, e.g. { FailedUnexpectedMessage: 3 }. */
  failedBy: Record<string, number>;
  /** Completed calls per second of wall time, the last call's hold time excluded. */
  completedCps: number;
  wallMs: number;
  targetCpuMs: number;
  cpuMsPerCall: number;
  /** Target CPU as a percentage of one core over the run. */
  targetCpuPct: number;
  memory: { start: MemorySample; mid: MemorySample | null; end: MemorySample };
  sippCpuPct: { uac: number; uas: number };
  keptUp: boolean;
  passed: boolean;
  note: string;
}

const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const FAILED_PCT_LIMIT = 0.1;
/** UDP socket buffers of the SIPp peers: bursts at these rates overflow the 64 KiB default. */
const SOCKET_BUFFER_BYTES = 4 * 1024 * 1024;

function parseOptions(): BenchOptions {
  const { values } = parseArgs({
    options: {
      targets: { type: 'string', default: 'kamailio,edgeline' },
      duration: { type: 'string', default: '60' },
      rates: { type: 'string', default: '500,1000,1500' },
      'find-max': { type: 'boolean', default: false },
      'start-rate': { type: 'string', default: '250' },
      'max-rate': { type: 'string', default: '8000' },
      'hold-ms': { type: 'string', default: '1000' },
      children: { type: 'string', default: '2' },
      'shm-mb': { type: 'string', default: '1024' },
      'kamailio-auth': { type: 'boolean', default: false },
      'json-out': { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(
      'usage: bench-sip [--targets kamailio,edgeline] [--duration S] [--rates R1,R2 | --find-max] [--start-rate R] [--max-rate R] [--hold-ms MS] [--children N] [--kamailio-auth] [--json-out FILE]',
    );
    process.exit(0);
  }
  const positive = (name: string, v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number, got '${v}'`);
    return n;
  };
  const targets = values.targets.split(',').map((t) => t.trim());
  for (const t of targets) if (t !== 'kamailio' && t !== 'edgeline') throw new Error(`unknown target '${t}'`);
  return {
    targets: targets as TargetName[],
    durationS: positive('duration', values.duration),
    rates: values.rates.split(',').map((r) => positive('rates', r)),
    findMax: values['find-max'],
    startRate: positive('start-rate', values['start-rate']),
    maxRate: positive('max-rate', values['max-rate']),
    holdMs: Number(values['hold-ms']),
    children: positive('children', values.children),
    shmMb: positive('shm-mb', values['shm-mb']),
    kamailioAuth: values['kamailio-auth'],
    jsonOut: values['json-out'] ?? null,
  };
}

/** Kamailio is a benchmark-only dependency: install the Debian package when it is missing. */
function ensureKamailio(): string | null {
  if (kamailioUnavailableReason() === null) return null;
  console.log('kamailio not found: installing the Debian package');
  const root = process.getuid?.() === 0;
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  try {
    const apt = (args: string[]): void => {
      execFileSync(root ? 'apt-get' : 'sudo', root ? args : ['apt-get', ...args], { stdio: 'inherit', env });
    };
    apt(['update', '-qq']);
    apt(['install', '-y', '-qq', 'kamailio']);
  } catch (e) {
    return `could not install kamailio: ${(e as Error).message}`;
  }
  return kamailioUnavailableReason();
}

interface StartedTarget {
  pid: number;
  sipPort: number;
  stop(): Promise<unknown>;
  outputTail(): string;
}

async function startTarget(target: TargetName, uasPort: number, o: BenchOptions): Promise<StartedTarget> {
  const timeoutS = o.durationS + 180;
  if (target === 'kamailio') {
    const k = await startKamailio({
      listenPort: await freePort('udp'),
      targetPort: uasPort,
      children: o.children,
      shmMb: o.shmMb,
      auth: o.kamailioAuth,
      timeoutS,
    });
    return { pid: k.pid, sipPort: k.port, stop: () => k.stop(), outputTail: () => k.stderrTail() };
  }
  const e = await startEdgeline({
    sipPort: await freePort('udp', { both: true }),
    httpPort: await freePort('tcp'),
    timeoutS,
  });
  try {
    await configureEdgelineForBench(e.httpPort, uasPort);
  } catch (err) {
    await e.stop();
    throw err;
  }
  return { pid: e.pid, sipPort: e.sipPort, stop: () => e.stop(), outputTail: () => e.outputTail() };
}

function uacOptions(
  target: TargetName,
  sipPort: number,
  localPort: number,
  rate: number,
  o: BenchOptions,
): SippOptions {
  const authenticated = target === 'edgeline' || o.kamailioAuth;
  const offered = Math.round(rate * o.durationS);
  return {
    scenario: authenticated ? 'uac-auth.xml' : 'uac.xml',
    remote: `127.0.0.1:${sipPort}`,
    localPort,
    service: '2000',
    ...(authenticated ? { auth: { username: '1001', password: 'demo1001' } } : {}),
    keys: { caller_domain: 'edgeline.local' },
    calls: offered,
    rate,
    holdMs: o.holdMs,
    timeoutS: o.durationS + 60,
    traceMessages: false,
    statsPeriodS: 5,
    // a late 180 (relayed after the 200 by another worker) must not abort a call on hold
    ignoreMessagesDuringPause: true,
    socketBufferBytes: SOCKET_BUFFER_BYTES,
  };
}

async function runOne(target: TargetName, rate: number, o: BenchOptions): Promise<RunResult> {
  const uas = await startSipp({
    scenario: 'uas.xml',
    localPort: await freePort('udp'),
    timeoutS: o.durationS + 240,
    traceMessages: false,
    statsPeriodS: 5,
    socketBufferBytes: SOCKET_BUFFER_BYTES,
  });
  try {
    const t = await startTarget(target, uas.port, o);
    try {
      const authenticated = target === 'edgeline' || o.kamailioAuth;
      const startTree = processTree(t.pid);
      const cpu0 = cpuMs(startTree);
      const mem0 = memory(startTree);
      const uasCpu0 = cpuMs([uas.pid]);
      const reaped0 = reapedChildrenCpuMs();
      let mid: MemorySample | null = null;
      const midTimer = setTimeout(() => {
        mid = memory(processTree(t.pid));
      }, o.durationS * 500);
      const uac = await runSipp(uacOptions(target, t.sipPort, await freePort('udp'), rate, o));
      clearTimeout(midTimer);
      const endTree = processTree(t.pid);
      const targetCpu = cpuMs(endTree) - cpu0;
      const mem1 = memory(endTree);
      const uasAlive = processTree(uas.pid).length > 0;
      const uasCpu = uasAlive ? cpuMs([uas.pid]) - uasCpu0 : NaN;
      const uacCpu = reapedChildrenCpuMs() - reaped0;

      const offered = Math.round(rate * o.durationS);
      const successful = uac.stats?.successful ?? 0;
      const failed = Math.max(uac.stats?.failed ?? 0, offered - successful);
      const failedPct = (failed / offered) * 100;
      const activeS = Math.max(0.001, (uac.wallMs - o.holdMs) / 1000);
      const keptUp = !uac.timedOut && uac.wallMs <= (o.durationS * 1.1 + o.holdMs / 1000 + 5) * 1000;
      const notes: string[] = [];
      if (!authenticated) notes.push('no auth');
      if (uac.timedOut) notes.push('uac timed out');
      if (uac.signal !== null || (uac.exitCode !== 0 && uac.exitCode !== 1))
        notes.push(`uac exited ${uac.exitCode ?? uac.signal}`);
      if (!uasAlive) notes.push('uas died during the run');
      if (!keptUp) notes.push('could not keep the offered rate');
      if (Object.keys(uac.stats?.failedBy ?? {}).length > 0) notes.push(JSON.stringify(uac.stats?.failedBy));
      if (uac.errorTrace !== null && failed > 0) notes.push(`errors: ${uac.errorTrace}`);
      if (uac.stats === null) notes.push(`no SIPp statistics: ${describeSippResult(uac)}`);
      return {
        target,
        authenticated,
        rate,
        durationS: o.durationS,
        holdMs: o.holdMs,
        offered,
        successful,
        failed,
        failedPct,
        retransmissions: uac.stats?.retransmissions ?? 0,
        failedBy: uac.stats?.failedBy ?? {},
        completedCps: successful / activeS,
        wallMs: uac.wallMs,
        targetCpuMs: targetCpu,
        cpuMsPerCall: successful > 0 ? targetCpu / successful : NaN,
        targetCpuPct: (targetCpu / uac.wallMs) * 100,
        memory: { start: mem0, mid, end: mem1 },
        sippCpuPct: { uac: (uacCpu / uac.wallMs) * 100, uas: (uasCpu / uac.wallMs) * 100 },
        keptUp,
        passed: keptUp && failedPct < FAILED_PCT_LIMIT,
        note: notes.join('; '),
      };
    } finally {
      await t.stop();
    }
  } finally {
    await uas.stop(1000);
  }
}

const mb = (kb: number | undefined): string => (kb === undefined ? '-' : (kb / 1024).toFixed(1));

function printTable(results: RunResult[]): void {
  const head = [
    'target',
    'auth',
    'rate',
    'ok',
    'failed%',
    'cps',
    'cpu ms/call',
    'cpu%',
    'PSS MB s/m/e',
    'RSS MB s/m/e',
    'sipp uac/uas cpu%',
    'pass',
    'note',
  ];
  const rows = results.map((r) => [
    r.target,
    r.authenticated ? 'digest' : 'none',
    String(r.rate),
    String(r.successful),
    r.failedPct.toFixed(3),
    r.completedCps.toFixed(0),
    r.cpuMsPerCall.toFixed(3),
    r.targetCpuPct.toFixed(0),
    `${mb(r.memory.start.pssKb)}/${mb(r.memory.mid?.pssKb)}/${mb(r.memory.end.pssKb)}`,
    `${mb(r.memory.start.rssKb)}/${mb(r.memory.mid?.rssKb)}/${mb(r.memory.end.rssKb)}`,
    `${r.sippCpuPct.uac.toFixed(0)}/${r.sippCpuPct.uas.toFixed(0)}`,
    r.passed ? 'yes' : 'NO',
    r.note,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ');
  console.log(line(head));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows) console.log(line(row));
}

interface Comparison {
  rate: number;
  cpuPerCallRatio: number;
}

function compare(results: RunResult[]): {
  perRate: Comparison[];
  maxPassing: Record<TargetName, number | null>;
  maxRatio: number | null;
} {
  const perRate: Comparison[] = [];
  for (const e of results.filter((r) => r.target === 'edgeline')) {
    const k = results.find((r) => r.target === 'kamailio' && r.rate === e.rate);
    if (k !== undefined && k.cpuMsPerCall > 0)
      perRate.push({ rate: e.rate, cpuPerCallRatio: e.cpuMsPerCall / k.cpuMsPerCall });
  }
  const best = (t: TargetName): number | null => {
    const passing = results.filter((r) => r.target === t && r.passed).map((r) => r.rate);
    return passing.length > 0 ? Math.max(...passing) : null;
  };
  const maxPassing = { kamailio: best('kamailio'), edgeline: best('edgeline') };
  const maxRatio =
    maxPassing.kamailio !== null && maxPassing.edgeline !== null
      ? maxPassing.edgeline / maxPassing.kamailio
      : null;
  return { perRate, maxPassing, maxRatio };
}

/** Doubles the rate until a run fails, then bisects between the last pass and the first failure. */
async function findMax(target: TargetName, o: BenchOptions, results: RunResult[]): Promise<void> {
  let good = 0;
  let bad = Number.POSITIVE_INFINITY;
  for (let rate = o.startRate; rate <= o.maxRate; rate *= 2) {
    const r = await runAndReport(target, rate, o, results);
    if (r.passed) good = rate;
    else {
      bad = rate;
      break;
    }
  }
  for (let step = 0; step < 3 && Number.isFinite(bad) && bad - good > Math.max(50, good * 0.1); step++) {
    const rate = Math.round((good + bad) / 2 / 25) * 25;
    const r = await runAndReport(target, rate, o, results);
    if (r.passed) good = rate;
    else bad = rate;
  }
}

async function runAndReport(
  target: TargetName,
  rate: number,
  o: BenchOptions,
  results: RunResult[],
): Promise<RunResult> {
  process.stdout.write(`${target} @ ${rate} calls/s for ${o.durationS}s … `);
  const r = await runOne(target, rate, o);
  results.push(r);
  console.log(
    `${r.successful}/${r.offered} ok, ${r.failedPct.toFixed(3)}% failed, ${r.cpuMsPerCall.toFixed(3)} ms CPU/call${r.passed ? '' : ' (FAIL)'}`,
  );
  return r;
}

async function main(): Promise<void> {
  const o = parseOptions();
  if (sippBinary() === null) throw new Error('sipp is not installed (Debian package sip-tester)');
  const skipped: Record<string, string> = {};
  const targets: TargetName[] = [];
  for (const t of o.targets) {
    const reason =
      t === 'kamailio'
        ? ensureKamailio()
        : existsSync(resolve(projectRoot, 'gateway/src/main.ts'))
          ? null
          : 'gateway/src/main.ts not found';
    if (reason === null) targets.push(t);
    else {
      skipped[t] = reason;
      console.log(`skipping ${t}: ${reason}`);
    }
  }
  console.log(
    `bench:sip — ${o.durationS}s per run, hold ${o.holdMs} ms, ${o.findMax ? `find-max from ${o.startRate}` : `rates ${o.rates.join(',')}`}; pass = < ${FAILED_PCT_LIMIT}% failed and the offered rate kept`,
  );
  console.log(
    "note: SIPp (UAC and UAS) shares the machine's cores with the target; see the sipp cpu% column.",
  );
  const results: RunResult[] = [];
  for (const target of targets) {
    try {
      if (o.findMax) await findMax(target, o, results);
      else for (const rate of o.rates) await runAndReport(target, rate, o, results);
    } catch (e) {
      skipped[target] = (e as Error).message;
      console.log(`\n${target} failed to run: ${(e as Error).message}`);
    }
  }
  console.log('');
  printTable(results);
  const comparison = compare(results);
  for (const c of comparison.perRate)
    console.log(`edgeline/kamailio CPU per call @ ${c.rate}/s: ${c.cpuPerCallRatio.toFixed(2)}×`);
  if (comparison.maxRatio !== null)
    console.log(`edgeline/kamailio highest passing rate: ${comparison.maxRatio.toFixed(2)}×`);
  if (targets.includes('kamailio') && !o.kamailioAuth)
    console.log('kamailio runs without authentication; edgeline authenticates every call.');
  const report = {
    bench: 'sip',
    host: { cpus: (await import('node:os')).cpus().length, node: process.version },
    options: o,
    skipped,
    results,
    comparison,
  };
  const json = JSON.stringify(report);
  if (o.jsonOut !== null) writeFileSync(o.jsonOut, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\nBENCH_SIP_JSON ${json}`);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
