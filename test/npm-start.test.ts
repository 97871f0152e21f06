// `npm start` as users run it: the signal sent to npm reaches the pipeline, Ctrl-C shuts it down
// gracefully, and a start-up failure names its own cause.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import path from 'node:path';
import { isAlive as alive } from './helpers/daemon';
import { createTestEnv, type TestEnv } from './helpers/env';
import { waitFor } from './helpers/pipeline';

const ROOT = path.resolve(__dirname, '..');
let t: TestEnv;

beforeAll(async () => {
  // `npm start` runs the build: build it from this source, so that the test runs what the code says.
  execFileSync(
    process.execPath,
    [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'],
    {
      cwd: ROOT,
    },
  );
  t = await createTestEnv();
}, 120_000);

afterAll(async () => {
  await t.cleanup();
});

interface NpmStart {
  npm: ChildProcess;
  output: () => string;
  exit: Promise<number | null>;
  /** The pid of the pipeline's node process, from its first log line. */
  pipelinePid: () => number | null;
}

function npmStart(env: Record<string, string>): NpmStart {
  // Its own process group, as a shell gives a command: the group is what a terminal's Ctrl-C signals.
  const npm = spawn('npm', ['start'], {
    cwd: ROOT,
    env: { ...process.env, NODE_ENV: 'production', ...t.env, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  npm.stdout!.on('data', (d) => (output += d));
  npm.stderr!.on('data', (d) => (output += d));
  const exit = new Promise<number | null>((resolve) => npm.once('exit', (code) => resolve(code)));
  const pipelinePid = () => {
    const match = /"pid":(\d+)/.exec(output);
    return match ? Number(match[1]) : null;
  };
  return { npm, output: () => output, exit, pipelinePid };
}

async function started(p: NpmStart): Promise<number> {
  await waitFor(async () => p.output().includes('Pipeline process started.'), 30_000, 'npm start to start');
  const pid = p.pipelinePid()!;
  expect(pid).not.toBe(p.npm.pid);
  return pid;
}

test('kill -TERM <pid of npm> stops the pipeline itself, gracefully', async () => {
  const p = npmStart({});
  const pid = await started(p);
  try {
    process.kill(p.npm.pid!, 'SIGTERM');
    await p.exit;
    await waitFor(async () => !alive(pid), 15_000, 'the pipeline process to end');
    expect(p.output()).toContain('Shut down cleanly.');
  } finally {
    if (alive(pid)) process.kill(pid, 'SIGKILL');
  }
});

test('Ctrl-C (SIGINT to the group, which npm forwards again) is one request: a graceful shutdown', async () => {
  const p = npmStart({});
  const pid = await started(p);
  try {
    process.kill(-p.npm.pid!, 'SIGINT');
    await p.exit;
    await waitFor(async () => !alive(pid), 15_000, 'the pipeline process to end');
    expect(p.output()).toContain('Shut down cleanly.');
    expect(p.output()).not.toContain('Second signal');
  } finally {
    if (alive(pid)) process.kill(pid, 'SIGKILL');
  }
});

test('a busy FEEDBACK_PORT is reported as such, not as a database failure', async () => {
  const busy: Server = createServer();
  await new Promise<void>((resolve) => busy.listen(0, resolve));
  const port = (busy.address() as { port: number }).port;
  try {
    const p = npmStart({ FEEDBACK_PORT: String(port) });
    expect(await p.exit).not.toBe(0);
    const fatal = p
      .output()
      .split('\n')
      .find((line) => line.includes('"level":60'));
    expect(JSON.parse(fatal!)).toMatchObject({
      msg: 'Could not start the feedback-http role.',
      err: `FEEDBACK_PORT ${port} is already in use; set FEEDBACK_PORT to a free port`,
    });
    expect(p.output()).not.toContain('database');
  } finally {
    busy.close();
  }
});
