/**
 * A network namespace joined to this one by a veth pair, for a peer that must come from an
 * address of its own (a tool that cannot bind a source address, an attacker's host): `hostIp` on
 * this side, `nsIp` inside. Needs root and iproute2; `netnsUnavailable` says why not, if so.
 */
import { spawnSync } from 'node:child_process';

export interface Netns {
  name: string;
  hostIp: string;
  nsIp: string;
  /** argv prefix that runs a command inside the namespace. */
  exec: string[];
  close(): void;
}

const run = (args: string[]) => spawnSync('ip', args, { encoding: 'utf8' });

let created = 0;

export function netnsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'network namespaces need root';
  if (run(['-V']).status !== 0) return 'iproute2 (ip) is not installed';
  return undefined;
}

/**
 * A namespace left by a run that was killed before its `close` still holds the subnet: two links
 * with one address would take the new namespace's replies. Whatever link of this host owns
 * `hostIp` goes, with the namespace named after it.
 */
function removeStale(hostIp: string): void {
  const r = spawnSync('ip', ['-o', '-4', 'addr', 'show'], { encoding: 'utf8' });
  for (const line of r.stdout.split('\n')) {
    const m = /^\d+:\s+(elh(\d+))(?:@\S+)?\s+inet\s+(\S+)\//.exec(line);
    if (!m || m[3] !== hostIp) continue;
    run(['netns', 'del', `el-ns-${m[2] ?? ''}`]);
    run(['link', 'del', m[1] ?? '']);
  }
}

/** `subnet` picks 10.231.<subnet>.0/30; each test file uses its own. */
export function openNetns(subnet: number): Netns {
  const n = `${process.pid % 10000}${created++}`;
  const name = `el-ns-${n}`;
  const host = `elh${n}`;
  const inner = `eln${n}`;
  const hostIp = `10.231.${subnet}.1`;
  const nsIp = `10.231.${subnet}.2`;
  const steps = [
    ['netns', 'add', name],
    ['link', 'add', host, 'type', 'veth', 'peer', 'name', inner],
    ['link', 'set', inner, 'netns', name],
    ['addr', 'add', `${hostIp}/30`, 'dev', host],
    ['link', 'set', host, 'up'],
    ['netns', 'exec', name, 'ip', 'addr', 'add', `${nsIp}/30`, 'dev', inner],
    ['netns', 'exec', name, 'ip', 'link', 'set', inner, 'up'],
    ['netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up'],
  ];
  removeStale(hostIp);
  const close = () => {
    run(['netns', 'del', name]);
    run(['link', 'del', host]);
  };
  for (const s of steps) {
    const r = run(s);
    if (r.status !== 0) {
      close();
      throw new Error(`ip ${s.join(' ')}: ${r.stderr.trim()}`);
    }
  }
  return { name, hostIp, nsIp, exec: ['ip', 'netns', 'exec', name], close };
}
