// The world most pipeline tests start from: a test MTA, the file's own database and prefix pointed at it, a
// pipeline process with the chosen roles, and the operator alice; `close` removes all of it.
import type { PipelineProcess } from '../../workers/start/process';
import type { Role } from '../../workers/start/roles';
import { createTestEnv, type TestEnv } from './env';
import { addOperator } from './fixtures';
import { startPipeline } from './pipeline';
import { startTestMta, type TestMta } from './smtp';

/** A test file's MTA, environment and running pipeline; `close` stops and removes them in order. */
export interface TestWorld {
  t: TestEnv;
  mta: TestMta;
  pipeline: PipelineProcess;
  close(): Promise<void>;
}

/** Starts the world; `env` adds settings, `roles` limits the pipeline (default every role). */
export async function openTestWorld(
  options: { env?: Record<string, string>; roles?: Role[] } = {},
): Promise<TestWorld> {
  const mta = await startTestMta();
  const t = await createTestEnv({ ...options.env, MTA_URL: mta.url });
  const pipeline = await startPipeline(t, { roles: options.roles });
  await addOperator(t, 'alice');
  return {
    t,
    mta,
    pipeline,
    async close() {
      await pipeline.stop();
      await mta.close();
      await t.cleanup();
    },
  };
}
