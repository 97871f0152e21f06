// A real Postfix for tests: its own instance (config, queue and data directories in a temporary folder), its smtpd
// on a loopback port, routing by transport_maps, its queue timers in seconds; `stop` ends it and removes it all.
// It needs the Debian `postfix` package (.ci/run installs it) and root (Postfix's master runs as root).
import { execFile } from 'node:child_process';
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
import { promisify } from 'node:util';
import { freePort, greets, isAlive } from './daemon';
import { waitFor } from './pipeline';

export { freePort };

const POSTFIX = '/usr/sbin/postfix';

/** One running Postfix instance. */
export interface PostfixInstance {
  /** Its smtpd, what the pipeline's MTA_URL names. */
  url: string;
  port: number;
  dir: string;
  /** Its log so far (maillog_file). */
  log(): string;
  /** Runs `postqueue -f`: every deferred message is tried again now. */
  flush(): Promise<void>;
  stop(): Promise<void>;
}

// The daemons of a minimal master.cf, none chrooted (the instance's directories are not a chroot jail).
const MASTER_CF = `
pickup    unix  n - n 60    1 pickup
cleanup   unix  n - n -     0 cleanup
qmgr      unix  n - n 300   1 qmgr
rewrite   unix  - - n -     - trivial-rewrite
bounce    unix  - - n -     0 bounce
defer     unix  - - n -     0 bounce
trace     unix  - - n -     0 bounce
verify    unix  - - n -     1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n -     - proxymap
smtp      unix  - - n -     - smtp
relay     unix  - - n -     - smtp
showq     unix  n - n -     - showq
error     unix  - - n -     - error
retry     unix  - - n -     - error
discard   unix  - - n -     - discard
anvil     unix  - - n -     1 anvil
scache    unix  - - n -     1 scache
postlog   unix-dgram n - n - 1 postlogd
`;

function missingPostfix(): string | null {
  if (!existsSync(POSTFIX))
    return 'Postfix is not installed: apt-get install -y postfix (.ci/run installs it when missing)';
  if (process.getuid?.() !== 0) return 'a Postfix instance needs root (its master process runs as root)';
  return null;
}

/**
 * Starts an instance. `transports` is its transport_maps (domain → `smtp:[127.0.0.1]:port`, `error:5.1.1 …`,
 * `retry:4.2.2 …`); `settings` are main.cf lines over the defaults below (queue timers, for instance).
 */
export async function startPostfix(options: {
  transports: Record<string, string>;
  settings?: Record<string, string>;
}): Promise<PostfixInstance> {
  const missing = missingPostfix();
  if (missing) throw new Error(missing);
  const dir = mkdtempSync(path.join(tmpdir(), 'campaign-postfix-'));
  // Postfix's daemons drop to the postfix user: they must reach the queue below this folder.
  chmodSync(dir, 0o755);
  const [etc, queue, data] = ['etc', 'queue', 'data'].map((d) => path.join(dir, d)) as [
    string,
    string,
    string,
  ];
  for (const d of [etc, queue, data]) mkdirSync(d);
  const postfixUser = /^postfix:x:(\d+):(\d+):/m.exec(readFileSync('/etc/passwd', 'utf8'));
  if (postfixUser) chownSync(data, Number(postfixUser[1]), Number(postfixUser[2]));
  const port = await freePort();
  const settings: Record<string, string> = {
    compatibility_level: '3.6',
    queue_directory: queue,
    data_directory: data,
    maillog_file: path.join(dir, 'maillog'),
    maillog_file_prefixes: dir,
    myhostname: 'mta.test',
    mydomain: 'mta.test',
    myorigin: 'mta.test',
    // Nothing is local: every domain goes where transport_maps says, from loopback clients only.
    mydestination: '',
    alias_maps: '',
    alias_database: '',
    local_recipient_maps: '',
    inet_interfaces: '127.0.0.1',
    inet_protocols: 'ipv4',
    mynetworks: '127.0.0.0/8',
    smtp_dns_support_level: 'disabled',
    smtp_host_lookup: 'native',
    // The error transport bounces after the queue, as a remote "User unknown" does; smtpd would refuse at RCPT.
    smtpd_reject_unlisted_recipient: 'no',
    // No postmaster notices (they would have nowhere to go).
    notify_classes: '',
    transport_maps: `texthash:${path.join(etc, 'transport')}`,
    ...options.settings,
  };
  writeFileSync(
    path.join(etc, 'main.cf'),
    Object.entries(settings)
      .map(([k, v]) => `${k} = ${v}`)
      .join('\n'),
  );
  writeFileSync(path.join(etc, 'master.cf'), `127.0.0.1:${port} inet n - n - - smtpd\n${MASTER_CF}`);
  writeFileSync(
    path.join(etc, 'transport'),
    Object.entries(options.transports)
      .map(([domain, next]) => `${domain} ${next}`)
      .join('\n'),
  );
  const run = (command: string, ...args: string[]) =>
    promisify(execFile)(command, ['-c', etc, ...args], { timeout: 60_000 });
  const log = () => (existsSync(settings.maillog_file!) ? readFileSync(settings.maillog_file!, 'utf8') : '');
  const masterPid = () => {
    const file = path.join(queue, 'pid', 'master.pid');
    return existsSync(file) ? Number(readFileSync(file, 'utf8').trim()) : null;
  };
  let pid: number | null = null;
  const stop = async () => {
    pid ??= masterPid();
    await run(POSTFIX, 'stop').catch(() => {});
    if (pid !== null) {
      // `postfix stop` returns before the master has gone; on a loaded machine it may take a while.
      await waitFor(async () => !isAlive(pid!), 30_000, 'Postfix to stop').catch(() => {
        if (isAlive(pid!)) process.kill(pid!, 'SIGKILL');
      });
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await run(POSTFIX, 'start');
    pid = masterPid();
    await waitFor(() => greets(port, '220', 'QUIT\r\n'), 60_000, 'Postfix smtpd to greet');
  } catch (error) {
    const why = `${(error as Error).message}\n${log()}`;
    await stop();
    throw new Error(`Postfix did not start: ${why}`);
  }
  return {
    url: `smtp://127.0.0.1:${port}`,
    port,
    dir,
    log,
    flush: async () => {
      await run('/usr/sbin/postqueue', '-f');
    },
    stop,
  };
}
