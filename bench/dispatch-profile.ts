// `node --expose-gc --enable-source-maps --import tsx bench/dispatch-profile.ts [recipients] [smtp|dropping] [out.cpuprofile]`: one
// dispatch run (bench/dispatch.ts's pipeline side, no limit runs) with V8's CPU profiler on for the timed part
// only (not the import of the recipients), then the profile's top self-time items in µs a message.
import { readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import path from 'node:path';
import { writeRecipients } from './delivery-kit';
import { pipelineRun } from './dispatch';
import { heapTop, profileTop } from './profile-top';

/**
 * This process's read and write system calls so far (/proc/self/io: syscr, syscw), and the times its main
 * thread went to sleep waiting for the event loop (voluntary context switches, /proc/self/status).
 */
function syscalls(): { reads: number; writes: number; sleeps: number } {
  const io = readFileSync('/proc/self/io', 'utf8');
  const status = readFileSync('/proc/self/status', 'utf8');
  const field = (text: string, name: string) =>
    Number(new RegExp(`^${name}:\\s*(\\d+)`, 'm').exec(text)?.[1] ?? 0);
  return {
    reads: field(io, 'syscr'),
    writes: field(io, 'syscw'),
    sleeps: field(status, 'voluntary_ctxt_switches'),
  };
}

async function main() {
  const count = Number(process.argv[2] ?? 20_000);
  const transport = process.argv[3] === 'dropping' ? 'dropping' : 'smtp';
  // `none`: no V8 profile (its sampling thread costs CPU of its own), e.g. under `perf record`.
  const out = process.argv[4] ?? path.join(__dirname, 'tmp', `dispatch-${transport}-${count}.cpuprofile`);
  const profiling = out !== 'none';
  // A `.heapprofile` path: where the run allocates (V8's sampling heap profiler, by allocation site) instead.
  const heap = out.endsWith('.heapprofile');
  const file = await writeRecipients(count);
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  // 250 µs between samples: a few thousand samples for a run of 20,000 messages.
  await session.post('Profiler.setSamplingInterval', { interval: 250 });
  const memory: [string, NodeJS.MemoryUsage][] = [['before the import', process.memoryUsage()]];
  let before = syscalls();
  let calls = before;
  const run = await pipelineRun(count, transport, file, {
    started: async () => {
      before = syscalls();
      memory.push(['started', process.memoryUsage()]);
      // A `perf record -p` started on this line sees the same part (run node with --perf-basic-prof).
      console.error(`timed part started, pid ${process.pid}`);
      if (heap)
        await session.post('HeapProfiler.startSampling', {
          samplingInterval: 4096,
          includeObjectsCollectedByMajorGC: true,
          includeObjectsCollectedByMinorGC: true,
        });
      else if (profiling) await session.post('Profiler.start');
    },
    finished: async () => {
      calls = syscalls();
      memory.push(['finished', process.memoryUsage()]);
      (globalThis as { gc?: () => void }).gc?.();
      memory.push(['finished, after a full collection', process.memoryUsage()]);
      if (heap) {
        const { profile } = await session.post('HeapProfiler.stopSampling');
        writeFileSync(out, JSON.stringify(profile));
      } else if (profiling) {
        const { profile } = await session.post('Profiler.stop');
        writeFileSync(out, JSON.stringify(profile));
      }
    },
  });
  session.disconnect();
  const { postgres: _pg, ...summary } = run;
  console.log(JSON.stringify(summary));
  console.log(
    `system calls a message: ${((calls.reads - before.reads) / count).toFixed(2)} reads, ${((calls.writes - before.writes) / count).toFixed(2)} writes; the main thread slept ${((calls.sleeps - before.sleeps) / count).toFixed(2)} times a message`,
  );
  const mb = (n: number) => Math.round(n / 1024 / 1024);
  for (const [when, m] of memory)
    console.log(
      `memory ${when}: rss ${mb(m.rss)} MB, heap ${mb(m.heapUsed)}/${mb(m.heapTotal)} MB, external ${mb(m.external)} MB, array buffers ${mb(m.arrayBuffers)} MB`,
    );
  if (heap) heapTop(out, 30, count);
  else if (profiling) profileTop(out, 30, count);
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
