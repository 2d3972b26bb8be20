"""`make bench`: throughput, latency and memory of the pipeline on this machine, written to docs/benchmarks.md.

Phases (each a module): classifier, transport, ingest, pipeline; report renders the results.
Run `python -m bench --help` for options (a quick smoke run, a single phase).
"""
