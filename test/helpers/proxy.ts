// A TCP proxy on loopback that a test can cut and restore, to play a PostgreSQL or Redis outage.
import net, { type AddressInfo } from 'node:net';

export interface OutageProxy {
  port: number;
  /** Refuses new connections and resets the open ones, as a stopped server would. */
  down(): Promise<void>;
  up(): Promise<void>;
  /** Sends the connections made from now on to another port (a failover to another server). */
  retarget(port: number): void;
  close(): Promise<void>;
}

export async function startProxy(
  targetPort: number,
  targetHost = '127.0.0.1',
  startUp = true,
): Promise<OutageProxy> {
  const sockets = new Set<net.Socket>();
  let target = targetPort;
  let server: net.Server | null = null;
  let port = 0;

  const listen = () =>
    new Promise<void>((resolve, reject) => {
      server = net.createServer((client) => {
        const upstream = net.connect(target, targetHost);
        sockets.add(client).add(upstream);
        client.pipe(upstream).pipe(client);
        const drop = () => {
          client.destroy();
          upstream.destroy();
          sockets.delete(client);
          sockets.delete(upstream);
        };
        client.on('error', drop).on('close', drop);
        upstream.on('error', drop).on('close', drop);
      });
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        port = (server!.address() as AddressInfo).port;
        resolve();
      });
    });

  const stop = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.resetAndDestroy();
      sockets.clear();
      if (!server) return resolve();
      server.close(() => resolve());
      server = null;
    });

  if (startUp) {
    await listen();
  } else {
    // Reserve a port number, then free it: the proxy is "down" until up() listens there.
    await listen();
    await stop();
  }
  return {
    get port() {
      return port;
    },
    down: stop,
    up: listen,
    retarget: (port) => {
      target = port;
    },
    close: stop,
  };
}
