package webtest_test

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestEvents_Curl runs PROTOCOL.md's `curl -N` with a Last-Event-ID: the
// events after it come back with their ids, in order.
func TestEvents_Curl(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("no curl binary")
	}
	ts := startServer(t, nil)
	cid := createChannel(t, ts, "alice", "general")
	end := logEnd(t, ts, "alice", cid)
	base := end.Seq
	for i := range 3 {
		sendMsg(t, ts, "alice", cid, fmt.Sprintf("c%d", i), msgText(i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, curl, "-sN", "-H", "Authorization: Bearer "+tokenFor(t, "alice"),
		"-H", "Last-Event-ID: "+at(cid, end.Epoch, base), ts.URL+"/events")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cancel()
		cmd.Wait()
	}()
	var ids []string
	sawRetry := false
	sc := bufio.NewScanner(out)
	for len(ids) < 3 && sc.Scan() {
		line := sc.Text()
		sawRetry = sawRetry || strings.HasPrefix(line, "retry: ")
		if id, ok := strings.CutPrefix(line, "id: "); ok {
			ids = append(ids, id)
		}
	}
	want := []string{at(cid, end.Epoch, base+1), at(cid, end.Epoch, base+2), at(cid, end.Epoch, base+3)}
	if strings.Join(ids, " ") != strings.Join(want, " ") || !sawRetry {
		t.Fatalf("curl read ids %q (retry %v), want %q", ids, sawRetry, want)
	}
}
