package server_test

import (
	"fmt"
	"testing"

	"github.com/outpostsync/outpost/protocol"
)

// TestSecurity_Matrix: for every user x channel x endpoint, a member may
// and a non-member may not; over WebSocket and sync nobody sees a channel
// they are not in.
func TestSecurity_Matrix(t *testing.T) {
	ts := startServer(t, nil)
	channels := map[string][]string{ // cid -> members
		"team:ab": {"alice", "bob"},
		"team:c":  {"carol"},
		"team:bc": {"bob", "carol"},
	}
	users := []string{"alice", "bob", "carol", "mallory"}
	for cid, members := range channels {
		_, id, _ := protocol.SplitCID(cid)
		createChannel(t, ts, members[0], id, members[1:]...)
		sendMsg(t, ts, members[0], cid, "seed-"+id, "seed")
	}
	ws := map[string]*wsClient{}
	for _, u := range users {
		ws[u] = ts.dial(t, u)
	}
	isMember := func(u, cid string) bool {
		for _, m := range channels[cid] {
			if m == u {
				return true
			}
		}
		return false
	}

	for cid := range channels {
		_, id, _ := protocol.SplitCID(cid)
		seed := "seed-" + id
		for _, u := range users {
			member := isMember(u, cid)
			msgID := fmt.Sprintf("%s-%s", u, id)
			calls := []struct {
				name         string
				method, path string
				body         any
				denyCode     int
			}{
				{"get channel", "GET", "/channels/" + cid, nil, protocol.CodeNotAllowed},
				{"page messages", "GET", "/channels/" + cid + "/messages", nil, protocol.CodeNotAllowed},
				{"send", "POST", "/channels/" + cid + "/messages", protocol.SendMessageRequest{Message: protocol.MessageInput{ID: msgID, Text: "hi"}}, protocol.CodeNotAllowed},
				{"mark read", "POST", "/channels/" + cid + "/read", protocol.MarkReadRequest{}, protocol.CodeNotAllowed},
				{"typing", "POST", "/channels/" + cid + "/events", protocol.SendEventRequest{Type: protocol.EventTypingStart}, protocol.CodeNotAllowed},
				{"add member", "POST", "/channels/" + cid + "/members", protocol.AddMembersRequest{UserIDs: []string{u}}, protocol.CodeNotAllowed},
				{"react", "POST", "/messages/" + seed + "/reactions", protocol.SendReactionRequest{Type: "like"}, protocol.CodeNotFound},
				{"edit other's", "PUT", "/messages/" + seed, protocol.UpdateMessageRequest{Text: "x"}, protocol.CodeNotFound},
				{"delete other's", "DELETE", "/messages/" + seed, nil, protocol.CodeNotFound},
			}
			for _, c := range calls {
				ae := ts.call(t, u, c.method, c.path, c.body, nil)
				switch {
				case member && c.name == "edit other's" || member && c.name == "delete other's":
					if u != channels[cid][0] && (ae == nil || ae.Code != protocol.CodeNotAllowed) {
						t.Errorf("%s %s on %s: %v, want 403 (not the author)", u, c.name, cid, ae)
					}
				case member && c.name == "add member" && u != channels[cid][0]:
					// Only the owner and moderators add members
					// (TestRoles_Matrix has the rest).
					if ae == nil || ae.Code != protocol.CodeNotAllowed {
						t.Errorf("%s %s on %s: %v, want 403 (a plain member)", u, c.name, cid, ae)
					}
				case member:
					if ae != nil {
						t.Errorf("member %s %s on %s: %v", u, c.name, cid, ae)
					}
				default:
					if ae == nil || ae.Code != c.denyCode {
						t.Errorf("non-member %s %s on %s: %v, want code %d", u, c.name, cid, ae, c.denyCode)
					}
				}
			}
		}
	}

	all := []string{"team:ab", "team:c", "team:bc"}
	for _, u := range users {
		evs, inaccessible := syncAll(t, ts, u, all, 0)
		for _, ev := range evs {
			if !isMember(u, ev.CID) {
				t.Errorf("%s synced an event of %s", u, ev.CID)
			}
		}
		for _, cid := range inaccessible {
			if isMember(u, cid) {
				t.Errorf("%s is told %s is inaccessible", u, cid)
			}
		}
		var q protocol.QueryChannelsResponse
		ts.must(t, u, "POST", protocol.PathQueryChannels, protocol.QueryChannelsRequest{}, &q)
		for _, ch := range q.Channels {
			if !isMember(u, ch.Channel.CID) {
				t.Errorf("%s's channel query returned %s", u, ch.Channel.CID)
			}
		}
	}
	// Everything sent so far has reached the sockets; nothing foreign did.
	sendMsg(t, ts, "carol", "team:c", "last", "flush")
	for _, u := range users {
		for {
			ev := ws[u].nextAny(t)
			if ev == nil {
				break
			}
			if ev.CID != "" && !isMember(u, ev.CID) {
				t.Errorf("%s's WebSocket got %s of %s", u, ev.Type, ev.CID)
			}
		}
	}
}
