// `npm start`: every worker, and the health and metrics endpoints, in one process (one machine's default).
import { startFromEnvironment } from './entry';
import { ROLES } from './roles';

startFromEnvironment([...ROLES], true);
