// `npm run bench -- profile FILE.cpuprofile`: where a node process's CPU went (from `node --cpu-prof`), by
// package or project folder and by function, self time, so a benchmark's gap can be named from a profile.
import { readFileSync } from 'node:fs';
import { findSourceMap } from 'node:module';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
}

function ownerOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  if (url.startsWith('node:')) return url;
  const project = /\/(bench|db|shared|workers)\/(.*?)(\.ts|\.js)?$/.exec(url);
  return project ? `${project[1]}/${project[2]}` : url;
}

/** `messages`: also print each item's self time in µs a message (the profile of a run of that many). */
/**
 * The source line of a frame: tsx compiles a file onto a few lines, so where this process loaded the file
 * (bench/dispatch-profile.ts, run with --enable-source-maps) its source map gives the TypeScript line.
 */
function sourceLine(frame: ProfileNode['callFrame']): number {
  // CPU profiles name a file by URL, heap profiles by path.
  const file = frame.url.startsWith('file://') ? frame.url.slice('file://'.length) : frame.url;
  if (file.startsWith('/') && !file.includes('/node_modules/')) {
    const entry = findSourceMap(file)?.findEntry(frame.lineNumber, frame.columnNumber);
    if (entry && 'originalLine' in entry) return entry.originalLine + 1;
  }
  return frame.lineNumber + 1;
}

export function profileTop(file: string, top = 25, messages?: number): void {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as {
    nodes: ProfileNode[];
    samples: number[];
    timeDeltas: number[];
  };
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (const [i, id] of profile.samples.entries())
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  // Idle samples are wall time, not CPU: left out of the total, said apart.
  let idle = 0;
  for (const [id, us] of self)
    if (byId.get(id)!.callFrame.functionName === '(idle)') {
      idle += us;
      self.delete(id);
    }
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  console.log(`busy ${(total / 1e6).toFixed(2)} s, idle ${(idle / 1e6).toFixed(2)} s`);
  const owners = new Map<string, number>();
  const functions = new Map<string, number>();
  for (const [id, us] of self) {
    const frame = byId.get(id)!.callFrame;
    const owner = ownerOf(frame.url, frame.functionName);
    owners.set(owner, (owners.get(owner) ?? 0) + us);
    const fn = `${frame.functionName || '(anonymous)'} ${owner}:${sourceLine(frame)}`;
    functions.set(fn, (functions.get(fn) ?? 0) + us);
  }
  const show = (title: string, m: Map<string, number>) => {
    console.log(
      `\n${title} (self time, ${(total / 1e6).toFixed(1)} s sampled${messages ? `, ${(total / messages).toFixed(1)} µs a message` : ''})`,
    );
    for (const [k, us] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top))
      console.log(
        `${((us / total) * 100).toFixed(1).padStart(5)} %${messages ? ` ${(us / messages).toFixed(1).padStart(6)} µs/msg` : ''}  ${k}`,
      );
  };
  show('by package or folder', owners);
  show('by function', functions);
  // Inclusive time of the project's own functions (each counted once a sample, however deep the recursion):
  // what a function costs with the native and library work it calls.
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const inclusive = new Map<string, number>();
  for (const [id, us] of self) {
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at)!.callFrame;
      const owner = ownerOf(frame.url, frame.functionName);
      if (!/^(bench|db|shared|workers)\//.test(owner)) continue;
      const fn = `${frame.functionName || '(anonymous)'} ${owner}:${sourceLine(frame)}`;
      if (seen.has(fn)) continue;
      seen.add(fn);
      inclusive.set(fn, (inclusive.get(fn) ?? 0) + us);
    }
  }
  show('project functions, inclusive', inclusive);
}

interface HeapNode {
  callFrame: ProfileNode['callFrame'];
  selfSize: number;
  children: HeapNode[];
}

/**
 * Where a run allocated (a sampling heap profile, `.heapprofile`): bytes by allocating function, and by the
 * nearest project function on the stack, in bytes a message.
 */
export function heapTop(file: string, top = 25, messages = 1): void {
  const { head } = JSON.parse(readFileSync(file, 'utf8')) as { head: HeapNode };
  const bySite = new Map<string, number>();
  const byProject = new Map<string, number>();
  let total = 0;
  const walk = (node: HeapNode, project: string | null) => {
    const frame = node.callFrame;
    const owner = ownerOf(frame.url, frame.functionName);
    const name = `${frame.functionName || '(anonymous)'} ${owner}:${sourceLine(frame)}`;
    const here = /^(bench|db|shared|workers)\//.test(owner) ? name : project;
    if (node.selfSize > 0) {
      total += node.selfSize;
      bySite.set(name, (bySite.get(name) ?? 0) + node.selfSize);
      const key = here ?? '(no project function)';
      byProject.set(key, (byProject.get(key) ?? 0) + node.selfSize);
    }
    for (const child of node.children) walk(child, here);
  };
  walk(head, null);
  const show = (title: string, m: Map<string, number>) => {
    console.log(`\n${title} (${(total / messages).toFixed(0)} bytes sampled a message)`);
    for (const [k, bytes] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top))
      console.log(
        `${((bytes / total) * 100).toFixed(1).padStart(5)} % ${(bytes / messages).toFixed(0).padStart(7)} B/msg  ${k}`,
      );
  };
  show('allocated by function', bySite);
  show('allocated under the nearest project function', byProject);
}
