package server_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/outpostsync/outpost/protocol"
)

// roleFixture is a fresh channel with an owner, two moderators, two
// members and a message from each but mary.
type roleFixture struct {
	cid  string
	msgs map[string]string // author -> message id
}

var roleUsers = map[string]string{"owner": "olga", "mod": "mona", "mod2": "max", "mem": "mike", "out": "oscar"}

func newRoleFixture(t *testing.T, ts *testServer, id string) roleFixture {
	t.Helper()
	createChannel(t, ts, "olga", id, "mona", "max", "mike", "mary")
	cid := "team:" + id
	for _, u := range []string{"mona", "max"} {
		ts.must(t, "olga", "PUT", "/channels/"+cid+"/members/"+u+"/role", protocol.SetRoleRequest{Role: protocol.RoleModerator}, nil)
	}
	f := roleFixture{cid: cid, msgs: map[string]string{}}
	for role, u := range roleUsers {
		if role == "out" {
			continue
		}
		f.msgs[role] = id + "-" + role
		sendMsg(t, ts, u, cid, f.msgs[role], "from "+u)
	}
	return f
}

type roleCall struct {
	method, path string
	body         any
}

// roleRow is one endpoint and target of TestRoles_Matrix.
type roleRow struct {
	name string
	// setup runs before the call, on the fixture.
	setup func(f roleFixture, actor string)
	req   func(f roleFixture, actor string) roleCall
	want  string // as owner, mod, mem, out: "ok" or the status
}

// TestRoles_Matrix: every role (and a non-member) x every endpoint x every
// target, against a table written out by hand, so that a change to
// server/roles.go that is not meant shows here.
func TestRoles_Matrix(t *testing.T) {
	ts := startServer(t, nil)
	actors := []string{"owner", "mod", "mem", "out"}
	// target resolves "owner", "mod", "mem", "self" to a user id.
	target := func(actor, tgt string) string {
		if tgt == "self" {
			return roleUsers[actor]
		}
		return roleUsers[tgt]
	}
	rows := []roleRow{
		{"get channel", nil, func(f roleFixture, a string) roleCall { return roleCall{"GET", "/channels/" + f.cid, nil} }, "ok ok ok 403"},
		{"page messages", nil, func(f roleFixture, a string) roleCall {
			return roleCall{"GET", "/channels/" + f.cid + "/messages", nil}
		}, "ok ok ok 403"},
		{"send", nil, func(f roleFixture, a string) roleCall {
			return roleCall{"POST", "/channels/" + f.cid + "/messages", protocol.SendMessageRequest{Message: protocol.MessageInput{ID: f.cid[5:] + "-new", Text: "x"}}}
		}, "ok ok ok 403"},
		{"mark read", nil, func(f roleFixture, a string) roleCall {
			return roleCall{"POST", "/channels/" + f.cid + "/read", protocol.MarkReadRequest{}}
		}, "ok ok ok 403"},
		{"mark unread", nil, func(f roleFixture, a string) roleCall {
			return roleCall{"POST", "/channels/" + f.cid + "/unread", protocol.MarkUnreadRequest{MessageID: f.msgs["owner"]}}
		}, "ok ok ok 403"},
		{"typing", nil, func(f roleFixture, a string) roleCall {
			return roleCall{"POST", "/channels/" + f.cid + "/events", protocol.SendEventRequest{Type: protocol.EventTypingStart}}
		}, "ok ok ok 403"},
		{"react to owner's", nil, func(f roleFixture, a string) roleCall {
			return roleCall{"POST", "/messages/" + f.msgs["owner"] + "/reactions", protocol.SendReactionRequest{Type: "like"}}
		}, "ok ok ok 404"},

		{"unreact own", func(f roleFixture, a string) {
			if a != "out" {
				ts.must(t, roleUsers[a], "POST", "/messages/"+f.msgs["owner"]+"/reactions", protocol.SendReactionRequest{Type: "like"}, nil)
			}
		}, func(f roleFixture, a string) roleCall {
			return roleCall{"DELETE", "/messages/" + f.msgs["owner"] + "/reactions/like", nil}
		}, "ok ok ok 404"},
		{"add an existing member", nil, func(f roleFixture, a string) roleCall {
			return roleCall{"POST", "/channels/" + f.cid + "/members", protocol.AddMembersRequest{UserIDs: []string{"mary"}}}
		}, "ok ok 403 403"},
		{"remove a non-member", nil, func(f roleFixture, a string) roleCall {
			return roleCall{"DELETE", "/channels/" + f.cid + "/members/nobody", nil}
		}, "404 404 404 403"},
		{"add member", nil, func(f roleFixture, a string) roleCall {
			return roleCall{"POST", "/channels/" + f.cid + "/members", protocol.AddMembersRequest{UserIDs: []string{"newcomer"}}}
		}, "ok ok 403 403"},
		{"remove owner", nil, func(f roleFixture, a string) roleCall {
			return roleCall{"DELETE", "/channels/" + f.cid + "/members/" + target(a, "owner"), nil}
		}, "403 403 403 403"},
		{"remove moderator", nil, func(f roleFixture, a string) roleCall {
			return roleCall{"DELETE", "/channels/" + f.cid + "/members/" + target(a, "mod2"), nil}
		}, "ok 403 403 403"},
		{"remove member", nil, func(f roleFixture, a string) roleCall {
			return roleCall{"DELETE", "/channels/" + f.cid + "/members/mary", nil}
		}, "ok ok 403 403"},
		{"remove self (leave)", nil, func(f roleFixture, a string) roleCall {
			return roleCall{"DELETE", "/channels/" + f.cid + "/members/" + target(a, "self"), nil}
		}, "403 ok ok 403"},

		{"make owner moderator", nil, func(f roleFixture, a string) roleCall {
			return roleCall{"PUT", "/channels/" + f.cid + "/members/" + target(a, "owner") + "/role", protocol.SetRoleRequest{Role: protocol.RoleModerator}}
		}, "403 403 403 403"},
		{"make owner member", nil, func(f roleFixture, a string) roleCall {
			return roleCall{"PUT", "/channels/" + f.cid + "/members/" + target(a, "owner") + "/role", protocol.SetRoleRequest{Role: protocol.RoleMember}}
		}, "403 403 403 403"},
		{"make moderator member", nil, func(f roleFixture, a string) roleCall {
			return roleCall{"PUT", "/channels/" + f.cid + "/members/" + target(a, "mod2") + "/role", protocol.SetRoleRequest{Role: protocol.RoleMember}}
		}, "ok 403 403 403"},
		{"make member moderator", nil, func(f roleFixture, a string) roleCall {
			return roleCall{"PUT", "/channels/" + f.cid + "/members/" + target(a, "mem") + "/role", protocol.SetRoleRequest{Role: protocol.RoleModerator}}
		}, "ok 403 403 403"},
		{"make self moderator", nil, func(f roleFixture, a string) roleCall {
			return roleCall{"PUT", "/channels/" + f.cid + "/members/" + target(a, "self") + "/role", protocol.SetRoleRequest{Role: protocol.RoleModerator}}
		}, "403 403 403 403"},
		{"make self member", nil, func(f roleFixture, a string) roleCall {
			return roleCall{"PUT", "/channels/" + f.cid + "/members/" + target(a, "self") + "/role", protocol.SetRoleRequest{Role: protocol.RoleMember}}
		}, "403 403 403 403"},
		{"transfer to moderator", nil, func(f roleFixture, a string) roleCall {
			return roleCall{"PUT", "/channels/" + f.cid + "/members/" + target(a, "mod") + "/role", protocol.SetRoleRequest{Role: protocol.RoleOwner}}
		}, "ok 403 403 403"},
		{"transfer to member", nil, func(f roleFixture, a string) roleCall {
			return roleCall{"PUT", "/channels/" + f.cid + "/members/" + target(a, "mem") + "/role", protocol.SetRoleRequest{Role: protocol.RoleOwner}}
		}, "ok 403 403 403"},
		{"transfer to self", nil, func(f roleFixture, a string) roleCall {
			return roleCall{"PUT", "/channels/" + f.cid + "/members/" + target(a, "self") + "/role", protocol.SetRoleRequest{Role: protocol.RoleOwner}}
		}, "ok 403 403 403"},

		{"update channel", nil, func(f roleFixture, a string) roleCall {
			return roleCall{"PUT", "/channels/" + f.cid, protocol.UpdateChannelRequest{Name: "renamed"}}
		}, "ok ok 403 403"},
		{"truncate channel", nil, func(f roleFixture, a string) roleCall {
			return roleCall{"POST", "/channels/" + f.cid + "/truncate", nil}
		}, "ok 403 403 403"},
		{"delete channel", nil, func(f roleFixture, a string) roleCall { return roleCall{"DELETE", "/channels/" + f.cid, nil} }, "ok 403 403 403"},
	}
	edit := map[string]string{"owner": "ok 403 403 404", "mod": "403 ok 403 404", "mod2": "403 403 403 404", "mem": "403 403 ok 404"}
	del := map[string]string{"owner": "ok 403 403 404", "mod": "ok ok 403 404", "mod2": "ok 403 403 404", "mem": "ok ok ok 404"}
	for _, author := range []string{"owner", "mod", "mod2", "mem"} {
		author := author
		rows = append(rows,
			roleRow{"edit " + author + "'s message", nil, func(f roleFixture, a string) roleCall {
				return roleCall{"PUT", "/messages/" + f.msgs[author], protocol.UpdateMessageRequest{Text: "edited"}}
			}, edit[author]},
			roleRow{"delete " + author + "'s message", nil, func(f roleFixture, a string) roleCall {
				return roleCall{"DELETE", "/messages/" + f.msgs[author], nil}
			}, del[author]},
			roleRow{"hard delete " + author + "'s message", nil, func(f roleFixture, a string) roleCall {
				return roleCall{"DELETE", "/messages/" + f.msgs[author] + "?hard=true", nil}
			}, del[author]},
			roleRow{"undelete " + author + "'s message", func(f roleFixture, a string) {
				ts.must(t, roleUsers[author], "DELETE", "/messages/"+f.msgs[author], nil, nil)
			}, func(f roleFixture, a string) roleCall {
				return roleCall{"POST", "/messages/" + f.msgs[author] + "/undelete", nil}
			}, del[author]},
			roleRow{"batch: delete " + author + "'s message", nil, func(f roleFixture, a string) roleCall {
				return roleCall{"POST", "/batch", protocol.BatchRequest{Ops: []protocol.BatchOp{{Type: protocol.OpDeleteMessage, MessageID: f.msgs[author]}}}}
			}, del[author]},
			roleRow{"batch: edit " + author + "'s message", nil, func(f roleFixture, a string) roleCall {
				return roleCall{"POST", "/batch", protocol.BatchRequest{Ops: []protocol.BatchOp{{Type: protocol.OpUpdateMessage, MessageID: f.msgs[author],
					Body: []byte(`{"text":"edited"}`)}}}}
			}, edit[author]},
		)
	}

	n := 0
	for _, row := range rows {
		want := strings.Fields(row.want)
		if len(want) != len(actors) {
			t.Fatalf("%s: want %q has %d columns", row.name, row.want, len(want))
		}
		for i, actor := range actors {
			n++
			f := newRoleFixture(t, ts, fmt.Sprintf("r%d", n))
			if row.setup != nil {
				row.setup(f, actor)
			}
			c := row.req(f, actor)
			var got string
			if c.path == "/batch" {
				var resp protocol.BatchResponse
				if ae := ts.call(t, roleUsers[actor], c.method, c.path, c.body, &resp); ae != nil {
					got = fmt.Sprint(ae.StatusCode)
				} else if r := resp.Results[0]; r.Error != nil {
					got = fmt.Sprint(r.Status)
				} else {
					got = "ok"
				}
			} else if ae := ts.call(t, roleUsers[actor], c.method, c.path, c.body, nil); ae != nil {
				got = fmt.Sprint(ae.StatusCode)
				if ae.StatusCode == 403 && ae.Code != protocol.CodeNotAllowed || ae.StatusCode == 404 && ae.Code != protocol.CodeNotFound {
					t.Errorf("%s as %s: %v: wrong code", row.name, actor, ae)
				}
			} else {
				got = "ok"
			}
			if got != want[i] {
				t.Errorf("%s as %s: %s, want %s", row.name, actor, got, want[i])
			}
		}
	}
}

// TestRoles_OwnershipAndEvents: roles travel in member events (by sync
// too: TestRoles_ThroughTheSDK in the root package); a transfer leaves one owner; the old owner may then leave; a
// deleted channel is gone for everyone and its id stays taken.
func TestRoles_OwnershipAndEvents(t *testing.T) {
	ts := startServer(t, nil)
	resp := createChannel(t, ts, "olga", "own", "mike")
	roles := func(ms []protocol.Member) map[string]string {
		out := map[string]string{}
		for _, m := range ms {
			out[m.UserID] = m.Role
		}
		return out
	}
	if got := roles(resp.Members); got["olga"] != protocol.RoleOwner || got["mike"] != protocol.RoleMember {
		t.Fatalf("roles after create: %v", got)
	}
	ws := ts.dial(t, "mike")
	var mr protocol.MembersResponse
	ts.must(t, "olga", "PUT", "/channels/team:own/members/mike/role", protocol.SetRoleRequest{Role: protocol.RoleOwner}, &mr)
	if got := roles(mr.Members); got["olga"] != protocol.RoleModerator || got["mike"] != protocol.RoleOwner {
		t.Fatalf("roles after transfer: %v", got)
	}
	for _, want := range []struct{ user, role string }{{"mike", protocol.RoleOwner}, {"olga", protocol.RoleModerator}} {
		ev := ws.next(t)
		if ev.Type != protocol.EventMemberUpdated || ev.Member == nil || ev.Member.UserID != want.user || ev.Member.Role != want.role {
			t.Fatalf("live event %s %+v, want member.updated %s %s", ev.Type, ev.Member, want.user, want.role)
		}
	}
	// The new owner cannot be removed, even by the old one; the old one
	// can leave.
	if ae := ts.call(t, "olga", "DELETE", "/channels/team:own/members/mike", nil, nil); ae == nil || ae.Code != protocol.CodeNotAllowed {
		t.Errorf("old owner removes new owner: %v, want 403", ae)
	}
	ts.must(t, "olga", "DELETE", "/channels/team:own/members/olga", nil, nil)
	// A channel re-joined by its creator does not get a second owner.
	ts.must(t, "mike", "POST", "/channels/team:own/members", protocol.AddMembersRequest{UserIDs: []string{"olga"}}, &mr)
	if got := roles(mr.Members); got["olga"] != protocol.RoleMember || got["mike"] != protocol.RoleOwner {
		t.Errorf("roles after the creator rejoins: %v", got)
	}

	// Delete: everyone is told, nobody can use it, the id stays taken.
	ts.must(t, "mike", "DELETE", "/channels/team:own", nil, nil)
	for {
		ev := ws.next(t)
		if ev.Type == protocol.EventChannelDeleted {
			break
		}
	}
	for _, u := range []string{"mike", "olga"} {
		if ae := ts.call(t, u, "GET", "/channels/team:own", nil, nil); ae == nil || ae.Code != protocol.CodeNotFound {
			t.Errorf("%s gets a deleted channel: %v, want 404", u, ae)
		}
		var q protocol.QueryChannelsResponse
		ts.must(t, u, "POST", protocol.PathQueryChannels, protocol.QueryChannelsRequest{}, &q)
		if len(q.Channels) != 0 {
			t.Errorf("%s still lists %d channels", u, len(q.Channels))
		}
	}
	if ae := ts.call(t, "mike", "POST", protocol.PathChannels, protocol.CreateChannelRequest{Type: "team", ID: "own"}, nil); ae == nil || ae.Code != protocol.CodeConflict {
		t.Errorf("re-create a deleted channel: %v, want 409", ae)
	}
}

// TestRoles_Truncate: a truncate removes the messages sent before it, and
// the event says when.
func TestRoles_Truncate(t *testing.T) {
	ts := startServer(t, nil)
	createChannel(t, ts, "olga", "tr", "mike")
	for i := range 3 {
		sendMsg(t, ts, "mike", "team:tr", fmt.Sprintf("tr-%d", i), "x")
	}
	var cr protocol.ChannelResponse
	ts.must(t, "olga", "POST", "/channels/team:tr/truncate", nil, &cr)
	if cr.Channel.TruncatedAt == nil || len(cr.Messages) != 0 {
		t.Fatalf("after truncate: truncated_at %v, %d messages", cr.Channel.TruncatedAt, len(cr.Messages))
	}
	sendMsg(t, ts, "mike", "team:tr", "after", "y")
	var page protocol.MessagesResponse
	ts.must(t, "mike", "GET", "/channels/team:tr/messages", nil, &page)
	if len(page.Messages) != 1 || page.Messages[0].ID != "after" {
		t.Errorf("messages after truncate: %+v", page.Messages)
	}
}
