/**
 * A vitest setup file: runs in each test worker before its test file. A developer's exported IM_* settings
 * (IM_TOKEN_SECRET, IM_SERVER_KEY, IM_NO_EVENTS…) and NATS_URL would reach every node, imctl and script a test
 * spawns (they inherit this environment) and change what the test sees, so they are removed here; a test that
 * wants one passes it to the process explicitly (the `env` of a node's spawn). DATABASE_URL stays: it points the
 * suite at an external Postgres (global-setup, scripts/chaos.ts), and nodes are given theirs in DATABASE_URL anyway.
 */

/** Deletes the variables a test process must not inherit from the developer's shell; returns their names. */
export function stripDeveloperEnv(env: NodeJS.ProcessEnv = process.env): string[] {
  const names = Object.keys(env).filter((n) => n.startsWith('IM_') || n.startsWith('NATS_'));
  for (const n of names) delete env[n];
  return names;
}

stripDeveloperEnv();
