// `npm start`: every worker, and the health and metrics endpoints, in one process (one machine's default).
import { startFromEnvironment } from './start/entry';
import { ROLES } from './start/roles';

startFromEnvironment([...ROLES], true);
