/** The benchmarks' one activity: does nothing, so only Temporal's own path is measured. */
export const createBenchActivities = () => ({
  benchStep(what: string): Promise<string> {
    return Promise.resolve(what);
  },
});

export type BenchActivities = ReturnType<typeof createBenchActivities>;
