// A real IMAP server for tests: Debian's Dovecot as its own instance (config, sockets, state, log and maildir in a
// temporary folder), IMAP on a loopback port, one static user; `restart` stops and starts it on the same port,
// `stop` ends it and removes it all. Needs the `dovecot-imapd` package (.ci/run installs it) and root.
import { spawn } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, greets, isAlive } from './daemon';
import { waitFor } from './pipeline';

const DOVECOT = '/usr/sbin/dovecot';

/** One running Dovecot instance. */
export interface DovecotInstance {
  port: number;
  user: string;
  password: string;
  /** BOUNCE_IMAP_URL for its INBOX. */
  url: string;
  log(): string;
  /** Stops the server (connections drop) and starts it again on the same port. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

function missingDovecot(): string | null {
  if (!existsSync(DOVECOT))
    return 'Dovecot is not installed: apt-get install -y dovecot-imapd (.ci/run installs it when missing)';
  if (process.getuid?.() !== 0) return 'a Dovecot instance needs root (its master process runs as root)';
  return null;
}

export async function startDovecot(): Promise<DovecotInstance> {
  const missing = missingDovecot();
  if (missing) throw new Error(missing);
  const dir = mkdtempSync(path.join(tmpdir(), 'campaign-dovecot-'));
  // Dovecot's mail processes run as the dovecot user: they must reach the maildir below this folder.
  chmodSync(dir, 0o755);
  const [run, state, mail, home] = ['run', 'state', 'mail', 'home'].map((d) => path.join(dir, d)) as [
    string,
    string,
    string,
    string,
  ];
  for (const d of [run, state, mail, home]) mkdirSync(d);
  // The mail user is Dovecot's own (never root); its maildir and home are below the folder.
  const owner = /^dovecot:x:(\d+):(\d+):/m.exec(readFileSync('/etc/passwd', 'utf8'));
  if (owner) for (const d of [mail, home]) chownSync(d, Number(owner[1]), Number(owner[2]));
  const port = await freePort();
  const user = 'bounces';
  const password = 'imap-test-password';
  const conf = path.join(dir, 'dovecot.conf');
  const logFile = path.join(dir, 'dovecot.log');
  writeFileSync(
    conf,
    `instance_name = ${path.basename(dir)}
base_dir = ${run}
state_dir = ${state}
listen = 127.0.0.1
protocols = imap
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
log_path = ${logFile}
mail_location = maildir:${mail}/%u
# The mail user is the system user dovecot (a uid below the default 500).
first_valid_uid = 1
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = ${port}
  }
  inet_listener imaps {
    port = 0
  }
}
passdb {
  driver = static
  args = password=${password}
}
userdb {
  driver = static
  args = uid=dovecot gid=dovecot home=${home}/%u
}
`,
  );
  // Its master daemonizes and keeps the fds it was given: no pipes, or waiting for them would wait for it.
  const dovecot = (...args: string[]) =>
    new Promise<void>((resolve, reject) => {
      const child = spawn(DOVECOT, ['-c', conf, ...args], { stdio: 'ignore' });
      child.once('error', reject);
      child.once('exit', (code) =>
        code === 0 ? resolve() : reject(new Error(`dovecot ${args.join(' ')} exited with ${code}`)),
      );
    });
  const log = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
  const pidFile = path.join(run, 'master.pid');
  const halt = async () => {
    const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim()) : null;
    await dovecot('stop').catch(() => {});
    if (pid !== null)
      await waitFor(async () => !isAlive(pid), 30_000, 'Dovecot to stop').catch(() =>
        process.kill(pid, 'SIGKILL'),
      );
  };
  const start = async () => {
    await dovecot();
    await waitFor(() => greets(port, '* OK', 'a LOGOUT\r\n'), 60_000, 'Dovecot to greet');
  };
  try {
    await start();
  } catch (error) {
    const why = `${(error as Error).message}\n${log()}`;
    await halt();
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`Dovecot did not start: ${why}`);
  }
  return {
    port,
    user,
    password,
    url: `imap://${user}:${password}@127.0.0.1:${port}/INBOX`,
    log,
    async restart() {
      await halt();
      await start();
    },
    async stop() {
      await halt();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
