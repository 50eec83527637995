"""zig's benchmarks: every zig figure beside a raw confluent-kafka baseline for the same job, in the same run."""
