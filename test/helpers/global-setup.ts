// Runs once before all test files: a migrated template database that every test file clones.
import { ensureDatabase, migrateDatabase } from '../../db/migrate';
import { serverUrl, TEMPLATE_DATABASE } from './env';

export default async function globalSetup(): Promise<void> {
  const url = serverUrl(TEMPLATE_DATABASE);
  const postgres = (await import('postgres')).default;
  const admin = postgres(serverUrl('postgres'), { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`drop database if exists "${TEMPLATE_DATABASE}" with (force)`);
  } finally {
    await admin.end();
  }
  await ensureDatabase(url);
  await migrateDatabase(url);
}
