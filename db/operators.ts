// Operators and their roles: who may confirm a delivery.
import type postgres from 'postgres';

export async function addOperator(
  sql: postgres.Sql,
  login: string,
  roles: string[],
): Promise<{ created: boolean; roles: string[] }> {
  return sql.begin(async (tx) => {
    const inserted =
      await tx`insert into operators (login) values (${login}) on conflict (login) do nothing returning id`;
    const [operator] = await tx`select id from operators where login = ${login}`;
    for (const role of roles) {
      await tx`insert into operator_roles (operator_id, role) values (${operator!.id}, ${role}) on conflict do nothing`;
    }
    const all = await tx`select role from operator_roles where operator_id = ${operator!.id} order by role`;
    return { created: inserted.length > 0, roles: all.map((r) => r.role as string) };
  });
}

export async function operatorRoles(sql: postgres.Sql, login: string): Promise<string[] | null> {
  const rows = await sql`
    select r.role from operators o left join operator_roles r on r.operator_id = o.id where o.login = ${login}`;
  if (rows.length === 0) return null;
  return rows.map((r) => r.role as string | null).filter((r): r is string => r !== null);
}
