import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ['default', 'json'],
    outputFile: { json: '.test-results/vitest.json' },
    // Measured by `npm test` (`vitest run --coverage`), not by a run of a few files, where a floor
    // would fail for what the other files cover.
    coverage: {
      provider: 'v8',
      include: ['src/**/*.ts'],
      reporter: ['text-summary', 'json-summary'],
      reportsDirectory: '.test-results/coverage',
      // A little under what the suite reached with every source merged (lines over 96%, branches
      // 89.1%), raised once every uncovered branch of the protocol and the stores was tested or
      // removed (those files had 34 of their 346 branches uncovered): a change that leaves code
      // untested fails CI.
      thresholds: { lines: 96, branches: 89 },
    },
  },
})
