package main

import (
	"bufio"
	"flag"
	"fmt"
	"html"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// result is one benchmark line: its name without the -GOMAXPROCS suffix,
// and its metrics by unit.
type result struct {
	name    string
	metrics map[string]float64
}

var cpuSuffix = regexp.MustCompile(`-\d+$`)

// parse reads `go test -bench` output; lines that are not results are
// skipped.
func parse(r io.Reader) ([]result, error) {
	var out []result
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue
		}
		res := result{name: cpuSuffix.ReplaceAllString(strings.TrimPrefix(f[0], "Benchmark"), ""), metrics: map[string]float64{}}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				break
			}
			res.metrics[f[i+1]] = v
		}
		out = append(out, res)
	}
	return out, sc.Err()
}

// bar is one bar of a chart.
type bar struct {
	label string
	value float64
	note  string
}

// hbars draws horizontal bars scaled to the largest value (or to limit,
// if larger), with an optional vertical marker at mark.
func hbars(title, unit string, bars []bar, mark float64, markLabel string) string {
	const width, left, right, rowH, top = 760, 230, 150, 34, 50
	height := top + rowH*len(bars) + 30
	maxV := mark
	for _, b := range bars {
		maxV = max(maxV, b.value)
	}
	if maxV <= 0 {
		maxV = 1
	}
	scale := float64(width-left-right) / maxV
	var sb strings.Builder
	fmt.Fprintf(&sb, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="13">`+"\n", width, height)
	fmt.Fprintf(&sb, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&sb, `<text x="10" y="24" font-size="16" font-weight="bold">%s</text>`+"\n", html.EscapeString(title))
	for i, b := range bars {
		y := top + i*rowH
		w := b.value * scale
		fmt.Fprintf(&sb, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", left-8, y+18, html.EscapeString(b.label))
		fmt.Fprintf(&sb, `<rect x="%d" y="%d" width="%.1f" height="22" fill="#4a7bd0"/>`+"\n", left, y+4, w)
		fmt.Fprintf(&sb, `<text x="%.1f" y="%d">%s %s</text>`+"\n", float64(left)+w+6, y+18,
			html.EscapeString(strconv.FormatFloat(b.value, 'g', 4, 64)), html.EscapeString(unit+b.note))
	}
	if mark > 0 {
		x := float64(left) + mark*scale
		fmt.Fprintf(&sb, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#d04a4a" stroke-dasharray="4 3"/>`+"\n", x, top-6, x, height-24)
		fmt.Fprintf(&sb, `<text x="%.1f" y="%d" fill="#d04a4a" text-anchor="middle">%s</text>`+"\n", x, height-8, html.EscapeString(markLabel))
	}
	sb.WriteString("</svg>\n")
	return sb.String()
}

// ratioBars picks each benchmark's rate-over-baseline figure.
func ratioBars(rs []result) []bar {
	var bars []bar
	for _, r := range rs {
		for _, m := range []struct{ unit, label string }{
			{"raw_ratio", " of raw SQLite"},
			{"ratio", " of sequential REST"},
		} {
			if v, ok := r.metrics[m.unit]; ok {
				bars = append(bars, bar{label: r.name, value: v, note: m.label})
			}
		}
	}
	return bars
}

// catchUpBars picks catch-up speed and peak heap for each gap size.
func catchUpBars(rs []result) (speed, heap []bar) {
	for _, r := range rs {
		if !strings.HasPrefix(r.name, "CatchUp") {
			continue
		}
		label := strings.TrimPrefix(strings.TrimPrefix(r.name, "CatchUp"), "/")
		if v, ok := r.metrics["events/s"]; ok {
			speed = append(speed, bar{label: label, value: v})
		}
		if v, ok := r.metrics["peak_heap_MB"]; ok {
			heap = append(heap, bar{label: label, value: v})
		}
	}
	return speed, heap
}

func run(in io.Reader, outDir string) ([]string, error) {
	rs, err := parse(in)
	if err != nil {
		return nil, err
	}
	if len(rs) == 0 {
		return nil, fmt.Errorf("no benchmark results in the input")
	}
	files := map[string]string{}
	if bars := ratioBars(rs); len(bars) > 0 {
		files["ratios.svg"] = hbars("Outpost against its baseline, measured in the same run (higher is better)", "x", bars, 1, "as fast as the baseline")
	}
	speed, heap := catchUpBars(rs)
	if len(speed) > 0 {
		files["catchup.svg"] = hbars("Catch-up after an offline gap: events applied per second", "events/s", speed, 50000, "target 50,000/s")
	}
	if len(heap) > 0 {
		files["catchup_heap.svg"] = hbars("Catch-up after an offline gap: peak heap (client and in-process server)", "MB", heap, 64, "bound 64 MB")
	}
	var written []string
	for name, svg := range files {
		p := filepath.Join(outDir, name)
		if err := os.WriteFile(p, []byte(svg), 0o644); err != nil {
			return nil, err
		}
		written = append(written, p)
	}
	return written, nil
}

func main() {
	in := flag.String("in", "-", "`go test -bench` output to read; - for standard input")
	out := flag.String("out", ".", "folder to write the SVG files to")
	flag.Parse()
	r := io.Reader(os.Stdin)
	if *in != "-" {
		f, err := os.Open(*in)
		if err != nil {
			fmt.Fprintln(os.Stderr, "benchplot:", err)
			os.Exit(1)
		}
		defer f.Close()
		r = f
	}
	written, err := run(r, *out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchplot:", err)
		os.Exit(1)
	}
	for _, p := range written {
		fmt.Println("wrote", p)
	}
}
