import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    globalSetup: ['tests/helpers/global-setup.ts'],
    // A developer's IM_* settings must not reach the nodes tests spawn (see the file).
    setupFiles: ['tests/helpers/clean-env.ts'],
    pool: 'forks',
    // Two cores: more parallel files only make the real servers fight for CPU.
    maxWorkers: 2,
    minWorkers: 1,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    teardownTimeout: 30_000,
  },
});
