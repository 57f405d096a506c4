package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// TestTasks runs the example and checks the story's end: both devices
// show t1 renamed by Bob and done by Alice, and t2 with Alice's later
// title.
func TestTasks(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	got := out.String()
	end := got[strings.Index(got, "alice comes back"):]
	for _, who := range []string{"[alice]", "[bob]"} {
		for _, want := range []string{who + ` t1 "Buy oat milk"         done=true`, who + ` t2 "Plumber: Tuesday 9am"`} {
			if !strings.Contains(end, want) {
				t.Errorf("output lacks %q:\n%s", want, got)
			}
		}
	}
	if !strings.Contains(got, "[alice, offline] t1") || !strings.Contains(got, "pending") {
		t.Errorf("output lacks alice's pending writes:\n%s", got)
	}
}
