/**
 * Command-line flags of `npm start -- [flags]`, parsed into a typed result: a bad flag is a
 * one-line error naming it, never a half-started gateway.
 */
import { err, ok, type Result } from '../../base/result.ts';

export interface GatewayFlags {
  dataDir: string;
  /** SIP over UDP and TCP; TLS listens on sipPort + 1. */
  sipPort: number;
  httpPort: number;
  rtpPorts: { lo: number; hi: number };
  demo: boolean;
  /** Address every listener binds to. Loopback by default: the admin API has no login yet. */
  host: string;
  drainMs: number;
}

export const defaultFlags: GatewayFlags = {
  dataDir: './data',
  sipPort: 5060,
  httpPort: 8080,
  rtpPorts: { lo: 20000, hi: 29999 },
  demo: false,
  host: '127.0.0.1',
  drainMs: 10_000,
};

export const usage = `usage: npm start -- [--data-dir DIR] [--sip-port N] [--http-port N] [--rtp-ports LO-HI] [--host ADDR] [--drain-ms MS] [--demo]`;

function port(flag: string, v: string | undefined, allowZero = false): Result<number> {
  const n = Number(v);
  if (v === undefined || !/^\d+$/.test(v) || n > 65535 || (!allowZero && n === 0)) {
    return err({
      code: 'EDGE_ERR_MAIN_USAGE',
      message: `${flag} needs a port number 1-65535, got '${v ?? ''}'`,
      field: flag,
    });
  }
  return ok(n);
}

export function parseFlags(argv: readonly string[]): Result<GatewayFlags> {
  const f: GatewayFlags = { ...defaultFlags, rtpPorts: { ...defaultFlags.rtpPorts } };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const [name, inline] = arg.includes('=')
      ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)]
      : [arg, undefined];
    const value = (): string | undefined => inline ?? argv[++i];
    switch (name) {
      case '--demo':
        f.demo = true;
        break;
      case '--data-dir': {
        const v = value();
        if (!v)
          return err({
            code: 'EDGE_ERR_MAIN_USAGE',
            message: '--data-dir needs a directory',
            field: '--data-dir',
          });
        f.dataDir = v;
        break;
      }
      case '--sip-port': {
        const p = port('--sip-port', value(), true);
        if (!p.ok) return p;
        if (p.value === 65535)
          return err({
            code: 'EDGE_ERR_MAIN_USAGE',
            message: '--sip-port must leave room for TLS on port + 1',
            field: '--sip-port',
          });
        f.sipPort = p.value;
        break;
      }
      case '--http-port': {
        const p = port('--http-port', value(), true);
        if (!p.ok) return p;
        f.httpPort = p.value;
        break;
      }
      case '--rtp-ports': {
        const v = value() ?? '';
        const m = /^(\d+)-(\d+)$/.exec(v);
        const lo = Number(m?.[1]);
        const hi = Number(m?.[2]);
        if (!m || lo < 1024 || hi > 65535 || lo >= hi || lo % 2 !== 0) {
          return err({
            code: 'EDGE_ERR_MAIN_USAGE',
            message: `--rtp-ports needs LO-HI with an even LO >= 1024 and HI > LO, got '${v}'`,
            field: '--rtp-ports',
          });
        }
        f.rtpPorts = { lo, hi };
        break;
      }
      case '--host': {
        const v = value();
        if (!v)
          return err({ code: 'EDGE_ERR_MAIN_USAGE', message: '--host needs an address', field: '--host' });
        f.host = v;
        break;
      }
      case '--drain-ms': {
        const v = value();
        if (!v || !/^\d+$/.test(v))
          return err({
            code: 'EDGE_ERR_MAIN_USAGE',
            message: '--drain-ms needs milliseconds',
            field: '--drain-ms',
          });
        f.drainMs = Number(v);
        break;
      }
      default:
        return err({ code: 'EDGE_ERR_MAIN_USAGE', message: `unknown flag '${arg}'`, field: arg });
    }
  }
  return ok(f);
}
