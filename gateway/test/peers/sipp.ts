// SIPp (Debian `sip-tester`) as a real peer for tests and benchmarks: one-shot runs
// (`runSipp`, e.g. a UAC placing N calls) and long-running servers (`startSipp`, e.g. a UAS
// playing a trunk member). Every process is bounded in time and killed when the test process
// exits, so no run can leave one behind.
//
// Each run gets its own work directory holding a copy of the scenario (SIPp names its default
// trace files after the scenario file), the statistics CSV (-trace_stat -stf), the message trace
// (-trace_msg), the unexpected-message log (-trace_err) and, when asked, per-message counts
// (-trace_counts). The directory is removed after a clean run and kept after a failed one so
// the message trace can be read.
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, freeUdpBlock, isPortFree } from './free-port.ts';

/** Folder of the XML scenarios shipped with the tests. */
export const SCENARIO_DIR = join(dirname(fileURLToPath(import.meta.url)), 'scenarios');

export type SippTransport = 'u1' | 'un' | 't1';

export interface SippAuth {
  username: string;
  password: string;
  /**
   * The digest-uri (RFC 2617 3.2.2) without the scheme. SIPp's default is `remote_ip:port`,
   * which is not the Request-URI of an INVITE; runSipp defaults it to `service@remote`.
   * REGISTER scenarios should pass the registrar domain.
   */
  uri?: string;
}

export interface SippOptions {
  /** A SIPp built-in scenario name (`uac`, `uas`, …), or an XML file: an absolute path or a file name in SCENARIO_DIR. */
  scenario: string;
  /** host:port of the peer (UAC side); servers omit it. */
  remote?: string;
  localPort: number;
  transport?: SippTransport;
  /** -m: stop after this many calls. */
  calls?: number;
  /** -r: calls per rate period. */
  rate?: number;
  /** -rp: the rate period (default 1000 ms). */
  ratePeriodMs?: number;
  /** -s: user part of the Request-URI (the dialled number). */
  service?: string;
  /** -au/-ap/-auth_uri. */
  auth?: SippAuth;
  /** -lost: percentage of messages to drop. */
  lost?: number;
  /** -d: the `<pause/>` length (call hold time). */
  holdMs?: number;
  /** -l: cap on simultaneous calls. */
  maxConcurrent?: number;
  /** Hard stop: SIPp quits after this (the run counts as failed) and is killed shortly after. */
  timeoutS: number;
  /** -key values for the scenario keywords; see DEFAULT_KEYS. */
  keys?: Record<string, string>;
  extraArgs?: string[];
  /** -inf: a CSV injection file. */
  injectionCsv?: string;
  /** -trace_msg (default true; turn off under load). */
  traceMessages?: boolean;
  /**
   * -pause_msg_ign: drop messages arriving while the call sits in a `<pause>`. A stateful proxy
   * with several workers can relay a 180 after the 200 (UDP keeps no order); without this the
   * late 180 aborts the call during the hold time.
   */
  ignoreMessagesDuringPause?: boolean;
  /**
   * -buff_size: socket buffer bytes (SIPp's default is 64 KiB, which overflows on loopback
   * bursts above ~1000 calls/s; the kernel caps it at net.core.rmem_max).
   */
  socketBufferBytes?: number;
  /** -trace_counts: per-message counts, returned in `messageCounts`. */
  countMessages?: boolean;
  /** -fd: statistics dump period (default 1 s). */
  statsPeriodS?: number;
  /** A command prefix SIPp runs under (`ip netns exec NAME`: a peer on a host of its own). */
  wrap?: string[];
  /** What to do with the work directory when SIPp exits (default 'on-success'). */
  cleanup?: 'on-success' | 'never';
}

/** Columns of SIPp's statistics CSV (`sipp -h stat`), cumulative values. */
export interface SippStats {
  elapsedMs: number;
  callRate: number;
  incomingCalls: number;
  outgoingCalls: number;
  totalCalls: number;
  currentCalls: number;
  successful: number;
  failed: number;
  retransmissions: number;
  outOfCallMsgs: number;
  deadCallMsgs: number;
  fatalErrors: number;
  watchdogMajor: number;
  /** Non-zero `Failed…(C)` columns by cause, e.g. `{ FailedUnexpectedMessage: 2 }`. */
  failedBy: Record<string, number>;
  /** ResponseTime1(C): mean time to the message marked rtd="true". */
  responseTimeMs: number;
}

export interface SippResult {
  /**
   * SIPp's exit code: 0 every call succeeded, 1 at least one failed, 97 stopped by an internal
   * command, 99 ended without processing a call, 255 fatal error, 254 could not bind.
   */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** The hard stop (timeoutS) was reached. */
  timedOut: boolean;
  wallMs: number;
  stats: SippStats | null;
  /** -trace_counts, last row: e.g. `{ '0_OPTIONS_Recv': 3, '1_INVITE_Recv': 2, … }`. */
  messageCounts: Record<string, number> | null;
  stdoutTail: string;
  stderrTail: string;
  workDir: string;
  /** Message trace (-trace_msg) and unexpected-message log; null once cleaned up or when off. */
  messageTrace: string | null;
  errorTrace: string | null;
  args: string[];
}

export interface SippServer {
  port: number;
  pid: number;
  workDir: string;
  /** Soft stop (SIGUSR1: SIPp ends its calls and writes its statistics), then SIGKILL. */
  stop(graceMs?: number): Promise<SippResult>;
  /** The statistics SIPp has dumped so far (every statsPeriodS). */
  stats(): SippStats | null;
  messageCounts(): Record<string, number> | null;
}

/**
 * Values for the keywords the shipped scenarios use. `caller` defaults to the auth username.
 * `caller_domain` is the host part of From/To (REGISTER's Request-URI); `auth_*` configure the
 * challenging stand-ins (uas-challenge.xml, registrar-auth.xml).
 */
export const DEFAULT_KEYS: Readonly<Record<string, string>> = {
  caller: 'sipp',
  caller_domain: '127.0.0.1',
  auth_realm: 'edgeline.local',
  auth_user: '1001',
  auth_password: 'demo1001',
  expires: '3600',
};

const TAIL_BYTES = 8192;
const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of live) child.kill('SIGKILL');
  });
}

/** The sipp binary, or null when sip-tester is not installed. */
export function sippBinary(): string | null {
  for (const candidate of ['/usr/bin/sipp', '/usr/local/bin/sipp'])
    if (existsSync(candidate)) return candidate;
  const r = spawnSync('sh', ['-c', 'command -v sipp'], { encoding: 'utf8' });
  const found = r.stdout.trim();
  return r.status === 0 && found !== '' ? found : null;
}

/** Absolute path of a shipped scenario, e.g. scenarioFile('uac-auth') → …/scenarios/uac-auth.xml. */
export function scenarioFile(name: string): string {
  return join(SCENARIO_DIR, name.endsWith('.xml') ? name : `${name}.xml`);
}

function resolveScenario(scenario: string): { builtin: string } | { file: string } {
  if (!scenario.endsWith('.xml') && !scenario.includes('/')) return { builtin: scenario };
  const file = isAbsolute(scenario)
    ? scenario
    : existsSync(scenario)
      ? resolve(scenario)
      : scenarioFile(scenario);
  if (!existsSync(file)) throw new Error(`SIPp scenario not found: ${scenario}`);
  return { file };
}

/** hh:mm:ss[:usec] as SIPp prints durations. */
function parseSippDuration(text: string): number {
  const parts = text.trim().split(':').map(Number);
  const [h = 0, m = 0, s = 0, us = 0] = parts;
  return ((h * 60 + m) * 60 + s) * 1000 + us / 1000;
}

function lastRow(text: string): { header: string[]; row: string[] } | null {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const headerLine = lines[0];
  const rowLine = lines[lines.length - 1];
  if (headerLine === undefined || rowLine === undefined || lines.length < 2) return null;
  return { header: headerLine.split(';'), row: rowLine.split(';') };
}

/** The last row of a SIPp statistics CSV (-trace_stat), or null when none was written yet. */
export function parseSippStats(csv: string): SippStats | null {
  const table = lastRow(csv);
  if (table === null) return null;
  const cell = (name: string): string => table.row[table.header.indexOf(name)] ?? '';
  const num = (name: string): number => {
    const v = Number(cell(name));
    return Number.isFinite(v) ? v : 0;
  };
  const failedBy: Record<string, number> = {};
  for (const name of table.header) {
    const m = /^(Failed\w+)\(C\)$/.exec(name);
    if (m?.[1] !== undefined && m[1] !== 'FailedCall' && num(name) > 0) failedBy[m[1]] = num(name);
  }
  return {
    elapsedMs: parseSippDuration(cell('ElapsedTime(C)')),
    callRate: num('CallRate(C)'),
    incomingCalls: num('IncomingCall(C)'),
    outgoingCalls: num('OutgoingCall(C)'),
    totalCalls: num('TotalCallCreated'),
    currentCalls: num('CurrentCall'),
    successful: num('SuccessfulCall(C)'),
    failed: num('FailedCall(C)'),
    retransmissions: num('Retransmissions(C)'),
    outOfCallMsgs: num('OutOfCallMsgs(C)'),
    deadCallMsgs: num('DeadCallMsgs(C)'),
    fatalErrors: num('FatalErrors(C)'),
    watchdogMajor: num('WatchdogMajor(C)'),
    failedBy,
    responseTimeMs: parseSippDuration(cell('ResponseTime1(C)')),
  };
}

/** The last row of a -trace_counts CSV as `{ '<index>_<message>_<what>': n }`. */
export function parseSippCounts(csv: string): Record<string, number> | null {
  const table = lastRow(csv);
  if (table === null) return null;
  const counts: Record<string, number> = {};
  table.header.forEach((name, i) => {
    if (i < 2 || name === '') return;
    counts[name] = Number(table.row[i] ?? 0);
  });
  return counts;
}

function readIf(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

function findCountsFile(workDir: string): string | null {
  const name = readdirSync(workDir).find((f) => f.endsWith('_counts.csv'));
  return name === undefined ? null : join(workDir, name);
}

/** A one-line summary for assertion messages: exit code, counters, failures, where the traces are. */
export function describeSippResult(r: SippResult): string {
  const s = r.stats;
  const counters =
    s === null
      ? 'no statistics'
      : `ok=${s.successful} failed=${s.failed} retrans=${s.retransmissions} ${JSON.stringify(s.failedBy)}`;
  return [
    `sipp exit=${r.exitCode ?? r.signal} ${counters}${r.timedOut ? ' TIMED OUT' : ''}`,
    `trace: ${r.messageTrace ?? '(removed)'} errors: ${r.errorTrace ?? '-'}`,
    `stderr: ${r.stderrTail.slice(-1500)}`,
  ].join('\n');
}

interface Launched {
  child: ChildProcess;
  workDir: string;
  statsFile: string;
  args: string[];
  done: Promise<SippResult>;
  timedOut: { value: boolean };
}

function buildArgs(opts: SippOptions, workDir: string, controlPort: number, server: boolean): string[] {
  const args: string[] = [];
  const scenario = resolveScenario(opts.scenario);
  if (opts.remote !== undefined) args.push(opts.remote);
  if ('builtin' in scenario) args.push('-sn', scenario.builtin);
  else {
    const copy = join(workDir, basename(scenario.file));
    copyFileSync(scenario.file, copy);
    args.push('-sf', copy);
  }
  args.push('-i', '127.0.0.1', '-bind_local', '-p', String(opts.localPort), '-t', opts.transport ?? 'u1');
  args.push('-nostdin', '-cp', String(controlPort));
  if (opts.calls !== undefined) args.push('-m', String(opts.calls));
  if (opts.rate !== undefined) args.push('-r', String(opts.rate));
  if (opts.ratePeriodMs !== undefined) args.push('-rp', String(opts.ratePeriodMs));
  if (opts.service !== undefined) args.push('-s', opts.service);
  if (opts.lost !== undefined) args.push('-lost', String(opts.lost));
  if (opts.holdMs !== undefined) args.push('-d', String(opts.holdMs));
  if (opts.maxConcurrent !== undefined) args.push('-l', String(opts.maxConcurrent));
  if (opts.auth !== undefined) {
    const authUri =
      opts.auth.uri ??
      (opts.remote !== undefined ? `${opts.service ?? 'service'}@${opts.remote}` : undefined);
    args.push('-au', opts.auth.username, '-ap', opts.auth.password);
    if (authUri !== undefined) args.push('-auth_uri', authUri);
  }
  const keys = { ...DEFAULT_KEYS, ...(opts.auth ? { caller: opts.auth.username } : {}), ...opts.keys };
  for (const [k, v] of Object.entries(keys)) args.push('-key', k, v);
  if (opts.injectionCsv !== undefined) args.push('-inf', opts.injectionCsv);
  // Servers are bounded by the caller's stop() and the hard kill; clients by SIPp's own timeout,
  // which ends the run as failed rather than passing on partial results.
  if (!server) args.push('-timeout', `${opts.timeoutS}s`, '-timeout_error');
  args.push('-trace_stat', '-stf', join(workDir, 'stats.csv'), '-fd', String(opts.statsPeriodS ?? 1));
  args.push('-trace_err', '-error_file', join(workDir, 'errors.log'));
  if (opts.traceMessages ?? true) args.push('-trace_msg', '-message_file', join(workDir, 'messages.log'));
  if (opts.countMessages === true) args.push('-trace_counts');
  if (opts.ignoreMessagesDuringPause === true) args.push('-pause_msg_ign');
  if (opts.socketBufferBytes !== undefined) args.push('-buff_size', String(opts.socketBufferBytes));
  args.push(...(opts.extraArgs ?? []));
  return args;
}

async function launch(opts: SippOptions, server: boolean): Promise<Launched> {
  const binary = sippBinary();
  if (binary === null) throw new Error('sipp is not installed (Debian package sip-tester)');
  installExitHook();
  const workDir = mkdtempSync(join(tmpdir(), 'edgeline-sipp-'));
  const controlPort = await freePort('udp');
  const args = buildArgs(opts, workDir, controlPort, server);
  // Its RTP echo sockets at a block checked free (SIPp's default 6000 upwards is shared by every
  // SIPp at once, and a socket it cannot bind there is fatal): unless the test chose -mp itself.
  if (!args.includes('-mp')) args.push('-mp', String(await freeUdpBlock(4)));
  const started = Date.now();
  const [cmd, ...argv] = [...(opts.wrap ?? []), binary, ...args];
  const child = spawn(cmd ?? binary, argv, { cwd: workDir, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  let stdoutTail = '';
  let stderrTail = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    stdoutTail = (stdoutTail + d).slice(-TAIL_BYTES);
  });
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    stderrTail = (stderrTail + d).slice(-TAIL_BYTES);
  });
  const timedOut = { value: false };
  const statsFile = join(workDir, 'stats.csv');
  const done = new Promise<SippResult>((resolveDone) => {
    const finish = (exitCode: number | null, signal: NodeJS.Signals | null): void => {
      live.delete(child);
      const statsText = readIf(statsFile);
      const countsFile = findCountsFile(workDir);
      const countsText = countsFile === null ? null : readIf(countsFile);
      const clean = exitCode === 0 && !timedOut.value && (opts.cleanup ?? 'on-success') === 'on-success';
      const messageTrace = join(workDir, 'messages.log');
      const errorTrace = join(workDir, 'errors.log');
      const result: SippResult = {
        exitCode,
        signal,
        timedOut: timedOut.value,
        wallMs: Date.now() - started,
        stats: statsText === null ? null : parseSippStats(statsText),
        messageCounts: countsText === null ? null : parseSippCounts(countsText),
        stdoutTail,
        stderrTail,
        workDir,
        messageTrace: !clean && existsSync(messageTrace) ? messageTrace : null,
        errorTrace: !clean && existsSync(errorTrace) ? errorTrace : null,
        args,
      };
      if (clean) rmSync(workDir, { recursive: true, force: true });
      resolveDone(result);
    };
    child.once('error', (e) => {
      stderrTail += `\nspawn failed: ${e.message}`;
      finish(null, null);
    });
    child.once('exit', (code, signal) => {
      // stdout/stderr may still hold buffered data; let the streams drain first
      setImmediate(() => finish(code, signal));
    });
  });
  return { child, workDir, statsFile, args, done, timedOut };
}

function killAfter(l: Launched, graceMs: number): Promise<SippResult> {
  if (l.child.exitCode === null && l.child.signalCode === null) {
    l.child.kill('SIGUSR1');
    const hard = setTimeout(() => l.child.kill('SIGKILL'), graceMs);
    void l.done.then(() => clearTimeout(hard));
  }
  return l.done;
}

/** Runs SIPp to completion (e.g. a UAC placing `calls` calls), bounded by `timeoutS`. */
export async function runSipp(opts: SippOptions): Promise<SippResult> {
  const l = await launch(opts, false);
  // SIPp's own -timeout fires first; this is the backstop for a wedged process.
  const hard = setTimeout(
    () => {
      l.timedOut.value = true;
      void killAfter(l, 2000);
    },
    (opts.timeoutS + 5) * 1000,
  );
  const result = await l.done;
  clearTimeout(hard);
  if (!result.timedOut && result.wallMs >= opts.timeoutS * 1000) result.timedOut = true;
  return result;
}

/**
 * Starts a long-running SIPp (typically a UAS) and resolves once it listens on `localPort`.
 * It is stopped by `stop()`, or at the latest after `timeoutS`; tests call stop() in `after`.
 */
export async function startSipp(opts: SippOptions): Promise<SippServer> {
  const kind = opts.transport === 't1' ? 'tcp' : 'udp';
  // The port is often the one a SIPp just registered from (`registerDemoExtension`): give that one
  // up to 2 s to let go of it, rather than fail to bind (errno 98).
  for (const end = Date.now() + 2000; Date.now() < end && !(await isPortFree(kind, opts.localPort));)
    await new Promise((r) => setTimeout(r, 50));
  const l = await launch(opts, true);
  const hard = setTimeout(() => {
    l.timedOut.value = true;
    void killAfter(l, 2000);
  }, opts.timeoutS * 1000);
  void l.done.then(() => clearTimeout(hard));
  let exited = false;
  void l.done.then(() => {
    exited = true;
  });
  const deadline = Date.now() + 5000;
  while (await isPortFree(kind, opts.localPort)) {
    if (exited || Date.now() > deadline) {
      if (!exited) l.child.kill('SIGKILL');
      const r = await l.done;
      throw new Error(`SIPp server did not start on ${opts.localPort}\n${describeSippResult(r)}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  const pid = l.child.pid ?? -1;
  return {
    port: opts.localPort,
    pid,
    workDir: l.workDir,
    stop: (graceMs = 3000) => killAfter(l, graceMs),
    stats: () => {
      const text = readIf(l.statsFile);
      return text === null ? null : parseSippStats(text);
    },
    messageCounts: () => {
      const file = findCountsFile(l.workDir);
      const text = file === null ? null : readIf(file);
      return text === null ? null : parseSippCounts(text);
    },
  };
}

/**
 * Register demo extension `user` (password `demo<user>`, realm edgeline.local) from `localPort`
 * through the gateway's digest challenge, for a SIPp UAS started on that port afterwards; throws
 * with SIPp's account when the registration does not succeed.
 */
export async function registerDemoExtension(remote: string, localPort: number, user: string): Promise<void> {
  const r = await runSipp({
    scenario: 'register-auth.xml',
    remote,
    localPort,
    calls: 1,
    auth: { username: user, password: `demo${user}`, uri: 'edgeline.local' },
    keys: { caller: user, caller_domain: 'edgeline.local', expires: '300' },
    timeoutS: 15,
  });
  if (r.exitCode !== 0) throw new Error(`REGISTER of ${user} failed: ${describeSippResult(r)}`);
}
