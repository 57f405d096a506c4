package server_test

import (
	"testing"

	"github.com/outpostsync/outpost/protocol"
)

// TestHidden_InTheCallersAnswers: a channel's hidden flag is its member's
// own. GET /channels/{cid} and POST /channels/query (both forms) answer it
// to the member who hid the channel, and to no one else.
func TestHidden_InTheCallersAnswers(t *testing.T) {
	ts := startServer(t, nil)
	cid := createChannel(t, ts, "alice", "general", "bob").Channel.CID
	other := createChannel(t, ts, "alice", "other", "bob").Channel.CID
	var hid protocol.ChannelResponse
	ts.must(t, "alice", "POST", "/channels/"+cid+"/hide", nil, &hid)
	if !hid.Channel.Hidden {
		t.Fatalf("hide answered hidden=false")
	}

	hiddenIn := func(user string) map[string][3]bool {
		got := map[string][3]bool{}
		for _, c := range []string{cid, other} {
			var one protocol.ChannelResponse
			ts.must(t, user, "GET", "/channels/"+c, nil, &one)
			v := got[c]
			v[0] = one.Channel.Hidden
			got[c] = v
		}
		var all, named protocol.QueryChannelsResponse
		ts.must(t, user, "POST", protocol.PathQueryChannels, protocol.QueryChannelsRequest{}, &all)
		ts.must(t, user, "POST", protocol.PathQueryChannels, protocol.QueryChannelsRequest{CIDs: []string{cid, other}}, &named)
		for _, st := range all.Channels {
			v := got[st.Channel.CID]
			v[1] = st.Channel.Hidden
			got[st.Channel.CID] = v
		}
		for _, st := range named.Channels {
			v := got[st.Channel.CID]
			v[2] = st.Channel.Hidden
			got[st.Channel.CID] = v
		}
		return got
	}
	if got := hiddenIn("alice"); got[cid] != [3]bool{true, true, true} || got[other] != [3]bool{} {
		t.Errorf("alice's answers (get, query, query by cid): %v, want %s hidden in all and %s in none", got, cid, other)
	}
	if got := hiddenIn("bob"); got[cid] != [3]bool{} || got[other] != [3]bool{} {
		t.Errorf("bob's answers: %v, want nothing hidden", got)
	}
	ts.must(t, "alice", "POST", "/channels/"+cid+"/show", nil, nil)
	if got := hiddenIn("alice"); got[cid] != [3]bool{} {
		t.Errorf("alice's answers after show: %v, want nothing hidden", got)
	}
}
