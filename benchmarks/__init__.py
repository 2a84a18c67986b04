"""stopline's benchmarks: each `bench_*.py` module has `run(quick) -> rows` measured against a baseline."""
