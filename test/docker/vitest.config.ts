// `npm run test:docker`: the Docker smoke test alone (slow, needs a Docker engine),
// kept out of `npm test`'s include pattern by its *.docker.ts name.
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/docker/**/*.docker.ts"],
    testTimeout: 300_000,
    hookTimeout: 600_000,
    expect: { requireAssertions: true },
    pool: "forks",
    maxWorkers: 1,
    fileParallelism: false,
  },
});
