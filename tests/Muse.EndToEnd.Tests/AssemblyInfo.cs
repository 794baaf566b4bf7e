// Each cluster is six processes on a two-core machine: run one test collection (one cluster) at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
