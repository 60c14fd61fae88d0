// bench:media — N concurrent bridged G.711 calls through a relay on loopback, checked packet by
// packet, edgeline against a plain C recvmmsg/sendmmsg relay (the physical limit).
//
// Each call is two RTP streams, A→relay→B and B→relay→A, of 172-byte packets every 20 ms. The
// load generator (scripts/bench/c-relay/loadgen.c) paces all 2N streams evenly, stamps each packet
// with its stream, sequence number and send time, and checks what comes back: loss, duplicates,
// reordering, misrouting and the added latency (kernel receive time − send time).
//
//   c:        relay.c, one socket per call side, latching, one epoll thread per core.
//   edgeline: the real gateway (--demo, own --rtp-ports range) with a trunk to a SIPp UAS; a
//             SIPp UAC (extension 1001, digest) sets up N calls whose SDP names the load
//             generator's ports; SIPp logs the address the gateway handed each side, which is
//             where the load generator sends. When the gateway passes SDP through unchanged the
//             media never touches it and the run is reported as "not anchored".
//   direct:   no relay at all (A and B talk to each other): the loopback baseline.
//
// A run passes with zero loss and p99 added latency under 5 ms. Reported per N: sent, received,
// loss, p50/p99, the target's CPU (/proc utime+stime of its process tree, % of one core) and RSS;
// per target the largest passing N, the forwarding rate (packets/s) and the packets forwarded per
// CPU-second; and the edgeline/C ratio. All processes run on the same cores; the load generator's
// own CPU is reported.
//
// Usage: node --import tsx scripts/bench-media.ts [--target c|edgeline|both|direct]
//          [--calls 100,250,500,1000] [--duration 30] [--recording] [--threads 2] [--pps 50]
//          [--setup-rate 100] [--json-out FILE]
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { setupEdgelineCalls } from './bench/media-edgeline.ts';
import { buildNative, runLoadgen, startRelay } from './bench/media-native.ts';
import type { CallPlan, LoadgenResult, NativeTools, RelayCounters } from './bench/media-native.ts';
import { cpuMs, memory, processTree, reapedChildrenCpuMs } from './bench/proc-stats.ts';

type Target = 'c' | 'edgeline' | 'direct';

interface Options {
  targets: Target[];
  calls: number[];
  durationS: number;
  recording: boolean;
  threads: number;
  pps: number;
  setupRate: number;
  jsonOut: string | null;
}

interface Row {
  target: Target;
  recording: boolean;
  calls: number;
  durationS: number;
  sent: number;
  received: number;
  lossPct: number;
  duplicates: number;
  reordered: number;
  misrouted: number;
  latencyUs: LoadgenResult['latencyUs'];
  /** Packets delivered per second of sending. */
  forwardedPps: number;
  /** Target CPU over the measurement, % of one core. */
  targetCpuPct: number;
  /** Packets delivered per CPU-second of the target: its forwarding rate at one full core. */
  ppsPerCore: number;
  rssMb: number;
  loadgenCpuPct: number;
  /** CPU used by everything else on the machine during the run, % of one core. */
  othersCpuPct: number;
  /** Interrupt and softirq time of all CPUs (loopback delivery), % of one core. */
  softirqPct: number;
  senderLateMaxUs: number;
  passed: boolean;
  anchored: boolean;
  note: string;
  relay?: RelayCounters | null;
}

const P99_LIMIT_US = 5000;
/**
 * Port ranges are searched from here up to the ephemeral range (32768), avoiding bound ports; below
 * 20000 are the ports the SIP peers and the gateway's own SIP/HTTP ports are drawn from.
 */
const PORT_SEARCH_LO = 20_000;
const PORT_SEARCH_HI = 32_768;

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      target: { type: 'string', default: 'both' },
      calls: { type: 'string', default: '100,250,500,1000' },
      duration: { type: 'string', default: '30' },
      recording: { type: 'boolean', default: false },
      threads: { type: 'string', default: String(availableParallelism()) },
      pps: { type: 'string', default: '50' },
      'setup-rate': { type: 'string', default: '100' },
      'json-out': { type: 'string' },
    },
  });
  const t = values.target;
  const targets: Target[] =
    t === 'both' ? ['c', 'edgeline'] : t === 'c' || t === 'edgeline' || t === 'direct' ? [t] : [];
  if (targets.length === 0) throw new Error(`--target must be c, edgeline, both or direct, got ${t}`);
  const calls = values.calls.split(',').map((s) => Number(s.trim()));
  if (calls.some((n) => !Number.isInteger(n) || n <= 0 || n > 3500))
    throw new Error('--calls takes positive integers up to 3500');
  const num = (v: string, name: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number`);
    return n;
  };
  return {
    targets,
    calls,
    durationS: num(values.duration, 'duration'),
    recording: values.recording,
    threads: Math.round(num(values.threads, 'threads')),
    pps: Math.round(num(values.pps, 'pps')),
    setupRate: num(values['setup-rate'], 'setup-rate'),
    jsonOut: values['json-out'] ?? null,
  };
}

/** Busy and total jiffies of all CPUs (/proc/stat first line): the machine's load around a run. */
function machineJiffies(): { busy: number; irq: number; total: number } {
  const first = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const f = first.trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  // fields: user nice system idle iowait irq softirq …; loopback delivery runs as softirq, which
  // is charged to no process, so it is reported on its own rather than as someone else's load
  const irq = (f[5] ?? 0) + (f[6] ?? 0);
  return { busy: total - (f[3] ?? 0) - (f[4] ?? 0) - irq, irq, total };
}

/** UDP ports bound on this machine right now (/proc/net/udp and udp6, local address column). */
function boundUdpPorts(): Set<number> {
  const out = new Set<number>();
  for (const file of ['/proc/net/udp', '/proc/net/udp6']) {
    const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
    for (const line of text.split('\n').slice(1)) {
      const local = line.trim().split(/\s+/)[1];
      const hex = local?.split(':').pop();
      if (hex !== undefined && hex !== '') out.add(parseInt(hex, 16));
    }
  }
  return out;
}

/**
 * Port layout for N calls: relay/gateway sides (4 per call, RTP/RTCP pairs) then the load
 * generator's (2 per call), in the first stretch below the ephemeral range where nothing is bound
 * (other gateways and test peers on this machine hold ports of their own).
 */
function layout(calls: number): { rtpLo: number; rtpHi: number; loadgenBase: number } {
  const rtpSpan = 4 * calls + 100;
  const span = rtpSpan + 100 + 2 * calls;
  const bound = boundUdpPorts();
  for (let lo = PORT_SEARCH_LO; lo + span < PORT_SEARCH_HI; lo += 100) {
    let clash = -1;
    for (let p = lo; p < lo + span; p++) if (bound.has(p)) clash = p;
    if (clash < 0) return { rtpLo: lo, rtpHi: lo + rtpSpan - 1, loadgenBase: lo + rtpSpan + 100 };
    lo = clash - (clash % 100);
  }
  throw new Error(`no free range of ${span} UDP ports between ${PORT_SEARCH_LO} and ${PORT_SEARCH_HI}`);
}

function localPlan(calls: number, relayBase: number | null, loadgenBase: number): CallPlan[] {
  return Array.from({ length: calls }, (_, i) => {
    const aPort = loadgenBase + 2 * i;
    const bPort = aPort + 1;
    return relayBase === null
      ? { aPort, aDest: { ip: '127.0.0.1', port: bPort }, bPort, bDest: { ip: '127.0.0.1', port: aPort } }
      : {
          aPort,
          aDest: { ip: '127.0.0.1', port: relayBase + 4 * i },
          bPort,
          bDest: { ip: '127.0.0.1', port: relayBase + 4 * i + 2 },
        };
  });
}

async function measure(
  tools: NativeTools,
  work: string,
  o: Options,
  targetPid: number | null,
  plan: CallPlan[],
): Promise<{
  lg: LoadgenResult;
  cpuPct: number;
  cpuS: number;
  rssMb: number;
  loadgenCpuPct: number;
  othersCpuPct: number;
  softirqPct: number;
}> {
  const tree0 = targetPid === null ? [] : processTree(targetPid);
  const cpu0 = cpuMs(tree0);
  const reaped0 = reapedChildrenCpuMs();
  const t0 = performance.now();
  const j0 = machineJiffies();
  let rssKb = 0;
  const sampler = setInterval(() => {
    if (targetPid !== null) rssKb = Math.max(rssKb, memory(processTree(targetPid)).rssKb);
  }, 1000);
  try {
    const lg = await runLoadgen({
      tools,
      configPath: join(work, 'loadgen.conf'),
      plan,
      durationS: o.durationS,
      ppsPerStream: o.pps,
      drainMs: 500,
    });
    const wallS = (performance.now() - t0) / 1000;
    const tree1 = targetPid === null ? [] : processTree(targetPid);
    const cpuS = (cpuMs(tree1) - cpu0) / 1000;
    if (targetPid !== null) rssKb = Math.max(rssKb, memory(tree1).rssKb);
    const loadgenCpuPct = ((reapedChildrenCpuMs() - reaped0) / 1000 / wallS) * 100;
    const cpuPct = (cpuS / wallS) * 100;
    const j1 = machineJiffies();
    const cores = availableParallelism();
    const share = (d: number): number => (d / Math.max(1, j1.total - j0.total)) * 100 * cores;
    const othersCpuPct = Math.max(0, share(j1.busy - j0.busy) - cpuPct - loadgenCpuPct);
    const softirqPct = share(j1.irq - j0.irq);
    return { lg, cpuPct, cpuS, rssMb: rssKb / 1024, loadgenCpuPct, othersCpuPct, softirqPct };
  } finally {
    clearInterval(sampler);
  }
}

function row(
  target: Target,
  recording: boolean,
  calls: number,
  o: Options,
  m: Awaited<ReturnType<typeof measure>>,
  anchored: boolean,
  note: string,
): Row {
  const { lg } = m;
  const sendS = Math.max(0.001, lg.sendWallMs / 1000);
  const passed = lg.sent > 0 && lg.lost === 0 && lg.latencyUs.p99 < P99_LIMIT_US && anchored;
  return {
    target,
    recording,
    calls,
    durationS: o.durationS,
    sent: lg.sent,
    received: lg.received,
    lossPct: lg.lossPct,
    duplicates: lg.duplicates,
    reordered: lg.reordered,
    misrouted: lg.misrouted,
    latencyUs: lg.latencyUs,
    forwardedPps: Math.round(lg.received / sendS),
    targetCpuPct: Math.round(m.cpuPct * 10) / 10,
    ppsPerCore: m.cpuS > 0 ? Math.round(lg.received / m.cpuS) : 0,
    rssMb: Math.round(m.rssMb * 10) / 10,
    loadgenCpuPct: Math.round(m.loadgenCpuPct * 10) / 10,
    othersCpuPct: Math.round(m.othersCpuPct * 10) / 10,
    softirqPct: Math.round(m.softirqPct * 10) / 10,
    senderLateMaxUs: lg.senderLateMaxUs,
    passed,
    anchored,
    note,
  };
}

async function runC(tools: NativeTools, work: string, calls: number, o: Options): Promise<Row> {
  const l = layout(calls);
  const relay = await startRelay(tools, l.rtpLo, calls, o.threads);
  let counters: RelayCounters | null = null;
  try {
    const m = await measure(tools, work, o, relay.pid, localPlan(calls, l.rtpLo, l.loadgenBase));
    counters = await relay.stop();
    const r = row('c', false, calls, o, m, true, `${o.threads} threads`);
    r.relay = counters;
    return r;
  } finally {
    if (counters === null) await relay.stop();
  }
}

async function runDirect(tools: NativeTools, work: string, calls: number, o: Options): Promise<Row> {
  const l = layout(calls);
  const m = await measure(tools, work, o, null, localPlan(calls, null, l.loadgenBase));
  return row('direct', false, calls, o, m, true, 'no relay: loopback baseline');
}

async function runEdgeline(
  tools: NativeTools,
  work: string,
  calls: number,
  recording: boolean,
  o: Options,
): Promise<Row> {
  const l = layout(calls);
  const setup = await setupEdgelineCalls({
    calls,
    rtpPorts: { lo: l.rtpLo, hi: l.rtpHi },
    loadgenBase: l.loadgenBase,
    holdS: Math.ceil(calls / o.setupRate + o.durationS + 60),
    recording,
    setupRate: o.setupRate,
  });
  try {
    const m = await measure(tools, work, o, setup.pid, setup.plan);
    const notes = [`setup ${(setup.setupMs / 1000).toFixed(1)} s`];
    if (!setup.anchored) notes.push('NOT ANCHORED: SDP passed through, media bypassed the gateway');
    if (recording && setup.recordingRefused !== null)
      notes.push(`recording refused by config (${setup.recordingRefused})`);
    return row('edgeline', recording, calls, o, m, setup.anchored, notes.join('; '));
  } finally {
    await setup.stop();
  }
}

function failedRow(target: Target, recording: boolean, calls: number, o: Options, e: unknown): Row {
  const msg = e instanceof Error ? e.message : String(e);
  return {
    target,
    recording,
    calls,
    durationS: o.durationS,
    sent: 0,
    received: 0,
    lossPct: 100,
    duplicates: 0,
    reordered: 0,
    misrouted: 0,
    latencyUs: { p50: 0, p90: 0, p99: 0, p999: 0, max: 0, beyond1s: 0 },
    forwardedPps: 0,
    targetCpuPct: 0,
    ppsPerCore: 0,
    rssMb: 0,
    loadgenCpuPct: 0,
    othersCpuPct: 0,
    softirqPct: 0,
    senderLateMaxUs: 0,
    passed: false,
    anchored: false,
    note: `ERROR: ${msg.split('\n')[0]?.slice(0, 200) ?? ''}`,
  };
}

const pad = (s: string | number, n: number): string => String(s).padStart(n);

function printRow(r: Row): void {
  const name = `${r.target}${r.recording ? '+rec' : ''}`;
  console.log(
    [
      pad(name, 12),
      pad(r.calls, 5),
      pad(r.sent, 9),
      pad(r.received, 9),
      pad(r.lossPct.toFixed(3), 7),
      pad(r.duplicates, 5),
      pad(r.reordered, 5),
      pad((r.latencyUs.p50 / 1000).toFixed(2), 7),
      pad((r.latencyUs.p99 / 1000).toFixed(2), 7),
      pad((r.latencyUs.max / 1000).toFixed(1), 7),
      pad(r.forwardedPps, 8),
      pad(r.targetCpuPct.toFixed(1), 6),
      pad(r.ppsPerCore, 8),
      pad(r.rssMb.toFixed(1), 7),
      pad(r.loadgenCpuPct.toFixed(0), 5),
      pad(r.softirqPct.toFixed(0), 5),
      pad(r.othersCpuPct.toFixed(0), 5),
      pad(r.passed ? 'yes' : 'NO', 4),
      ` ${r.note}`,
    ].join(' '),
  );
}

interface Summary {
  target: string;
  largestPassingCalls: number | null;
  maxForwardedPps: number;
  /** Median packets per CPU-second over the runs that passed (all runs when none did). */
  ppsPerCore: number;
}

function summarise(rows: Row[]): Summary[] {
  const groups = new Map<string, Row[]>();
  for (const r of rows) {
    const k = `${r.target}${r.recording ? '+rec' : ''}`;
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  return [...groups].map(([target, rs]) => {
    const passed = rs.filter((r) => r.passed);
    const basis = (passed.length > 0 ? passed : rs).map((r) => r.ppsPerCore).sort((x, y) => x - y);
    return {
      target,
      largestPassingCalls: passed.length > 0 ? Math.max(...passed.map((r) => r.calls)) : null,
      maxForwardedPps: Math.max(0, ...passed.map((r) => r.forwardedPps)),
      ppsPerCore: basis[Math.floor(basis.length / 2)] ?? 0,
    };
  });
}

async function main(): Promise<void> {
  const o = parseOptions();
  const work = mkdtempSync(join(tmpdir(), 'bench-media-'));
  try {
    const tools = buildNative(work);
    console.log(
      `bench:media  targets=${o.targets.join(',')} calls=${o.calls.join(',')} duration=${o.durationS}s ` +
        `pps/stream=${o.pps} relay threads=${o.threads}${o.recording ? ' +recording' : ''}`,
    );
    console.log(
      '      target calls      sent  received  loss%   dup reord p50 ms p99 ms max ms  fwd pps  cpu%  pps/cpu  rss MB lgcpu  sirq other pass',
    );
    const rows: Row[] = [];
    for (const target of o.targets) {
      const variants = target === 'edgeline' && o.recording ? [false, true] : [false];
      for (const recording of variants) {
        for (const calls of o.calls) {
          let r: Row;
          try {
            r =
              target === 'c'
                ? await runC(tools, work, calls, o)
                : target === 'direct'
                  ? await runDirect(tools, work, calls, o)
                  : await runEdgeline(tools, work, calls, recording, o);
          } catch (e) {
            r = failedRow(target, recording, calls, o, e);
          }
          rows.push(r);
          printRow(r);
        }
      }
    }
    const summary = summarise(rows);
    console.log('');
    for (const s of summary)
      console.log(
        `${s.target}: largest N with zero loss and p99 < 5 ms = ${s.largestPassingCalls ?? 'none'}; ` +
          `max forwarded ${s.maxForwardedPps} pkt/s; ${s.ppsPerCore} pkt per CPU-second`,
      );
    const c = summary.find((s) => s.target === 'c');
    // pps per CPU-second rises with load (fuller batches per wake-up), so the fair comparison is
    // at equal N; the median over all runs is given too.
    const cRows = rows.filter((r) => r.target === 'c' && r.ppsPerCore > 0);
    const round3 = (x: number): number => Math.round(x * 1000) / 1000;
    const ratios = summary
      .filter((s) => s.target.startsWith('edgeline'))
      .map((s) => {
        const perN = rows
          .filter((r) => `${r.target}${r.recording ? '+rec' : ''}` === s.target && r.ppsPerCore > 0)
          .flatMap((r) => {
            const cr = cRows.find((x) => x.calls === r.calls);
            return cr === undefined
              ? []
              : [{ calls: r.calls, perCoreRatio: round3(r.ppsPerCore / cr.ppsPerCore) }];
          });
        return {
          target: s.target,
          perN,
          perCoreRatio: c && c.ppsPerCore > 0 ? round3(s.ppsPerCore / c.ppsPerCore) : null,
          largestNRatio:
            c?.largestPassingCalls && s.largestPassingCalls !== null
              ? round3(s.largestPassingCalls / c.largestPassingCalls)
              : null,
        };
      });
    for (const r of ratios)
      console.log(
        `${r.target}/c: pkt per CPU-second ${r.perN.map((x) => `N=${x.calls} ${x.perCoreRatio}`).join(', ') || 'n/a'}` +
          ` (median ${r.perCoreRatio ?? 'n/a'}); largest passing N ${r.largestNRatio ?? 'n/a'}`,
      );
    const json = { options: o, rows, summary, ratios };
    if (o.jsonOut !== null) writeFileSync(o.jsonOut, JSON.stringify(json, null, 2));
    console.log('\nJSON');
    console.log(JSON.stringify(json));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
