// Kamailio (Debian `kamailio`) as a real stateful proxy between SIPp peers: the benchmark
// anchor and a known-good hop for proving scenarios. It runs in the foreground (-DD -E) in its
// own process group, work directory and runtime directory, on loopback only, and is killed with
// its whole group when stopped or when the test process exits.
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The proxy configuration template shipped with the benchmarks. */
export const KAMAILIO_PROXY_TEMPLATE = resolve(
  dirname(fileURLToPath(import.meta.url)),
  '../../../scripts/bench/kamailio-proxy.cfg',
);

export interface KamailioOptions {
  /** UDP port the proxy listens on (127.0.0.1). */
  listenPort: number;
  /** UDP port of the fixed next hop on 127.0.0.1 (the SIPp UAS). */
  targetPort: number;
  /** UDP worker processes (default 2: one per core of the appliance class). */
  children?: number;
  /** Challenge every new INVITE (407) and check digests against "demo<username>" (-A WITH_AUTH). */
  auth?: boolean;
  shmMb?: number;
  pkgMb?: number;
  /** -b: upper bound for the probed UDP receive buffer (default 4 MiB). */
  receiveBufferBytes?: number;
  /** Hard stop: the proxy is killed after this many seconds whatever happens. */
  timeoutS: number;
  template?: string;
}

export interface KamailioExit {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stderrTail: string;
}

export interface KamailioProxy {
  port: number;
  /** The main process; workers are its children (see processTree in the benchmark). */
  pid: number;
  workDir: string;
  config: string;
  stderrTail(): string;
  stop(): Promise<KamailioExit>;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // the group is already gone
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of live) killGroup(child, 'SIGKILL');
  });
}

/** The kamailio binary, or null when it is not installed. */
export function kamailioBinary(): string | null {
  for (const candidate of ['/usr/sbin/kamailio', '/usr/local/sbin/kamailio'])
    if (existsSync(candidate)) return candidate;
  const r = spawnSync('sh', ['-c', 'command -v kamailio'], { encoding: 'utf8' });
  const found = r.stdout.trim();
  return r.status === 0 && found !== '' ? found : null;
}

/** The directory holding tm.so, or null. */
export function kamailioModulePath(): string | null {
  const roots = [
    '/usr/lib/x86_64-linux-gnu',
    '/usr/lib/aarch64-linux-gnu',
    '/usr/lib64',
    '/usr/lib',
    '/usr/local/lib',
  ];
  for (const root of roots) {
    const dir = join(root, 'kamailio', 'modules');
    if (existsSync(join(dir, 'tm.so'))) return dir;
  }
  for (const entry of existsSync('/usr/lib') ? readdirSync('/usr/lib') : []) {
    const dir = join('/usr/lib', entry, 'kamailio', 'modules');
    if (existsSync(join(dir, 'tm.so'))) return dir;
  }
  return null;
}

/** Why Kamailio cannot be used here, or null when it can. */
export function kamailioUnavailableReason(): string | null {
  if (kamailioBinary() === null) return 'kamailio is not installed (Debian package kamailio)';
  if (kamailioModulePath() === null) return 'kamailio modules (tm.so) not found';
  return null;
}

export function renderKamailioConfig(template: string, values: Record<string, string | number>): string {
  return template.replace(/@([A-Z_]+)@/g, (whole, name: string) => {
    const v = values[name];
    if (v === undefined) throw new Error(`kamailio template placeholder without a value: ${whole}`);
    return String(v);
  });
}

/** Sends OPTIONS to the proxy itself until it answers 200, or the deadline passes. */
async function waitForOptions200(port: number, deadlineMs: number, alive: () => boolean): Promise<boolean> {
  const socket = createSocket('udp4');
  await new Promise<void>((r) => socket.bind({ address: '127.0.0.1', port: 0 }, r));
  const local = socket.address().port;
  let answered = false;
  socket.on('message', (msg) => {
    if (msg.toString('latin1').startsWith('SIP/2.0 200')) answered = true;
  });
  try {
    while (!answered && alive() && Date.now() < deadlineMs) {
      const branch = `z9hG4bK${randomBytes(6).toString('hex')}`;
      const probe = [
        `OPTIONS sip:127.0.0.1:${port} SIP/2.0`,
        `Via: SIP/2.0/UDP 127.0.0.1:${local};branch=${branch};rport`,
        'Max-Forwards: 70',
        `From: <sip:probe@127.0.0.1>;tag=${randomBytes(4).toString('hex')}`,
        `To: <sip:127.0.0.1:${port}>`,
        `Call-ID: ${randomBytes(8).toString('hex')}@127.0.0.1`,
        'CSeq: 1 OPTIONS',
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n');
      socket.send(probe, port, '127.0.0.1');
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    socket.close();
  }
  return answered;
}

/** Starts the proxy and resolves once it answers OPTIONS on `listenPort`. */
export async function startKamailio(opts: KamailioOptions): Promise<KamailioProxy> {
  const binary = kamailioBinary();
  const modulePath = kamailioModulePath();
  if (binary === null || modulePath === null)
    throw new Error(kamailioUnavailableReason() ?? 'kamailio unavailable');
  installExitHook();
  const workDir = mkdtempSync(join(tmpdir(), 'edgeline-kamailio-'));
  const runDir = join(workDir, 'run');
  mkdirSync(runDir);
  const config = join(workDir, 'kamailio.cfg');
  writeFileSync(
    config,
    renderKamailioConfig(readFileSync(opts.template ?? KAMAILIO_PROXY_TEMPLATE, 'utf8'), {
      LISTEN_PORT: opts.listenPort,
      TARGET_PORT: opts.targetPort,
      CHILDREN: opts.children ?? 2,
      MODULE_PATH: modulePath,
    }),
  );
  const args = ['-f', config, '-DD', '-E', '-m', String(opts.shmMb ?? 256), '-M', String(opts.pkgMb ?? 32)];
  // the UDP receive buffer is probed up to this size (capped by net.core.rmem_max)
  args.push('-b', String(opts.receiveBufferBytes ?? 4 * 1024 * 1024));
  if (opts.auth === true) args.push('-A', 'WITH_AUTH');
  args.push('-Y', runDir, '-w', workDir, '-P', join(runDir, 'kamailio.pid'));
  const child = spawn(binary, args, { cwd: workDir, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  live.add(child);
  let tail = '';
  const onData = (d: string): void => {
    tail = (tail + d).slice(-8192);
  };
  child.stdout?.setEncoding('utf8').on('data', onData);
  child.stderr?.setEncoding('utf8').on('data', onData);
  let exited = false;
  const done = new Promise<KamailioExit>((r) => {
    child.once('exit', (exitCode, signal) => {
      exited = true;
      live.delete(child);
      // the main process is gone; make sure no worker outlives it
      killGroup(child, 'SIGKILL');
      setImmediate(() => r({ exitCode, signal, stderrTail: tail }));
    });
  });
  const hard = setTimeout(() => killGroup(child, 'SIGKILL'), opts.timeoutS * 1000);
  void done.then(() => clearTimeout(hard));

  let stopping: Promise<KamailioExit> | null = null;
  const stop = (): Promise<KamailioExit> => {
    if (stopping !== null) return stopping;
    if (!exited) {
      // SIGTERM: the main process stops its workers and exits; SIGKILL the group if it lingers
      killGroup(child, 'SIGTERM');
      const force = setTimeout(() => killGroup(child, 'SIGKILL'), 3000);
      void done.then(() => clearTimeout(force));
    }
    stopping = done.then((r) => {
      rmSync(workDir, { recursive: true, force: true });
      return r;
    });
    return stopping;
  };

  const ready = await waitForOptions200(opts.listenPort, Date.now() + 10_000, () => !exited);
  if (!ready) {
    const r = await stop();
    throw new Error(
      `kamailio did not answer OPTIONS on ${opts.listenPort} (exit ${r.exitCode ?? r.signal})\n${r.stderrTail}`,
    );
  }
  return {
    port: opts.listenPort,
    pid: child.pid ?? -1,
    workDir,
    config,
    stderrTail: () => tail,
    stop,
  };
}
