// The audit of operators' actions: one row per confirm, release, replay, recount and login in the console, and per
// `campaign quarantine release` (operator `cli:<OS user>`), refused ones included, with the reason.
import type postgres from 'postgres';

/** One audited action. */
export interface AuditEntry {
  operator: string;
  action: 'confirm' | 'release' | 'replay' | 'compute-stats' | 'login' | 'logout';
  target: string | null;
  outcome: 'accepted' | 'refused' | 'failed';
  detail?: Record<string, unknown>;
}

export async function recordAudit(sql: postgres.Sql, e: AuditEntry): Promise<void> {
  await sql`
    insert into audit_log (operator, action, target, outcome, detail)
    values (${e.operator}, ${e.action}, ${e.target}, ${e.outcome}, ${e.detail ? sql.json(e.detail as postgres.JSONValue) : null})`;
}

/** The newest audit rows first. */
export async function listAudit(
  sql: postgres.Sql,
  limit = 100,
): Promise<(AuditEntry & { id: string; at: string })[]> {
  const rows = await sql`
    select id, at, operator, action, target, outcome, detail from audit_log order by id desc limit ${limit}`;
  return rows.map((r) => ({
    id: String(r.id),
    at: (r.at as Date).toISOString(),
    operator: r.operator,
    action: r.action,
    target: r.target,
    outcome: r.outcome,
    detail: r.detail ?? undefined,
  }));
}
