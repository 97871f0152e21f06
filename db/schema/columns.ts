// Column types the schema's files share: timestamps with time zone, bigint ids, transaction ids.
import { bigint, customType, timestamp } from 'drizzle-orm/pg-core';

export const tstz = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });
export const id = (name: string) => bigint(name, { mode: 'number' });
/** A transaction id: the hourly aggregation's watermark is the oldest transaction still running. */
export const xid8 = customType<{ data: string }>({ dataType: () => 'xid8' });
