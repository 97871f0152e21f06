// Runs once before all test files: a migrated template database that every test file clones.
import { ensureDatabase, migrateDatabase } from '../../db/migrate';
import { dropTemplate, serverUrl, TEMPLATE_DATABASE } from './env';

export default async function globalSetup(): Promise<void> {
  const url = serverUrl(TEMPLATE_DATABASE);
  await dropTemplate();
  await ensureDatabase(url);
  await migrateDatabase(url);
}
