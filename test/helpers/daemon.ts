// What the tests that run a real server of their own (Postfix, Dovecot, Redis, Prometheus, `npm start`) need
// alike: a free loopback port, "is that process still there", "does the port greet as that server does".
import { createConnection, createServer } from 'node:net';

/** A loopback port free at the time of asking (the server binds it itself a moment later). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Whether a process of this id still runs (signal 0 checks without sending anything). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether a connection to the port gets a greeting that starts with `greeting` (`220` for SMTP, `* OK` for
 * IMAP); `goodbye` is what the test says before it leaves (`QUIT\r\n`, `a LOGOUT\r\n`).
 */
export function greets(port: number, greeting: string, goodbye: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.setTimeout(2000);
    socket.once('data', (data) => {
      socket.end(goodbye);
      resolve(data.toString().startsWith(greeting));
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}
