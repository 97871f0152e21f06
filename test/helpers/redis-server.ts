// Redis servers of a test's own, on loopback ports, keeping nothing on disk: restarted, they come back empty.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { freePort } from './daemon';

/** A redis-server child process on its own port and directory. */
export interface OwnRedis {
  port: number;
  url: string;
  /** Kills the server (SIGKILL: nothing saved) and starts it again, empty, on the same port. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export { freePort };

async function waitForPing(port: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const redis = new Redis(port, '127.0.0.1', { lazyConnect: true, retryStrategy: () => null });
    try {
      await redis.connect();
      if ((await redis.ping()) === 'PONG') return;
    } catch {
      if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not start`);
    } finally {
      redis.disconnect();
    }
    await sleep(50);
  }
}

/** Starts `redis-server` without persistence; `extra` adds arguments (e.g. cluster mode). */
export async function startOwnRedis(extra: string[] = []): Promise<OwnRedis> {
  const port = await freePort();
  const dir = mkdtempSync(path.join(tmpdir(), 'campaign-redis-'));
  let child: ChildProcess;
  const launch = async () => {
    child = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir]
        .concat(['--logfile', path.join(dir, 'redis.log')])
        .concat(extra),
      { stdio: 'ignore' },
    );
    await waitForPing(port);
  };
  const kill = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  };
  await launch();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    async restart() {
      await kill();
      await launch();
    },
    async stop() {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A Redis Cluster of `masters` servers of a test's own (no replicas), its slots spread by redis-cli. */
export interface OwnCluster {
  servers: OwnRedis[];
  /** The REDIS_URL that names it: redis+cluster://127.0.0.1:p1,… */
  url: string;
  stop(): Promise<void>;
}

export async function startOwnCluster(masters = 3): Promise<OwnCluster> {
  const servers = await Promise.all(
    Array.from({ length: masters }, () =>
      startOwnRedis([
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        'nodes.conf',
        '--cluster-node-timeout',
        '5000',
      ]),
    ),
  );
  const stop = async () => {
    await Promise.all(servers.map((s) => s.stop()));
  };
  try {
    const nodes = servers.map((s) => `127.0.0.1:${s.port}`);
    await run('redis-cli', ['--cluster', 'create', ...nodes, '--cluster-replicas', '0', '--cluster-yes']);
    // Every node must agree that every slot is served before a client may rely on it.
    const deadline = Date.now() + 20_000;
    for (const s of servers) {
      for (;;) {
        const info = await run('redis-cli', ['-p', String(s.port), 'cluster', 'info']);
        if (/cluster_state:ok/.test(info)) break;
        if (Date.now() > deadline) throw new Error(`cluster node ${s.port} never reached cluster_state:ok`);
        await sleep(100);
      }
    }
    return { servers, url: `redis+cluster://${nodes.join(',')}`, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function run(command: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.stderr!.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${command} ${args.join(' ')} exited ${code}: ${out}`)),
    );
  });
}
