// The drizzle schema: every table of DESIGN.md's "Storage" section. Migrations are generated from it.

export * from './console';
export * from './deliveries';
export * from './events';
