// Runs once after all test files: drops the template database, so a run leaves no database behind.
import { dropTemplate } from './env';

export default dropTemplate;
