// Runs once after all test files: drops the template database, so a run leaves no database behind.
import { serverUrl, TEMPLATE_DATABASE } from './env';

export default async function globalTeardown(): Promise<void> {
  const postgres = (await import('postgres')).default;
  const admin = postgres(serverUrl('postgres'), { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`drop database if exists "${TEMPLATE_DATABASE}" with (force)`);
  } finally {
    await admin.end();
  }
}
