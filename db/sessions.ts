// Console sessions: created at login, looked up on every request, ended by logout, `operator logout-all` or a
// new password. Only the SHA-256 of a session's token is stored: a read of the table logs nobody in.
import { createHash, randomBytes } from 'node:crypto';
import type postgres from 'postgres';

/** The operator a request acts as. */
export interface SessionOperator {
  login: string;
  roles: string[];
  /** The session's token hash (null for a login vouched for by AUTH_PROXY_HEADER): binds CSRF tokens to it. */
  sessionId: string | null;
}

const hashOf = (token: string) => createHash('sha256').update(token).digest('base64url');

/** Starts a session; returns the token for the cookie (never stored). */
export async function createSession(
  sql: postgres.Sql,
  operatorId: number,
  now: Date,
  ttlMs: number,
): Promise<string> {
  const token = randomBytes(32).toString('base64url');
  await sql`
    insert into operator_sessions (token_hash, operator_id, created_at, last_seen_at, expires_at)
    values (${hashOf(token)}, ${operatorId}, ${now}, ${now}, ${new Date(now.getTime() + ttlMs)})`;
  return token;
}

/**
 * The operator of a live session, sliding its end `ttlMs` past `now` (at most once a minute, so that a page
 * refreshing every 2 s does not write every 2 s); null for an unknown, ended or expired token.
 */
export async function sessionOperator(
  sql: postgres.Sql,
  token: string,
  now: Date,
  ttlMs: number,
): Promise<SessionOperator | null> {
  const id = hashOf(token);
  const [row] = await sql`
    select o.login, s.last_seen_at,
           coalesce(array_agg(r.role order by r.role) filter (where r.role is not null), '{}') as roles
    from operator_sessions s join operators o on o.id = s.operator_id
    left join operator_roles r on r.operator_id = o.id
    where s.token_hash = ${id} and s.expires_at > ${now}
    group by o.login, s.last_seen_at`;
  if (!row) return null;
  if (now.getTime() - row.last_seen_at.getTime() > 60_000)
    await sql`update operator_sessions set last_seen_at = ${now}, expires_at = ${new Date(now.getTime() + ttlMs)}
              where token_hash = ${id}`;
  return { login: row.login, roles: row.roles, sessionId: id };
}

/** The roles of an operator vouched for by an authenticating proxy; null for an unknown login. */
export async function proxiedOperator(sql: postgres.Sql, login: string): Promise<SessionOperator | null> {
  const [row] = await sql`
    select o.login, coalesce(array_agg(r.role order by r.role) filter (where r.role is not null), '{}') as roles
    from operators o left join operator_roles r on r.operator_id = o.id
    where o.login = ${login} group by o.login`;
  return row ? { login: row.login, roles: row.roles, sessionId: null } : null;
}

export async function endSession(sql: postgres.Sql, token: string): Promise<void> {
  await sql`delete from operator_sessions where token_hash = ${hashOf(token)}`;
}

/** Ends every session of an operator; the number ended, or null for an unknown login. */
export async function endOperatorSessions(sql: postgres.Sql, login: string): Promise<number | null> {
  const [operator] = await sql`select id from operators where login = ${login}`;
  if (!operator) return null;
  const ended = await sql`delete from operator_sessions where operator_id = ${operator.id} returning 1`;
  // Expired rows of everybody go too: the table holds live sessions only.
  await sql`delete from operator_sessions where expires_at < now()`;
  return ended.length;
}
