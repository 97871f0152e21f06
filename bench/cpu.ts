// CPU time of this process, Redis and PostgreSQL, read from /proc, so a figure can be read against LIMITS.md.
import { readdirSync, readFileSync } from 'node:fs';

const TICKS_PER_SECOND = 100;

function cpuSecondsOf(pid: string): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime, stime, cutime, cstime are fields 14-17 (1-based) of the whole line: 11-14 after the name.
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

function commandOf(pid: string): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

/** Busy CPU seconds of the whole machine (all cores, /proc/stat): processes we cannot see count here too. */
export function machineBusySeconds(): number {
  const [line] = readFileSync('/proc/stat', 'utf8').split('\n');
  const f = line!.trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return (total - (f[3] ?? 0) - (f[4] ?? 0)) / TICKS_PER_SECOND;
}

/**
 * CPU seconds so far, by process group: this node process, other node processes, redis, postgres, and the
 * whole machine (`machine`, whose excess over the rest is other work on the shared machine).
 */
export function cpuSnapshot(named: Record<string, number> = {}): Record<string, number> {
  const totals: Record<string, number> = {
    machine: machineBusySeconds(),
    node: cpuSecondsOf(String(process.pid)),
    otherNode: 0,
    redis: 0,
    postgres: 0,
  };
  const namedPids = new Set(Object.values(named).map(String));
  for (const [name, pid] of Object.entries(named)) totals[name] = cpuSecondsOf(String(pid));
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    if (pid === String(process.pid) || namedPids.has(pid)) continue;
    const comm = commandOf(pid);
    if (comm.startsWith('redis-server')) totals.redis! += cpuSecondsOf(pid);
    else if (comm === 'postgres' || comm.startsWith('postgres:')) totals.postgres! += cpuSecondsOf(pid);
    else if (comm === 'node' || comm.startsWith('node')) totals.otherNode! += cpuSecondsOf(pid);
  }
  return totals;
}

/** CPU used between two snapshots, as seconds and as a share of one core over the wall time. */
export function cpuSplit(before: Record<string, number>, after: Record<string, number>, wallSeconds: number) {
  const split: Record<string, { seconds: number; cores: number }> = {};
  for (const key of Object.keys(after)) {
    const seconds = Math.max(0, (after[key] ?? 0) - (before[key] ?? 0));
    split[key] = {
      seconds: Math.round(seconds * 100) / 100,
      cores: Math.round((seconds / wallSeconds) * 100) / 100,
    };
  }
  return split;
}
