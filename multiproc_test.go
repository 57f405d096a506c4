package outpost_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outpostsync/outpost"
	"github.com/outpostsync/outpost/client"
	"github.com/outpostsync/outpost/offlinedb"
	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/syncmanager"
	"github.com/outpostsync/outpost/token"
)

const procCount = 3

// procWrites is how many writes each process of TestProcesses makes:
// 300 between them, 60 under the race detector.
var procWrites = map[bool]int{false: 100, true: 20}[raceOn]

// procBound bounds how long a process of TestProcesses waits for the
// others' writes to be sent and heard (the whole test takes about 2s, 10s
// under the race detector).
var procBound = map[bool]time.Duration{false: 20 * time.Second, true: 60 * time.Second}[raceOn]

// TestProcChild is one process of TestProcesses: it opens Bob's shared
// store, writes its share of messages (NAME-000, NAME-001, ...; on a
// restart it goes on after the ones it stored before), and waits until
// the store holds every process's writes, sent, and it has heard of each
// write another process made since it started. It writes a file naming
// itself syncer while it holds the sync lock.
func TestProcChild(t *testing.T) {
	url, db, name, dir := os.Getenv("OUTPOST_PROC_URL"), os.Getenv("OUTPOST_PROC_DB"), os.Getenv("OUTPOST_PROC_NAME"), os.Getenv("OUTPOST_PROC_DIR")
	if url == "" {
		t.Skip("run by TestProcesses")
	}
	ctx := context.Background()
	tok, _ := token.Issue(secret, "bob", time.Hour)
	c, err := outpost.Open(ctx, outpost.Config{ServerURL: url, UserID: "bob", Token: tok, DBPath: db, ConnectTimeout: -1,
		Client: client.Config{MinReconnectDelay: 5 * time.Millisecond, MaxReconnectDelay: 50 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	marker := filepath.Join(dir, "syncer-"+strconv.Itoa(os.Getpid()))
	c.OnStatus(func(st syncmanager.Status) {
		if st.Syncer {
			_ = os.WriteFile(marker, nil, 0o600)
		}
	})
	if c.Status().Syncer {
		_ = os.WriteFile(marker, nil, 0o600)
	}
	h := listen(c)
	before := storeIDs(t, c)
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(uint64(os.Getpid()), 2))
	for i := range procWrites {
		id := fmt.Sprintf("%s-%03d", name, i)
		if before[id] {
			continue
		}
		if _, err := c.SendMessage(ctx, "team:procs", outpost.NewMessage{ID: id, Text: id}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(rng.IntN(30)) * time.Millisecond) // pace the writes, so kills land among them
	}
	deadline := time.Now().Add(procBound)
	for {
		ids := storeIDs(t, c)
		missing := []string{}
		for id := range ids {
			if !before[id] && !strings.HasPrefix(id, name+"-") && !h.has(id) {
				missing = append(missing, id)
			}
		}
		if len(ids) == procCount*procWrites && len(missing) == 0 && allSent(t, c) {
			heard := 0
			for id := range ids {
				if !before[id] && !strings.HasPrefix(id, name+"-") {
					heard++
				}
			}
			fmt.Printf("heard %d\n", heard)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: store holds %d, sent %v, not heard: %d", name, len(ids), allSent(t, c), len(missing))
		}
		time.Sleep(20 * time.Millisecond) // polling a condition with a deadline
	}
}

func storeIDs(tb testing.TB, c *outpost.Client) map[string]bool {
	tb.Helper()
	ms, err := c.Messages(context.Background(), "team:procs", offlinedb.MessagesQuery{Limit: 1000})
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string]bool{}
	for _, m := range ms {
		out[m.ID] = true
	}
	return out
}

func allSent(tb testing.TB, c *outpost.Client) bool {
	tb.Helper()
	ms, err := c.Messages(context.Background(), "team:procs", offlinedb.MessagesQuery{Limit: 1000})
	if err != nil {
		tb.Fatal(err)
	}
	for _, m := range ms {
		if m.Status != offlinedb.StatusSent {
			return false
		}
	}
	return true
}

// TestProcesses: three processes share Bob's store and write 300
// messages between them, while the one that syncs is SIGKILLed at random
// moments and started again. Afterwards the server holds each write once,
// each process's in its order; the store equals the server; and each
// process heard every write the others made while it ran.
func TestProcesses(t *testing.T) {
	if os.Getenv("OUTPOST_PROC_URL") != "" {
		t.Skip("child")
	}
	ctx := context.Background()
	ts := startServer(t)
	alice := open(t, ts.URL, "alice")
	if _, err := outpost.ConnOf(alice).CreateChannel(ctx, protocol.CreateChannelRequest{Type: "team", ID: "procs", Members: []string{"bob"}}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "bob.db")
	openAt(t, ts.URL, "bob", dbPath).Close(ctx) // the store, with the channel

	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 1))
	t.Logf("seed %d", seed)
	type proc struct {
		name string
		cmd  *exec.Cmd
		out  *lockedBuffer
		done chan error
	}
	start := func(name string) *proc {
		p := &proc{name: name, out: &lockedBuffer{}, done: make(chan error, 1)}
		p.cmd = exec.Command(os.Args[0], "-test.run=^TestProcChild$", "-test.count=1", "-test.v")
		p.cmd.Env = append(os.Environ(), "OUTPOST_PROC_URL="+ts.URL, "OUTPOST_PROC_DB="+dbPath,
			"OUTPOST_PROC_NAME="+name, "OUTPOST_PROC_DIR="+dir)
		p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { p.done <- p.cmd.Wait() }()
		return p
	}
	procs := map[string]*proc{}
	for i := range procCount {
		name := "p" + strconv.Itoa(i)
		procs[name] = start(name)
	}
	t.Cleanup(func() {
		for _, p := range procs {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})

	// Kill the syncer a few times, at random moments, and start it again.
	kills := 0
	for range 4 {
		time.Sleep(time.Duration(200+rng.IntN(500)) * time.Millisecond) // a random moment to kill at
		for name, p := range procs {
			marker := filepath.Join(dir, "syncer-"+strconv.Itoa(p.cmd.Process.Pid))
			if _, err := os.Stat(marker); err != nil {
				continue
			}
			select {
			case <-p.done: // finished already
				p.done <- nil
				continue
			default:
			}
			_ = p.cmd.Process.Kill()
			<-p.done
			kills++
			procs[name] = start(name)
			break
		}
	}
	t.Logf("%d kills", kills)
	wait := time.After(procBound + 5*time.Second)
	for name, p := range procs {
		select {
		case err := <-p.done:
			p.done <- err
			if err != nil {
				t.Fatalf("seed %d: %s failed: %v\n%s", seed, name, err, p.out)
			}
			heard := -1
			for _, line := range strings.Split(p.out.String(), "\n") {
				fmt.Sscanf(line, "heard %d", &heard)
			}
			if heard < 0 {
				t.Fatalf("seed %d: %s says:\n%s", seed, name, p.out)
			}
			t.Logf("%s heard the %d writes the others made while it ran", name, heard)
		case <-wait:
			t.Fatalf("seed %d: %s did not finish:\n%s", seed, name, p.out)
		}
	}

	// The server holds each write once, each process's in order.
	resp, err := outpost.ConnOf(alice).QueryMessages(ctx, "team:procs", client.MessagesQuery{Limit: 200})
	if err != nil {
		t.Fatal(err)
	}
	ms := resp.Messages
	if len(ms) == 200 {
		more, err := outpost.ConnOf(alice).QueryMessages(ctx, "team:procs", client.MessagesQuery{Limit: 200, Before: ms[0].ID})
		if err != nil {
			t.Fatal(err)
		}
		ms = append(more.Messages, ms...)
	}
	slices.SortFunc(ms, func(a, b protocol.Message) int { return int(a.Seq - b.Seq) })
	count := map[string]int{}
	last := map[string]string{}
	for _, m := range ms {
		count[m.ID]++
		name := strings.Split(m.ID, "-")[0]
		if m.ID <= last[name] {
			t.Errorf("seed %d: %s after %s on the server", seed, m.ID, last[name])
		}
		last[name] = m.ID
	}
	if len(count) != procCount*procWrites {
		t.Errorf("seed %d: the server holds %d writes, want %d", seed, len(count), procCount*procWrites)
	}
	for id, n := range count {
		if n != 1 {
			t.Errorf("seed %d: %s on the server %d times", seed, id, n)
		}
	}
	// The store (every process's) equals the server.
	bob := openAt(t, ts.URL, "bob", dbPath)
	if got, want := local(t, bob, "team:procs"), onServerAll(ms); !slices.Equal(got, want) {
		t.Errorf("seed %d: the store differs from the server: %d rows, %d on the server", seed, len(got), len(want))
	}
}

// onServerAll renders messages as local does.
func onServerAll(ms []protocol.Message) []string {
	out := []string{}
	for _, m := range ms {
		out = append(out, m.ID+":"+m.Text+":sent")
	}
	slices.Sort(out)
	return out
}

// lockedBuffer is a strings.Builder safe for a writer and a reader at
// once.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
