#!/usr/bin/env bash
# Runs every benchmark of docs/BENCHMARKS.md once, writes the raw output
# to docs/bench/latest.txt and draws the charts beside it.
#
#   scripts/bench.sh            # default sizes, about 5 minutes on 2 cores
#   OUTPOST_BENCH_EVENTS=100000,1000000 scripts/bench.sh   # catch-up at 1M too
set -euo pipefail
cd "$(dirname "$0")/.."
out=docs/bench/latest.txt
mkdir -p docs/bench
{
	echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(go version) $(nproc) cores"
	go test -run '^$' -bench 'BenchmarkApplyEvents|BenchmarkColdOpen' -benchtime 20x ./internal/store
	go test -run '^$' -bench 'BenchmarkCatchUp|BenchmarkDrain' -benchtime 1x -timeout 60m .
	go test -run '^$' -bench 'BenchmarkSyncPages|BenchmarkFanout' -benchtime 1x ./server
} | tee "$out"
go run ./internal/tools/benchplot -in "$out" -out docs/bench
