package outpost_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/outpostsync/outpost"
	"github.com/outpostsync/outpost/internal/apitest"
	"github.com/outpostsync/outpost/internal/store"
	"github.com/outpostsync/outpost/offlinedb"
	"github.com/outpostsync/outpost/token"
)

// TestOfflineWriteChild is the child of TestOfflineWrite_SurvivesKill: it
// opens a store with the server down, writes, says so on stdout with how
// long the write took, and waits to be killed.
func TestOfflineWriteChild(t *testing.T) {
	url, db := os.Getenv("OUTPOST_OFFLINE_URL"), os.Getenv("OUTPOST_OFFLINE_DB")
	if url == "" {
		t.Skip("run by TestOfflineWrite_SurvivesKill")
	}
	ctx := context.Background()
	tok, _ := token.Issue(secret, "bob", time.Hour)
	c, err := outpost.Open(ctx, outpost.Config{ServerURL: url, UserID: "bob", Token: tok, DBPath: db})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		start := time.Now()
		id, err := sentID(c.SendMessage(ctx, "team:general", outpost.NewMessage{Text: fmt.Sprint("offline ", i)}))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Printf("returned %s %d\n", id, time.Since(start).Microseconds())
	}
	os.Stdout.Sync()
	// Wait to be killed: reading stdin blocks until the parent is done.
	bufio.NewReader(os.Stdin).ReadString('\n')
	c.Close(context.Background())
}

// TestOfflineWrite_SurvivesKill: with the server down, a write returns in
// well under 100 ms (the fastest of three, as a loaded machine may park
// the child during one), and a SIGKILL right after it returns loses nothing:
// the write is in the outbox, with its pending row.
func TestOfflineWrite_SurvivesKill(t *testing.T) {
	if os.Getenv("OUTPOST_OFFLINE_URL") != "" {
		t.Skip("child")
	}
	dbPath := filepath.Join(t.TempDir(), "bob.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestOfflineWriteChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), "OUTPOST_OFFLINE_URL="+apitest.DeadURL(t), "OUTPOST_OFFLINE_DB="+dbPath)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var ids []string
	var took []time.Duration
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		var id string
		var micros int64
		if _, err := fmt.Sscanf(sc.Text(), "returned %s %d", &id, &micros); err != nil {
			continue
		}
		ids = append(ids, id)
		took = append(took, time.Duration(micros)*time.Microsecond)
		if len(ids) == 3 {
			break
		}
	}
	// The fastest of the three: a write that waits for something waits
	// each time, while a loaded machine that parks the child for a while
	// slows one write, not all.
	if len(took) > 0 && slices.Min(took) >= 100*time.Millisecond {
		t.Errorf("offline writes took %v, want one under 100ms", took)
	}
	cmd.Process.Kill() // SIGKILL, right after the last write returned
	cmd.Wait()
	if len(ids) != 3 {
		t.Fatalf("the child reported %d writes, want 3", len(ids))
	}

	ctx := context.Background()
	db, err := store.Open(ctx, dbPath, offlinedb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tasks, err := db.PendingTasks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, task := range tasks {
		got = append(got, task.MessageID)
	}
	if strings.Join(got, ",") != strings.Join(ids, ",") {
		t.Errorf("outbox after SIGKILL = %v, want %v", got, ids)
	}
	for _, id := range ids {
		if m, err := db.Message(ctx, id); err != nil || m.Status != offlinedb.StatusPending {
			t.Errorf("message %s after SIGKILL: %+v, %v; want pending", id, m, err)
		}
	}
}
