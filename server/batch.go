package server

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/outpostsync/outpost/protocol"
)

// handleBatch applies a batch of writes in order, in one transaction, each
// as its single-write endpoint would, and answers with one result per op.
// An op the server refuses (bad input, not found, not allowed) gets its
// error in its result and the others still apply, as they would have one
// by one; anything else (a store failure) fails the whole batch, nothing
// applied, so the client retries it whole. One transaction and one round
// trip for many writes is what lets a client drain a long outbox fast.
func (s *Server) handleBatch(w http.ResponseWriter, r *http.Request, user string) error {
	var req protocol.BatchRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if len(req.Ops) == 0 {
		return protocol.NewAPIError(protocol.CodeInput, "ops is empty")
	}
	if len(req.Ops) > protocol.MaxBatchOps {
		return protocol.NewAPIError(protocol.CodeInput, "at most %d ops in a batch, got %d", protocol.MaxBatchOps, len(req.Ops))
	}
	// A batch costs one write, the request's, whatever its ops: it is
	// one transaction and one round trip, bounded by MaxBatchOps and the
	// body's size, so that a bulk import (100,000 records) is not held to
	// the per-write rate.
	results := make([]protocol.BatchResult, len(req.Ops))
	ops := make([]*op, len(req.Ops))
	for i, bo := range req.Ops {
		o, err := planBatchOp(user, bo)
		if err != nil {
			results[i] = errorResult(err)
			continue
		}
		ops[i] = &o
	}
	err := s.update(r.Context(), func(tx Tx) ([]Delivery, error) {
		var events []Delivery
		for i, o := range ops {
			if o == nil {
				continue
			}
			res, c, err := s.runOp(tx, user, *o)
			if err != nil {
				if _, refused := protocol.AsAPIError(err); !refused || c.wrote {
					// Not the op's fault, or half done: undo the batch.
					return nil, fmt.Errorf("server: batch op %d (%s): %v", i, req.Ops[i].Type, err)
				}
				results[i] = errorResult(err)
				continue
			}
			var br protocol.BatchResult
			if err := json.Unmarshal(res, &br); err != nil {
				return nil, fmt.Errorf("server: batch op %d: stored result: %w", i, err)
			}
			br.Status = o.status
			results[i] = br
			events = append(events, c.events...)
		}
		return events, nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, protocol.BatchResponse{Results: results})
	return nil
}

func errorResult(err error) protocol.BatchResult {
	ae, ok := protocol.AsAPIError(err)
	if !ok {
		ae = protocol.NewAPIError(protocol.CodeInternal, "internal error")
	}
	if ae.StatusCode == 0 {
		ae.StatusCode = protocol.StatusForCode(ae.Code)
	}
	return protocol.BatchResult{Status: ae.StatusCode, Error: ae}
}

// batchOps plans the ops of POST /batch, by type: each decodes its op's
// body and checks it with the plan function of its single-write endpoint,
// so that a write is checked and applied the same way alone and in a
// batch. It is the server's one list of batch op types.
var batchOps = map[protocol.BatchOpType]func(user string, bo protocol.BatchOp) (op, error){
	protocol.OpSendMessage: withBody(func(user string, bo protocol.BatchOp, req protocol.SendMessageRequest) (op, error) {
		return planSendMessage(user, bo.CID, req)
	}),
	protocol.OpUpdateMessage: withBody(func(user string, bo protocol.BatchOp, req protocol.UpdateMessageRequest) (op, error) {
		return planUpdateMessage(user, bo.MessageID, req)
	}),
	protocol.OpDeleteMessage: withBody(func(user string, bo protocol.BatchOp, req protocol.DeleteMessageBody) (op, error) {
		return planDeleteMessage(user, bo.MessageID, req.Hard)
	}),
	protocol.OpSendReaction: withBody(func(user string, bo protocol.BatchOp, req protocol.SendReactionRequest) (op, error) {
		return planSendReaction(user, bo.MessageID, req)
	}),
	protocol.OpDeleteReaction: withBody(func(user string, bo protocol.BatchOp, req protocol.DeleteReactionBody) (op, error) {
		return planDeleteReaction(user, bo.MessageID, req.Type)
	}),
	protocol.OpMarkRead: withBody(func(user string, bo protocol.BatchOp, req protocol.MarkReadRequest) (op, error) {
		return planMarkRead(user, bo.CID, req)
	}),
	protocol.OpCreateRecord: withBody(func(user string, bo protocol.BatchOp, req protocol.CreateRecordRequest) (op, error) {
		return planCreateRecord(user, batchTarget(bo), req)
	}),
	protocol.OpReplaceRecord: withBody(func(user string, bo protocol.BatchOp, req protocol.ReplaceRecordRequest) (op, error) {
		return planReplaceRecord(user, batchTarget(bo), req)
	}),
	protocol.OpPatchRecord: withBody(func(user string, bo protocol.BatchOp, req protocol.PatchRecordRequest) (op, error) {
		return planPatchRecord(user, batchTarget(bo), req)
	}),
	protocol.OpDeleteRecord: withBody(func(user string, bo protocol.BatchOp, req protocol.DeleteRecordRequest) (op, error) {
		return planDeleteRecord(user, batchTarget(bo), req)
	}),
}

// batchTarget is the record a record op names.
func batchTarget(bo protocol.BatchOp) recordTarget {
	return recordTarget{cid: bo.CID, collection: bo.Collection, id: bo.RecordID}
}

// withBody returns the planner of an op whose body is a Req: it decodes
// the body strictly, as a single write's body is, and plans the op.
func withBody[Req any](plan func(user string, bo protocol.BatchOp, req Req) (op, error)) func(string, protocol.BatchOp) (op, error) {
	return func(user string, bo protocol.BatchOp) (op, error) {
		var req Req
		if err := decodeOpBody(bo, &req); err != nil {
			return op{}, err
		}
		return plan(user, bo, req)
	}
}

// planBatchOp checks one op of a batch and returns it ready to run.
func planBatchOp(user string, bo protocol.BatchOp) (op, error) {
	if err := validKey(bo.Key); err != nil {
		return op{}, err
	}
	plan, ok := batchOps[bo.Type]
	if !ok {
		return op{}, protocol.NewAPIError(protocol.CodeInput, "unknown op type %q", bo.Type)
	}
	o, err := plan(user, bo)
	if err != nil {
		return op{}, err
	}
	o.key = bo.Key
	return o, nil
}

func decodeOpBody(bo protocol.BatchOp, v any) error {
	body := bo.Body
	if len(body) == 0 || string(body) == "null" {
		body = []byte("{}")
	}
	if err := protocol.DecodeStrict(body, v, string(bo.Type)+" body"); err != nil {
		return inputError(err)
	}
	return nil
}
