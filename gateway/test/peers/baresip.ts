// baresip (Debian `baresip`, 1.0.0 in bookworm) as a real SIP phone for tests: headless, on
// loopback only, one process per phone with its own configuration directory.
//
// - Audio: no sound device. The `aufile` module is the audio source (it plays a WAV, 8 kHz mono
//   16-bit; a silent one when the test gives none) and `aubridge` is a player that discards. The
//   `sndfile` filter writes what is sent (`dump-…-enc.wav`) and what is received and decoded
//   (`dump-…-dec.wav`) for each call into the instance's recording directory.
// - Network: SIP and RTP bound to 127.0.0.1 (`net_interface 127.0.0.1`, `sip_listen`); no STUN,
//   TURN or ICE module is loaded.
// - Codecs: only `g711`; the account's `audio_codecs` narrows the offer to one law when asked.
// - SRTP (SDES): the `srtp` module; the account's `mediaenc` is `srtp` (offered) or `srtp-mand`
//   (RTP/SAVP, refuses plain RTP).
// - DTMF: baresip 1.0.0 sends RFC 4733 telephone-events only (`sndcode`); it has no SIP INFO mode.
// - Control: the `ctrl_tcp` module (JSON in netstrings on a loopback TCP port) carries commands
//   (`dial`, `hangup`, `sndcode`, `reginfo`, `quit`) and every UA event with a type name
//   (REGISTER_OK, CALL_RINGING, CALL_ESTABLISHED, CALL_RTPESTAB, CALL_CLOSED, …). Reading stdin
//   would need the `stdio` module, which wants a terminal.
//
// baresip 1.0.0's digest client (libre) gives up with ENOSYS ("Function not implemented") as soon as
// one WWW-Authenticate challenge names an algorithm other than MD5, so a registrar that offers
// SHA-256 alongside MD5 must be configured for MD5 only when this phone registers to it.
//
// Every process is bounded in time and killed when the test process exits.
import { spawn, type ChildProcess } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { silence, writeWav } from './audio.ts';
import { freePort } from './free-port.ts';

export type BaresipCodec = 'PCMU' | 'PCMA';
export type BaresipSrtp = 'off' | 'offer' | 'mandatory';

export interface BaresipOptions {
  /** User part of the address of record, e.g. `1001`. */
  user: string;
  /** Digest password (`auth_pass`); only used with a registrar. */
  password?: string;
  /**
   * Register here and send every request through it (`outbound` proxy). Without it the phone
   * does not register and its address is `sip:<user>@127.0.0.1:<port>`.
   */
  registrar?: { host: string; port: number; domain?: string };
  /** SIP port on 127.0.0.1 (UDP and TCP); a free one when absent. */
  localPort?: number;
  /** Offer and accept only this G.711 law; both (PCMU first) when absent. */
  codec?: BaresipCodec;
  srtp?: BaresipSrtp;
  /** WAV (8 kHz mono 16-bit PCM) sent as the microphone on every call; silence when absent. */
  playWav?: string;
  /** Where `receivedAudio()` copies the received audio of the last call. */
  recordWav?: string;
  /** Answer incoming calls at once (default true). */
  autoAnswer?: boolean;
  /**
   * Local RTP ports (`rtp_ports`; default 10000-11999, below the kernel's ephemeral ports and away from the gateway's default
   * 20000-29999 so a test can tell anchored media from direct media by its source port).
   */
  rtpPorts?: { lo: number; hi: number };
  /** Hard limit on the process lifetime (default 120 s). */
  lifetimeS?: number;
  /** Print SIP messages to the captured output (`-s`). */
  sipTrace?: boolean;
}

export interface BaresipEvent {
  type: string;
  class?: string;
  param?: string;
  /** Call id (baresip's own, not the SIP Call-ID). */
  id?: string;
  peeruri?: string;
  direction?: string;
  /** performance.now() when the event reached this process. */
  atMs: number;
}

export interface Baresip {
  /** SIP port on 127.0.0.1. */
  readonly port: number;
  /** `sip:<user>@<domain>`, the address other peers dial. */
  readonly aor: string;
  /** Configuration directory (config, accounts, contacts, rec/). */
  readonly dir: string;
  waitRegistered(timeoutMs?: number): Promise<void>;
  dial(uri: string): Promise<void>;
  hangup(): Promise<void>;
  /** Send one DTMF digit as RFC 4733 telephone-event. */
  sendDigit(digit: string): Promise<void>;
  /** Any menu command; resolves with its text output. */
  command(command: string, params?: string): Promise<string>;
  /**
   * The next event of this type not yet returned by an earlier waitEvent for the same type
   * (events that already happened count), optionally filtered.
   */
  waitEvent(
    type: string,
    opts?: { timeoutMs?: number; match?: (e: BaresipEvent) => boolean },
  ): Promise<BaresipEvent>;
  events(): BaresipEvent[];
  /**
   * The received-audio WAV of the most recent call once it has ended (copied to `recordWav` when
   * set), or null when there is none.
   */
  receivedAudio(timeoutMs?: number): Promise<string | null>;
  /** The sent-audio WAV of the most recent call, as the phone's encoder saw it. */
  sentAudio(): string | null;
  /** Where incoming RTP came from, one entry per stream baresip saw established (from its log). */
  rtpSources(): { address: string; port: number }[];
  output(): string;
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

// Colour escapes in baresip's output (ESC [ … m), built from a string to keep the pattern readable.
const ANSI = new RegExp(`${String.fromCharCode(0x1b)}\\[[0-9;]*m`, 'g');

function configText(o: {
  sipPort: number;
  ctrlPort: number;
  playWav: string;
  recDir: string;
  rtpPorts: { lo: number; hi: number };
}): string {
  return [
    'poll_method\t\tepoll',
    `sip_listen\t\t127.0.0.1:${o.sipPort}`,
    'net_interface\t\t127.0.0.1',
    'call_local_timeout\t30',
    'call_max_calls\t\t4',
    `audio_source\t\taufile,${o.playWav}`,
    'audio_player\t\taubridge,nil',
    'audio_alert\t\taubridge,nil',
    'ausrc_srate\t\t8000',
    'auplay_srate\t\t8000',
    'ausrc_channels\t\t1',
    'auplay_channels\t\t1',
    'ausrc_format\t\ts16',
    'auplay_format\t\ts16',
    'auenc_format\t\ts16',
    'audec_format\t\ts16',
    // Smallest jitter buffer baresip allows: the received audio is dumped in arrival order and
    // tests measure the network path, not the playout delay.
    'jitter_buffer_delay\t1-3',
    'rtcp_mux\t\tno',
    `rtp_ports\t\t${o.rtpPorts.lo}-${o.rtpPorts.hi}`,
    'module_path\t\t/usr/lib/baresip/modules',
    'module\t\t\tg711.so',
    'module\t\t\tsndfile.so',
    'module\t\t\taufile.so',
    'module\t\t\taubridge.so',
    'module\t\t\tsrtp.so',
    'module_tmp\t\taccount.so',
    'module_app\t\tmenu.so',
    'module_app\t\tctrl_tcp.so',
    `ctrl_tcp_listen\t\t127.0.0.1:${o.ctrlPort}`,
    `snd_path\t\t${o.recDir}`,
    'ringback_disabled\tyes',
    '',
  ].join('\n');
}

function accountLine(opts: BaresipOptions, sipPort: number): { line: string; aor: string } {
  const domain = opts.registrar
    ? (opts.registrar.domain ?? `${opts.registrar.host}:${opts.registrar.port}`)
    : `127.0.0.1:${sipPort}`;
  const aor = `sip:${opts.user}@${domain}`;
  const params: string[] = [];
  if (opts.registrar) {
    if (opts.password !== undefined) params.push(`auth_pass=${opts.password}`);
    params.push(`outbound="sip:${opts.registrar.host}:${opts.registrar.port};transport=udp"`);
    params.push('regint=600');
  } else {
    params.push('regint=0');
  }
  params.push(`answermode=${opts.autoAnswer === false ? 'manual' : 'auto'}`);
  if (opts.codec) params.push(`audio_codecs=${opts.codec}/8000/1`);
  if (opts.srtp === 'offer') params.push('mediaenc=srtp');
  if (opts.srtp === 'mandatory') params.push('mediaenc=srtp-mand');
  return { line: `<${aor};transport=udp>;${params.join(';')}\n`, aor };
}

export async function startBaresip(opts: BaresipOptions): Promise<Baresip> {
  const dir = mkdtempSync(join(tmpdir(), `baresip-${opts.user}-`));
  const recDir = join(dir, 'rec');
  mkdirSync(recDir);
  const sipPort = opts.localPort ?? (await freePort('udp', { both: true }));
  const ctrlPort = await freePort('tcp');
  let playWav = opts.playWav;
  if (playWav === undefined) {
    playWav = join(dir, 'silence.wav');
    writeWav(playWav, silence(60));
  }
  const { line, aor } = accountLine(opts, sipPort);
  writeFileSync(
    join(dir, 'config'),
    configText({ sipPort, ctrlPort, playWav, recDir, rtpPorts: opts.rtpPorts ?? { lo: 10000, hi: 11999 } }),
  );
  writeFileSync(join(dir, 'accounts'), line);
  writeFileSync(join(dir, 'contacts'), '');

  const args = ['-4', '-f', dir, '-t', String(opts.lifetimeS ?? 120), ...(opts.sipTrace ? ['-s'] : [])];
  const proc = spawn('baresip', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(proc);
  let out = '';
  const append = (d: Buffer): void => {
    out = (out + d.toString().replace(ANSI, '')).slice(-400_000);
  };
  proc.stdout?.on('data', append);
  proc.stderr?.on('data', append);
  const exited = new Promise<void>((resolve) =>
    proc.once('exit', () => {
      live.delete(proc);
      resolve();
    }),
  );
  proc.once('error', (e) => {
    out += `\nspawn error: ${e.message}\n`;
  });

  const events: BaresipEvent[] = [];
  const cursors = new Map<string, number>();
  const waiters = new Set<() => void>();
  const pending = new Map<string, { resolve: (data: string) => void; reject: (e: Error) => void }>();
  let tokenSeq = 0;
  let socket: Socket | null = null;

  const notify = (): void => {
    for (const w of [...waiters]) w();
  };

  const onMessage = (text: string): void => {
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return;
    }
    if (msg['event'] === true) {
      const e: BaresipEvent = { type: String(msg['type']), atMs: performance.now() };
      for (const k of ['class', 'param', 'id', 'peeruri', 'direction'] as const)
        if (typeof msg[k] === 'string') e[k] = msg[k];
      events.push(e);
      notify();
    } else if (msg['response'] === true && typeof msg['token'] === 'string') {
      const p = pending.get(msg['token']);
      if (!p) return;
      pending.delete(msg['token']);
      const data = typeof msg['data'] === 'string' ? msg['data'].replace(ANSI, '') : '';
      if (msg['ok'] === true) p.resolve(data);
      else p.reject(new Error(`baresip refused the command: ${data}`));
    }
  };

  const kill = async (): Promise<void> => {
    socket?.destroy();
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    await exited;
  };

  // ctrl_tcp listens once the modules are loaded; retry until it does.
  const deadline = performance.now() + 10_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`baresip exited early (${proc.exitCode}):\n${out}`);
    try {
      socket = await new Promise<Socket>((resolve, reject) => {
        const s = connect(ctrlPort, '127.0.0.1');
        s.once('connect', () => resolve(s));
        s.once('error', reject);
      });
      break;
    } catch {
      if (performance.now() > deadline) {
        await kill();
        throw new Error(`baresip control port not reachable within 10 s:\n${out}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const ctrl = socket;
  ctrl.on('error', () => {
    // The process is going away; its exit is what the tests observe.
  });
  let inbuf = Buffer.alloc(0);
  ctrl.on('data', (d: Buffer) => {
    inbuf = Buffer.concat([inbuf, d]);
    // Netstrings: <length>:<bytes>,
    for (;;) {
      const colon = inbuf.indexOf(0x3a);
      if (colon < 0) break;
      const len = Number(inbuf.subarray(0, colon).toString('latin1'));
      if (!Number.isInteger(len)) {
        inbuf = Buffer.alloc(0);
        break;
      }
      if (inbuf.length < colon + 1 + len + 1) break;
      onMessage(inbuf.subarray(colon + 1, colon + 1 + len).toString('utf8'));
      inbuf = inbuf.subarray(colon + 2 + len);
    }
  });

  const command = (name: string, params = '', timeoutMs = 5_000): Promise<string> =>
    new Promise<string>((resolve, reject) => {
      const token = `t${++tokenSeq}`;
      const timer = setTimeout(() => {
        pending.delete(token);
        reject(new Error(`baresip: no answer to '${name} ${params}' within ${timeoutMs} ms`));
      }, timeoutMs);
      pending.set(token, {
        resolve: (d) => {
          clearTimeout(timer);
          resolve(d);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      const body = Buffer.from(JSON.stringify({ command: name, params, token }));
      ctrl.write(Buffer.concat([Buffer.from(`${body.length}:`), body, Buffer.from(',')]));
    });

  const waitEvent = (
    type: string,
    o: { timeoutMs?: number; match?: (e: BaresipEvent) => boolean } = {},
  ): Promise<BaresipEvent> =>
    new Promise<BaresipEvent>((resolve, reject) => {
      const check = (): boolean => {
        for (let i = cursors.get(type) ?? 0; i < events.length; i++) {
          const e = events[i];
          if (e && e.type === type && (!o.match || o.match(e))) {
            cursors.set(type, i + 1);
            resolve(e);
            return true;
          }
        }
        return false;
      };
      if (check()) return;
      const timer = setTimeout(() => {
        waiters.delete(waiter);
        const seen = events.map((e) => `${e.type}(${e.param ?? ''})`).join(' ');
        reject(
          new Error(
            `baresip ${aor}: no ${type} within ${o.timeoutMs ?? 10_000} ms; events: ${seen}\n${out.slice(-4000)}`,
          ),
        );
      }, o.timeoutMs ?? 10_000);
      const waiter = (): void => {
        if (check()) {
          clearTimeout(timer);
          waiters.delete(waiter);
        }
      };
      waiters.add(waiter);
    });

  const latestDump = (suffix: string): string | null => {
    const files = readdirSync(recDir)
      .filter((f) => f.endsWith(suffix))
      .map((f) => join(recDir, f))
      .sort((a, b) => statSync(a).mtimeMs - statSync(b).mtimeMs);
    return files.at(-1) ?? null;
  };

  return {
    port: sipPort,
    aor,
    dir,
    async waitRegistered(timeoutMs = 10_000) {
      // The first REGISTER may finish before the control connection exists, so ask for the
      // registration state instead of waiting for REGISTER_OK.
      const until = performance.now() + timeoutMs;
      for (;;) {
        if (events.some((e) => e.type === 'REGISTER_OK')) return;
        const last = await command('reginfo');
        if (/\bOK\b/.test(last)) return;
        if (performance.now() > until)
          throw new Error(
            `baresip ${aor} not registered within ${timeoutMs} ms: ${last.trim()}\n${out.slice(-4000)}`,
          );
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async dial(uri) {
      await command('dial', uri);
    },
    async hangup() {
      await command('hangup');
    },
    async sendDigit(digit) {
      await command('sndcode', digit);
    },
    command: (name, params) => command(name, params),
    waitEvent,
    events: () => [...events],
    async receivedAudio(timeoutMs = 5_000) {
      // sndfile closes (and so finalises the WAV header) when the call's audio is torn down.
      const until = performance.now() + timeoutMs;
      while (!events.some((e) => e.type === 'CALL_CLOSED') && performance.now() < until)
        await new Promise((r) => setTimeout(r, 50));
      const file = latestDump('-dec.wav');
      if (file === null) return null;
      if (opts.recordWav === undefined) return file;
      copyFileSync(file, opts.recordWav);
      return opts.recordWav;
    },
    sentAudio: () => latestDump('-enc.wav'),
    rtpSources: () =>
      [...out.matchAll(/incoming rtp for '\w+' established, receiving from ([0-9.]+):(\d+)/g)].map((m) => ({
        address: m[1] ?? '',
        port: Number(m[2]),
      })),
    output: () => out,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null && !ctrl.destroyed) {
        const quit = command('quit', '', 2_000).catch(() => '');
        const timer = setTimeout(() => proc.kill('SIGKILL'), 3_000);
        await quit;
        await exited;
        clearTimeout(timer);
      }
      await kill();
      for (const p of pending.values()) p.reject(new Error('baresip stopped'));
      pending.clear();
      if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** True when the baresip binary and the modules this harness loads are installed. */
export function baresipAvailable(): boolean {
  return ['g711', 'sndfile', 'aufile', 'aubridge', 'srtp', 'ctrl_tcp', 'menu', 'account'].every((m) =>
    existsSync(`/usr/lib/baresip/modules/${m}.so`),
  );
}

/**
 * One-way delay from `sender` to `receiver` in the sender's most recent call, from event times
 * and the lag found by cross-correlation (received[n] ≈ sent[n - lag]).
 *
 * The receiver's recording starts with the first packet it received (CALL_RTPESTAB); that packet
 * carries the sent file from -lag on, which the sender played -lag/rate after starting its source.
 * The source start is known twice: the call's CALL_ESTABLISHED (the source starts just before it)
 * and the end-of-file AUDIO_ERROR minus the file's length (aufile paces itself in real time). The
 * earlier of the two is taken, so that a late event makes the estimate larger, never smaller.
 */
export function estimateOneWayDelayMs(o: {
  sender: Baresip;
  receiver: Baresip;
  lagMs: number;
  playedDurationMs: number;
}): number {
  const last = (p: Baresip, type: string, re?: RegExp): BaresipEvent | undefined =>
    p
      .events()
      .filter((e) => e.type === type && (!re || re.test(e.param ?? '')))
      .at(-1);
  const established = last(o.sender, 'CALL_ESTABLISHED');
  const eof = last(o.sender, 'AUDIO_ERROR', /end of file/);
  const firstRtp = last(o.receiver, 'CALL_RTPESTAB');
  if (!established || !firstRtp) throw new Error('no established call with received RTP to time');
  const starts = [established.atMs, ...(eof ? [eof.atMs - o.playedDurationMs] : [])];
  return firstRtp.atMs - Math.min(...starts) + o.lagMs;
}
