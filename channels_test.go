package outpost_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/outpostsync/outpost"
	"github.com/outpostsync/outpost/client"
	"github.com/outpostsync/outpost/offlinedb"
	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/token"
)

// listed returns the cids c's store lists, with hidden ones if all.
func listed(tb testing.TB, c *outpost.Client, all bool) []string {
	tb.Helper()
	chs, err := outpost.StoreOf(c).Channels(context.Background(), offlinedb.ChannelsQuery{IncludeHidden: all})
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for _, ch := range chs {
		out = append(out, ch.CID)
	}
	slices.Sort(out)
	return out
}

func has(cids []string, cid string) bool { return slices.Contains(cids, cid) }

func apiCode(err error) int {
	if e, ok := protocol.AsAPIError(err); ok {
		return e.Code
	}
	return 0
}

// TestChannels_CreateTalk: Alice creates a channel with Bob; it is in her
// store the moment CreateChannel returns; Bob's device learns of it and
// the two exchange a message each.
func TestChannels_CreateTalk(t *testing.T) {
	ctx := context.Background()
	ts := startServer(t)
	alice, bob := open(t, ts.URL, "alice"), open(t, ts.URL, "bob")

	cid, err := alice.CreateChannel(ctx, outpost.NewChannel{Name: "Alice and Bob", Members: []string{"bob"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(cid, outpost.DefaultChannelType+":") {
		t.Fatalf("cid = %q, want the default type", cid)
	}
	chs, _, err := alice.Channels(ctx, offlinedb.ChannelsQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(chs) != 1 || chs[0].CID != cid || chs[0].Name != "Alice and Bob" {
		t.Fatalf("alice's channels right after CreateChannel = %+v, want %s", chs, cid)
	}
	members, err := outpost.StoreOf(alice).Members(ctx, cid)
	if err != nil || len(members) != 2 {
		t.Fatalf("alice's members of %s = %+v, %v, want alice and bob", cid, members, err)
	}

	// Creating it again is harmless and returns the same cid.
	typ, id, _ := protocol.SplitCID(cid)
	again, err := alice.CreateChannel(ctx, outpost.NewChannel{Type: typ, ID: id})
	if err != nil || again != cid {
		t.Fatalf("create again = %q, %v, want %q", again, err, cid)
	}

	waitFor(t, "bob to hold the channel", func() bool { return has(listed(t, bob, false), cid) })
	if _, err := alice.SendMessage(ctx, cid, outpost.NewMessage{Text: "hello bob"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "bob to read alice", func() bool { return texts(t, bob, cid)["hello bob"] })
	if _, err := bob.SendMessage(ctx, cid, outpost.NewMessage{Text: "hi alice"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "alice to read bob", func() bool { return texts(t, alice, cid)["hi alice"] })

	if err := alice.UpdateChannel(ctx, cid, outpost.ChannelUpdate{Name: "renamed"}); err != nil {
		t.Fatal(err)
	}
	ch, err := outpost.StoreOf(alice).Channel(ctx, cid)
	if err != nil || ch.Name != "renamed" {
		t.Fatalf("after UpdateChannel: %+v, %v, want name renamed", ch, err)
	}
	waitFor(t, "bob to see the new name", func() bool {
		ch, err := outpost.StoreOf(bob).Channel(ctx, cid)
		return err == nil && ch.Name == "renamed"
	})
}

func texts(tb testing.TB, c *outpost.Client, cid string) map[string]bool {
	tb.Helper()
	ms, err := c.Messages(context.Background(), cid, offlinedb.MessagesQuery{Limit: 100})
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string]bool{}
	for _, m := range ms {
		out[m.Text] = true
	}
	return out
}

// TestChannels_ListedWithoutLiveConnection: with the WebSocket down but
// the server reachable over REST, CreateChannel still puts the channel
// in the store before it returns: from the server's answer, not from a
// sync (which cannot run).
func TestChannels_ListedWithoutLiveConnection(t *testing.T) {
	ctx := context.Background()
	ts := startServer(t)
	alice := open(t, ts.URL, "alice")
	outpost.ConnOf(alice).Disconnect()
	waitFor(t, "offline", func() bool { return !alice.Status().Online })
	cid, err := alice.CreateChannel(ctx, outpost.NewChannel{ID: "rest-only", Name: "REST only", Members: []string{"bob"}})
	if err != nil {
		t.Fatal(err)
	}
	ch, err := outpost.StoreOf(alice).Channel(ctx, cid)
	if err != nil || ch.Name != "REST only" {
		t.Fatalf("alice's store right after CreateChannel: %+v, %v", ch, err)
	}
	if err := alice.HideChannel(ctx, cid); err != nil {
		t.Fatal(err)
	}
	if got := listed(t, alice, false); has(got, cid) {
		t.Fatalf("list right after HideChannel, no live connection: %v", got)
	}
	if err := alice.ShowChannel(ctx, cid); err != nil {
		t.Fatal(err)
	}
	if got := listed(t, alice, false); !has(got, cid) {
		t.Fatalf("list right after ShowChannel, no live connection: %v", got)
	}
}

// TestChannels_Members: add and remove members, leave, and the role and
// membership rules: a member may not add or remove, a non-member may do
// nothing, the owner may not leave.
func TestChannels_Members(t *testing.T) {
	ctx := context.Background()
	ts := startServer(t)
	alice, bob, carol := open(t, ts.URL, "alice"), open(t, ts.URL, "bob"), open(t, ts.URL, "carol")

	cid, err := alice.CreateChannel(ctx, outpost.NewChannel{Type: "team", ID: "members"})
	if err != nil {
		t.Fatal(err)
	}
	if err := carol.AddMembers(ctx, cid, "carol"); apiCode(err) != protocol.CodeNotAllowed {
		t.Fatalf("non-member adds = %v, want code %d", err, protocol.CodeNotAllowed)
	}
	if err := carol.HideChannel(ctx, cid); apiCode(err) != protocol.CodeNotAllowed {
		t.Fatalf("non-member hides = %v, want code %d", err, protocol.CodeNotAllowed)
	}
	if err := carol.HideChannel(ctx, "team:nope"); apiCode(err) != protocol.CodeNotFound {
		t.Fatalf("hide of a channel that does not exist = %v, want code %d", err, protocol.CodeNotFound)
	}

	if err := alice.AddMembers(ctx, cid, "bob", "carol"); err != nil {
		t.Fatal(err)
	}
	if ms, _ := outpost.StoreOf(alice).Members(ctx, cid); len(ms) != 3 {
		t.Fatalf("alice's store right after AddMembers: %d members, want 3", len(ms))
	}
	if err := bob.RemoveMembers(ctx, cid, "carol"); apiCode(err) != protocol.CodeNotAllowed {
		t.Fatalf("a member removes another = %v, want code %d", err, protocol.CodeNotAllowed)
	}
	if err := alice.RemoveMembers(ctx, cid, "carol"); err != nil {
		t.Fatal(err)
	}
	if ms, _ := outpost.StoreOf(alice).Members(ctx, cid); len(ms) != 2 {
		t.Fatalf("alice's store right after RemoveMembers: %d members, want 2", len(ms))
	}
	waitFor(t, "carol's device to drop the channel", func() bool { return !has(listed(t, carol, true), cid) })

	if err := alice.LeaveChannel(ctx, cid); apiCode(err) != protocol.CodeNotAllowed {
		t.Fatalf("the owner leaves = %v, want code %d", err, protocol.CodeNotAllowed)
	}
	waitFor(t, "bob to hold the channel", func() bool { return has(listed(t, bob, false), cid) })
	if err := bob.LeaveChannel(ctx, cid); err != nil {
		t.Fatal(err)
	}
	if has(listed(t, bob, true), cid) {
		t.Fatalf("bob's store still lists %s right after LeaveChannel", cid)
	}
	if ms, err := outpost.ConnOf(alice).GetChannel(ctx, cid); err != nil || len(ms.Members) != 1 {
		t.Fatalf("server members after bob left: %+v, %v", ms, err)
	}
}

// TestChannels_Offline: with the server unreachable, every admin method
// fails at once with ErrNeedsNetwork wrapping the transport error, and
// the store is unchanged.
func TestChannels_Offline(t *testing.T) {
	ctx := context.Background()
	dead := httptest.NewServer(http.NotFoundHandler())
	url := dead.URL
	dead.Close()
	alice := openWith(t, url, "alice", func(cfg *outpost.Config) { cfg.ConnectTimeout = 0 })

	calls := map[string]func() error{
		"create": func() error {
			_, err := alice.CreateChannel(ctx, outpost.NewChannel{ID: "offline", Members: []string{"bob"}})
			return err
		},
		"add":    func() error { return alice.AddMembers(ctx, "messaging:offline", "bob") },
		"remove": func() error { return alice.RemoveMembers(ctx, "messaging:offline", "bob") },
		"leave":  func() error { return alice.LeaveChannel(ctx, "messaging:offline") },
		"hide":   func() error { return alice.HideChannel(ctx, "messaging:offline") },
		"show":   func() error { return alice.ShowChannel(ctx, "messaging:offline") },
		"update": func() error {
			return alice.UpdateChannel(ctx, "messaging:offline", outpost.ChannelUpdate{Name: "x"})
		},
	}
	for name, call := range calls {
		err := call()
		if !errors.Is(err, outpost.ErrNeedsNetwork) {
			t.Errorf("%s offline = %v, want ErrNeedsNetwork", name, err)
		}
		var te *client.TransportError
		if !errors.As(err, &te) {
			t.Errorf("%s offline = %v, want it to wrap a *client.TransportError", name, err)
		}
	}
	if got := listed(t, alice, true); len(got) != 0 {
		t.Fatalf("channels after offline calls = %v, want none", got)
	}
	if p, _ := alice.PendingTasks(ctx); len(p) != 0 {
		t.Fatalf("pending tasks after offline calls = %d, want none (nothing is queued)", len(p))
	}
}

// TestChannels_HideShow: Alice hides a channel on her phone: her laptop,
// online, hears it live; her tablet, closed meanwhile, learns it on its
// next sync; a new device learns it from its first sync. Bob's list is
// not touched. Show brings it back everywhere.
func TestChannels_HideShow(t *testing.T) {
	ctx := context.Background()
	ts := startServer(t)
	dir := t.TempDir()
	phone := openAt(t, ts.URL, "alice", filepath.Join(dir, "phone.db"))
	laptop := openAt(t, ts.URL, "alice", filepath.Join(dir, "laptop.db"))
	tabletPath := filepath.Join(dir, "tablet.db")
	tablet := openAt(t, ts.URL, "alice", tabletPath)
	bob := open(t, ts.URL, "bob")

	cid, err := phone.CreateChannel(ctx, outpost.NewChannel{ID: "hideme", Members: []string{"bob"}})
	if err != nil {
		t.Fatal(err)
	}
	other, err := phone.CreateChannel(ctx, outpost.NewChannel{ID: "stays"})
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]*outpost.Client{"laptop": laptop, "tablet": tablet, "bob": bob} {
		waitFor(t, name+" to hold the channel", func() bool { return has(listed(t, c, false), cid) })
	}
	tablet.Close(ctx)

	if err := phone.HideChannel(ctx, cid); err != nil {
		t.Fatal(err)
	}
	if got := listed(t, phone, false); has(got, cid) || !has(got, other) {
		t.Fatalf("phone's list right after HideChannel = %v, want %s without %s", got, other, cid)
	}
	if !has(listed(t, phone, true), cid) {
		t.Fatalf("IncludeHidden does not list the hidden %s", cid)
	}
	if err := phone.HideChannel(ctx, cid); err != nil {
		t.Fatalf("hide again: %v", err)
	}
	waitFor(t, "the laptop to hide it live", func() bool { return !has(listed(t, laptop, false), cid) })

	tablet = openAt(t, ts.URL, "alice", tabletPath)
	waitFor(t, "the tablet to hide it on sync", func() bool { return !has(listed(t, tablet, false), cid) })

	// A new device learns it from its first sync (a feed reset), and
	// still holds the channel.
	fresh := openAt(t, ts.URL, "alice", filepath.Join(dir, "fresh.db"))
	waitFor(t, "the new device to hold both channels", func() bool {
		all := listed(t, fresh, true)
		return has(all, cid) && has(all, other)
	})
	if got := listed(t, fresh, false); has(got, cid) || !has(got, other) {
		t.Fatalf("new device's list = %v, want %s without the hidden %s", got, other, cid)
	}

	// Bob's list is his own.
	if err := bob.SyncNow(ctx); err != nil {
		t.Fatal(err)
	}
	if !has(listed(t, bob, false), cid) {
		t.Fatalf("alice's hide reached bob's list")
	}

	// A message to the hidden channel keeps it hidden, and synced.
	if _, err := bob.SendMessage(ctx, cid, outpost.NewMessage{Text: "still there?"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the laptop to get bob's message", func() bool { return texts(t, laptop, cid)["still there?"] })
	if has(listed(t, laptop, false), cid) {
		t.Fatalf("a new message showed the hidden channel")
	}

	if err := laptop.ShowChannel(ctx, cid); err != nil {
		t.Fatal(err)
	}
	if !has(listed(t, laptop, false), cid) {
		t.Fatalf("laptop's list right after ShowChannel lacks %s", cid)
	}
	for name, c := range map[string]*outpost.Client{"phone": phone, "tablet": tablet, "new device": fresh} {
		waitFor(t, name+" to show it again", func() bool { return has(listed(t, c, false), cid) })
	}
}

// TestChannels_BadRequests: the visibility endpoints answer bad requests
// with 4xx and a JSON error, never 5xx.
func TestChannels_BadRequests(t *testing.T) {
	ts := startServer(t)
	tok, err := token.Issue(secret, "alice", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, method, path, tok, body string
		want                          int
	}{
		{"no token", "POST", "/channels/messaging:x/hide", "", "", 401},
		{"bad cid", "POST", "/channels/nocolon/hide", tok, "", 400},
		{"bad cid characters", "POST", "/channels/messaging:a%20b/show", tok, "", 400},
		{"no such channel", "POST", "/channels/messaging:none/show", tok, "", 404},
		{"wrong method", "GET", "/channels/messaging:x/hide", tok, "", 405},
		{"long idempotency key", "POST", "/channels/messaging:x/hide", tok, "", 400},
		{"create: not JSON", "POST", "/channels", tok, "{", 400},
		{"create: bad member", "POST", "/channels", tok, `{"type":"messaging","id":"b","members":["a b"]}`, 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, ts.URL+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if tc.tok != "" {
				req.Header.Set("Authorization", "Bearer "+tc.tok)
			}
			if tc.body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			if tc.name == "long idempotency key" {
				req.Header.Set(protocol.HeaderIdempotencyKey, strings.Repeat("k", 201))
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
}
