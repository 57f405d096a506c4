package outpost_test

import (
	"context"
	"testing"

	"github.com/outpostsync/outpost"
	"github.com/outpostsync/outpost/offlinedb"
	"github.com/outpostsync/outpost/protocol"
)

// TestRoles_ThroughTheSDK: a role change reaches the other members' stores;
// a write a member's role does not allow is refused for good: it lands on
// the failed list with code 17 and its reason, and the outbox goes on.
func TestRoles_ThroughTheSDK(t *testing.T) {
	ctx := context.Background()
	ts := startServer(t)
	olga := open(t, ts.URL, "olga")
	mike := open(t, ts.URL, "mike")
	ch, err := outpost.ConnOf(olga).CreateChannel(ctx, protocol.CreateChannelRequest{Type: "team", ID: "roles", Members: []string{"mike", "mary", "max"}})
	if err != nil {
		t.Fatal(err)
	}
	cid := ch.Channel.CID
	first, err := sentID(olga.SendMessage(ctx, cid, outpost.NewMessage{Text: "from the owner"}))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "mike to have olga's message", func() bool { return len(local(t, mike, cid)) == 1 })

	// A plain member's delete of the owner's message: refused, failed,
	// and the send queued after it still goes.
	if _, err := mike.DeleteMessage(ctx, cid, first, outpost.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	after, err := sentID(mike.SendMessage(ctx, cid, outpost.NewMessage{Text: "still here"}))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "mike's refused delete on the failed list", func() bool {
		failed, err := mike.FailedTasks(ctx)
		return err == nil && len(failed) == 1
	})
	failed, _ := mike.FailedTasks(ctx)
	if f := failed[0]; f.ErrorCode != protocol.CodeNotAllowed || f.MessageID != first || f.Error == "" {
		t.Errorf("failed task = %+v, want code %d on %s with a reason", f, protocol.CodeNotAllowed, first)
	}
	waitFor(t, "mike's later send to reach olga", func() bool {
		for _, m := range local(t, olga, cid) {
			if m == after+":still here:sent" {
				return true
			}
		}
		return false
	})

	// Olga makes mike a moderator while his app is closed; he hears of
	// it by sync when it opens again, and live while it is open.
	roleIn := func(c *outpost.Client, user string) string {
		ms, err := outpost.StoreOf(c).Members(ctx, cid)
		if err != nil {
			return ""
		}
		for _, m := range ms {
			if m.UserID == user {
				return m.Role
			}
		}
		return ""
	}
	mikeDB := outpost.StoreOf(mike).Path()
	mike.Close(context.Background())
	if _, err := outpost.ConnOf(olga).SetRole(ctx, cid, "mike", protocol.RoleModerator); err != nil {
		t.Fatal(err)
	}
	mike = openAt(t, ts.URL, "mike", mikeDB)
	waitFor(t, "mike's store to sync his new role", func() bool { return roleIn(mike, "mike") == protocol.RoleModerator })
	if _, err := outpost.ConnOf(olga).SetRole(ctx, cid, "mary", protocol.RoleModerator); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "mike's store to hear of mary's role live", func() bool { return roleIn(mike, "mary") == protocol.RoleModerator })
	// A moderator may remove a member, not the owner.
	if _, err := outpost.ConnOf(mike).RemoveMember(ctx, cid, "max"); err != nil {
		t.Errorf("moderator removes a member: %v", err)
	}
	_, err = outpost.ConnOf(mike).RemoveMember(ctx, cid, "olga")
	if ae, ok := protocol.AsAPIError(err); !ok || ae.Code != protocol.CodeNotAllowed || ae.Temporary() {
		t.Errorf("moderator removes the owner: %v, want a permanent 403", err)
	}

	// The owner deletes the channel: it leaves the members' stores.
	if _, err := outpost.ConnOf(olga).DeleteChannel(ctx, cid); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the deleted channel to leave mike's store", func() bool {
		chs, _, err := mike.Channels(ctx, offlinedb.ChannelsQuery{})
		if err != nil {
			return false
		}
		for _, ch := range chs {
			if ch.CID == cid {
				return false
			}
		}
		return true
	})
}
