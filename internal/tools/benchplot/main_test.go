package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const sample = `goos: linux
BenchmarkApplyEvents-2   	       5	  28727244 ns/op	     54447 events/s	     96541 raw_events/s	         0.5640 raw_ratio
BenchmarkDrain-2   	       2	4980159063 ns/op	       878.1 baseline_tasks/s	         2.287 ratio	      2008 tasks/s
BenchmarkCatchUp/events=100000-2         	       1	5119032346 ns/op	         1.758 base_heap_MB	     19535 events/s	       200.0 pages	         7.500 peak_heap_MB
PASS
`

func TestRun(t *testing.T) {
	dir := t.TempDir()
	written, err := run(strings.NewReader(sample), dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(written) != 3 {
		t.Fatalf("wrote %v, want three charts", written)
	}
	svg, err := os.ReadFile(filepath.Join(dir, "ratios.svg"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ApplyEvents", "0.564", "Drain", "2.287", "<svg"} {
		if !strings.Contains(string(svg), want) {
			t.Errorf("ratios.svg lacks %q", want)
		}
	}
	if _, err := run(strings.NewReader("no results here\n"), dir); err == nil {
		t.Error("no error for input without results")
	}
}
