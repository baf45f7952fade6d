import { defineConfig } from 'vitest/config';

/** `npm run test:chaos`: real bot processes SIGKILLed at the worst moments, replicas, injected faults (minutes, not seconds). */
export default defineConfig({
  test: {
    include: ['test/chaos/**/*.test.ts'],
    testTimeout: 180_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // The bots are started as the image starts them: compiled, from dist/.
    globalSetup: ['test/support/build.ts'],
  },
});
