// Operators and their roles: who may confirm a delivery, and who may log in to the console (with what password).
import type postgres from 'postgres';

export async function addOperator(
  sql: postgres.Sql,
  login: string,
  roles: string[],
  /** A new password hash (shared/password.ts); undefined keeps the current one. */
  passwordHash?: string,
): Promise<{ created: boolean; roles: string[] }> {
  return sql.begin(async (tx) => {
    const inserted =
      await tx`insert into operators (login) values (${login}) on conflict (login) do nothing returning id`;
    const [operator] = await tx`select id from operators where login = ${login}`;
    for (const role of roles) {
      await tx`insert into operator_roles (operator_id, role) values (${operator!.id}, ${role}) on conflict do nothing`;
    }
    if (passwordHash !== undefined) await setPasswordIn(tx, operator!.id, passwordHash);
    const all = await tx`select role from operator_roles where operator_id = ${operator!.id} order by role`;
    return { created: inserted.length > 0, roles: all.map((r) => r.role as string) };
  });
}

async function setPasswordIn(tx: postgres.TransactionSql, operatorId: number, hash: string): Promise<void> {
  // A new password ends every session and lifts a lock: whoever held the old one is logged out.
  await tx`update operators set password_hash = ${hash}, failed_logins = 0, locked_until = null where id = ${operatorId}`;
  await tx`delete from operator_sessions where operator_id = ${operatorId}`;
}

/** Sets an existing operator's password; false when there is no such operator. */
export async function setPassword(sql: postgres.Sql, login: string, hash: string): Promise<boolean> {
  return sql.begin(async (tx) => {
    const [operator] = await tx`select id from operators where login = ${login}`;
    if (!operator) return false;
    await setPasswordIn(tx, operator.id, hash);
    return true;
  });
}

export async function operatorRoles(sql: postgres.Sql, login: string): Promise<string[] | null> {
  const rows = await sql`
    select r.role from operators o left join operator_roles r on r.operator_id = o.id where o.login = ${login}`;
  if (rows.length === 0) return null;
  return rows.map((r) => r.role as string | null).filter((r): r is string => r !== null);
}

/** What a login attempt is checked against. */
export interface LoginRecord {
  id: number;
  passwordHash: string | null;
  lockedUntil: Date | null;
}

export async function loginRecord(sql: postgres.Sql, login: string): Promise<LoginRecord | null> {
  const [row] = await sql`select id, password_hash, locked_until from operators where login = ${login}`;
  return row ? { id: row.id, passwordHash: row.password_hash, lockedUntil: row.locked_until } : null;
}

/**
 * Counts a wrong password in one statement (replicas never lose a count); the `threshold`-th locks the login
 * until `now + lockMs` and starts the count again. Returns the lock's end when this attempt locked it.
 */
export async function recordWrongPassword(
  sql: postgres.Sql,
  operatorId: number,
  now: Date,
  threshold: number,
  lockMs: number,
): Promise<Date | null> {
  const until = new Date(now.getTime() + lockMs);
  const [row] = await sql`
    update operators set
      failed_logins = case when failed_logins + 1 >= ${threshold} then 0 else failed_logins + 1 end,
      locked_until = case when failed_logins + 1 >= ${threshold} then ${until}::timestamptz else locked_until end
    where id = ${operatorId}
    returning locked_until`;
  return row?.locked_until && row.locked_until.getTime() === until.getTime() ? until : null;
}

export async function recordRightPassword(sql: postgres.Sql, operatorId: number): Promise<void> {
  await sql`update operators set failed_logins = 0 where id = ${operatorId} and failed_logins <> 0`;
}
