import { defineConfig } from 'vitest/config';

/** `npm test`: unit, integration, end-to-end and infrastructure tests. The chaos suite has its own config (`npm run test:chaos`). */
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/chaos/**', 'node_modules/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Four files at once on two cores: end-to-end tests mostly wait on timers and loopback I/O, not on the CPU.
    maxWorkers: 4,
  },
});
