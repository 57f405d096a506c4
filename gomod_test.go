package outpost_test

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// TestGoMod_GoLineIsTheFloor: go.mod's go line is the lowest Go version
// the module needs, the highest go line among its dependencies, so a
// user on that release builds it with GOTOOLCHAIN=local and is not made
// to fetch a newer toolchain.
func TestGoMod_GoLineIsTheFloor(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	b, err := os.ReadFile("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	var ours string
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "go "); ok {
			ours = v
		}
	}
	out, err := exec.Command("go", "list", "-m", "-f", "{{if not .Main}}{{.GoVersion}}{{end}}", "all").Output()
	if err != nil {
		t.Skipf("go list -m all: %v (no module cache?)", err)
	}
	floor := "1.0"
	for v := range strings.FieldsSeq(string(out)) {
		if goVersionLess(floor, v) {
			floor = v
		}
	}
	if goVersionLess(ours, floor) || goVersionLess(floor, ours) {
		t.Errorf("go.mod says go %s; the dependencies need go %s: make the go line %s", ours, floor, floor)
	}
}

// goVersionLess compares Go versions of the form 1.N[.P].
func goVersionLess(a, b string) bool {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := range max(len(pa), len(pb)) {
		var x, y int
		if i < len(pa) {
			x, _ = strconv.Atoi(pa[i])
		}
		if i < len(pb) {
			y, _ = strconv.Atoi(pb[i])
		}
		if x != y {
			return x < y
		}
	}
	return false
}
