// The schema of the operator console: login sessions (revocable, so kept in PostgreSQL) and the audit of actions.
import { bigserial, index, integer, jsonb, pgTable, text } from 'drizzle-orm/pg-core';
import { tstz } from './columns';
import { operators } from './deliveries';

/** One logged-in browser; the cookie holds a random token, the row only its SHA-256. */
export const operatorSessions = pgTable(
  'operator_sessions',
  {
    tokenHash: text('token_hash').primaryKey(),
    operatorId: integer('operator_id')
      .notNull()
      .references(() => operators.id, { onDelete: 'cascade' }),
    createdAt: tstz('created_at').notNull().defaultNow(),
    lastSeenAt: tstz('last_seen_at').notNull().defaultNow(),
    expiresAt: tstz('expires_at').notNull(),
  },
  (t) => [index('operator_sessions_operator_idx').on(t.operatorId)],
);

/** Who did what from the console (confirm, release, replay, compute statistics, logins), refused ones too. */
export const auditLog = pgTable(
  'audit_log',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    at: tstz('at').notNull().defaultNow(),
    operator: text('operator').notNull(),
    action: text('action').notNull(),
    /** What the action was on: a delivery id, an address, a dead letter id. */
    target: text('target'),
    outcome: text('outcome').notNull(),
    detail: jsonb('detail'),
  },
  (t) => [index('audit_log_at_idx').on(t.at)],
);
