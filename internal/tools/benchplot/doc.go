// Command benchplot turns the output of `go test -bench` into the SVG
// charts of docs/BENCHMARKS.md, with no dependency beyond the standard
// library. scripts/bench.sh runs the benchmarks and then this:
//
//	go run ./internal/tools/benchplot -in docs/bench/latest.txt -out docs/bench
//
// It writes ratios.svg (each benchmark's rate against the baseline
// measured in the same run, with the target drawn in) and catchup.svg
// (catch-up speed and peak heap by gap size).
package main
