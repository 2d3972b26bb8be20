"""`make bench`: throughput, latency and memory of the pipeline on this machine, written to docs/benchmarks.md.

Phases (each a module): classifier, transport, ingest, pipeline; report renders the results.
`make bench-quick` (`python -m bench --quick`, also run by the test suite) runs every phase with tiny loads
and writes its report elsewhere. Run `python -m bench --help` for options (a single phase, raw results).
"""
