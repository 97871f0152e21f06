// The entry point shared by `npm start` and the Procfile: read the environment once, start, handle signals.
import { type Config, ConfigError, loadConfig } from '../../shared/config';
import { createLogger } from '../../shared/logger';
import { handleSignals, StartupFailure, startProcess } from './process';
import { assertEveryQueueHandledOnce, type Role } from './roles';

export function startFromEnvironment(roles: Role[], everyQueue: boolean): void {
  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.lines.join('\n')}\n`);
      process.exit(1);
    }
    throw error;
  }
  const log = createLogger(config.LOG_LEVEL);
  if (everyQueue) assertEveryQueueHandledOnce(roles);
  startProcess(roles, config, log).then(
    (proc) => {
      handleSignals(proc, config.SHUTDOWN_TIMEOUT, log);
      proc.ready.catch((error: Error) => {
        log.fatal({ err: error.message }, error instanceof StartupFailure ? error.what : 'Could not start.');
        process.exit(1);
      });
    },
    (error: Error & { code?: string }) => {
      const reason =
        error.code === 'EADDRINUSE'
          ? `METRICS_PORT ${config.METRICS_PORT} is already in use; set METRICS_PORT to a free port`
          : error.message;
      log.fatal({ err: reason }, 'Could not start.');
      process.exit(1);
    },
  );
}
