// `node dist/workers/run.js ROLE`: one Procfile process type, running that role alone.
import { startFromEnvironment } from './start/entry';
import { ROLES, type Role } from './start/roles';

const role = process.argv[2] as Role;
if (!ROLES.includes(role)) {
  process.stderr.write(
    `campaign: unknown process type "${process.argv[2] ?? ''}"; expected one of ${ROLES.join(', ')}\n`,
  );
  process.exit(2);
}
startFromEnvironment([role], false);
