package outpost_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/outpostsync/outpost"
)

// The convergence schedules' record ops: on a few shared records per
// channel (r0, r1, r2 of "tasks"), any member creates, patches one of the
// fields a, b, c (overlapping and disjoint fields), replaces or deletes
// on the version it holds. Each write is applied or refused (the record
// exists, a precondition failed, it was deleted): checkRecords checks
// that every store ends equal to the server's records, and every refused
// record write is on its client's failed list with a reason.

type convRec = map[string]any

// recordOp runs one record write of a random member.
func (s *convState) recordOp(ctx context.Context) {
	cc := s.clients[s.rng.IntN(len(s.clients))]
	if len(cc.channels) == 0 {
		return
	}
	col, err := outpost.OpenCollection[convRec](ctx, cc.c, "tasks", outpost.CollectionOptions{})
	if err != nil {
		s.t.Errorf("step %d: %s open collection: %v", s.step, cc.user, err)
		return
	}
	cid := cc.channels[s.rng.IntN(len(cc.channels))]
	id := fmt.Sprint("r", s.rng.IntN(3))
	field := []string{"a", "b", "c"}[s.rng.IntN(3)]
	val := fmt.Sprintf("%s@%d", cc.user, s.step)
	var what string
	switch r := s.rng.IntN(10); {
	case r < 3:
		what = "create"
		_, err = col.Create(ctx, cid, id, convRec{field: val})
	case r < 7:
		what = "patch " + field
		_, err = col.Patch(ctx, cid, id, outpost.Patch{Set: map[string]any{field: val}, IfVersion: s.rng.IntN(4) == 0})
	case r < 9:
		what = "replace"
		_, err = col.Replace(ctx, cid, id, convRec{field: val})
	default:
		what = "delete"
		_, err = col.Delete(ctx, cid, id)
	}
	if err != nil {
		s.t.Errorf("step %d: %s record %s: %v", s.step, cc.user, what, err)
	}
	s.logf("%s record %s %s/%s", cc.user, what, cid, id)
}

// checkRecords compares each client's records of its channels with the
// server's, and checks the reasons of the refused record writes.
func (s *convState) checkRecords(ctx context.Context) {
	t := s.t
	admin := s.srv.Admin(s.rng)
	if admin == nil {
		t.Error("no node up to read the server's records")
		return
	}
	server := map[string]string{}
	for _, cid := range s.cids {
		for after := ""; ; {
			resp, err := admin.Records(ctx, cid, after, 2000)
			if err != nil {
				t.Errorf("server records of %s: %v", cid, err)
				return
			}
			for _, r := range resp.Records {
				server[cid+"/"+r.ID] = convRecordString(r.Fields, r.Version)
			}
			if resp.Next == "" {
				break
			}
			after = resp.Next
		}
	}
	for _, cc := range s.clients {
		col, err := outpost.OpenCollection[convRec](ctx, cc.c, "tasks", outpost.CollectionOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, cid := range cc.channels {
			items, _, err := col.List(ctx, outpost.ListQuery{CID: cid, Limit: 1000})
			if err != nil {
				t.Errorf("%s's records of %s: %v", cc.user, cid, err)
				continue
			}
			got := map[string]string{}
			for _, it := range items {
				got[cid+"/"+it.ID] = convRecordString(it.Fields, it.Version)
			}
			want := map[string]string{}
			for k, v := range server {
				if len(k) > len(cid) && k[:len(cid)+1] == cid+"/" {
					want[k] = v
				}
			}
			if !maps.Equal(got, want) {
				t.Errorf("%s's records of %s = %v, server's %v", cc.user, cid, got, want)
			}
		}
		failed, err := cc.c.FailedTasks(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range failed {
			if f.RecordID != "" && (f.Error == "" || f.Refusal == nil) {
				t.Errorf("%s's refused record write %s has no reason: %+v", cc.user, f.ID, f)
			}
		}
	}
}

func convRecordString(fields map[string]json.RawMessage, version int64) string {
	keys := slices.Sorted(maps.Keys(fields))
	out := fmt.Sprint("v", version)
	for _, k := range keys {
		out += " " + k + "=" + string(fields[k])
	}
	return out
}
