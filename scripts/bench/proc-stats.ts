// CPU and memory of a process and its descendants, read from /proc (Linux). Kamailio forks its
// workers and edgeline may spawn helpers, so a target's cost is that of its whole tree.
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

let clockTicks: number | null = null;

/** sysconf(_SC_CLK_TCK): the unit of utime/stime in /proc/<pid>/stat. */
export function clockTicksPerSecond(): number {
  if (clockTicks === null) {
    const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
    const n = Number(r.stdout.trim());
    clockTicks = r.status === 0 && Number.isFinite(n) && n > 0 ? n : 100;
  }
  return clockTicks;
}

function readText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/** Fields of /proc/<pid>/stat after the parenthesised command name (which may hold spaces). */
function statFields(pid: number): string[] | null {
  const text = readText(`/proc/${pid}/stat`);
  if (text === null) return null;
  const close = text.lastIndexOf(')');
  return text.slice(close + 2).split(' ');
}

/** `pid` and every live descendant; empty when `pid` is gone. */
export function processTree(pid: number): number[] {
  if (statFields(pid) === null) return [];
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const fields = statFields(Number(entry));
    // field 4 of stat is ppid; index 1 after the command name
    const ppid = fields === null ? NaN : Number(fields[1]);
    if (!Number.isFinite(ppid)) continue;
    const list = children.get(ppid) ?? [];
    list.push(Number(entry));
    children.set(ppid, list);
  }
  const out: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const p = queue.shift();
    if (p === undefined) break;
    out.push(p);
    queue.push(...(children.get(p) ?? []));
  }
  return out;
}

/** User + system CPU time of the processes, in milliseconds (threads included). */
export function cpuMs(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    const fields = statFields(pid);
    if (fields === null) continue;
    // stat fields 14 (utime) and 15 (stime): indexes 11 and 12 after the command name
    ticks += Number(fields[11] ?? 0) + Number(fields[12] ?? 0);
  }
  return (ticks * 1000) / clockTicksPerSecond();
}

export interface MemorySample {
  /** Sum of VmRSS: counts shared memory (Kamailio's shm) once per process. */
  rssKb: number;
  /** Sum of Pss (proportional set size): shared pages divided among their users. */
  pssKb: number;
}

function kbField(text: string | null, name: string): number {
  if (text === null) return 0;
  const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text);
  return m?.[1] === undefined ? 0 : Number(m[1]);
}

export function memory(pids: readonly number[]): MemorySample {
  let rssKb = 0;
  let pssKb = 0;
  for (const pid of pids) {
    rssKb += kbField(readText(`/proc/${pid}/status`), 'VmRSS');
    pssKb += kbField(readText(`/proc/${pid}/smaps_rollup`), 'Pss');
  }
  return { rssKb, pssKb };
}

/**
 * CPU of this process's children that have exited and been reaped (cutime + cstime of
 * /proc/self/stat), in milliseconds: the delta around a run is the cost of the short-lived
 * helpers it started, read after they are gone.
 */
export function reapedChildrenCpuMs(): number {
  const fields = statFields(process.pid);
  if (fields === null) return 0;
  // stat fields 16 (cutime) and 17 (cstime): indexes 13 and 14 after the command name
  return ((Number(fields[13] ?? 0) + Number(fields[14] ?? 0)) * 1000) / clockTicksPerSecond();
}
