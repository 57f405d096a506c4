package client

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	"github.com/outpostsync/outpost/protocol"
)

// Batch sends several writes in one request; the server applies them in
// order, in one transaction, each as its single call would, and answers
// with one result per op, in order. A refused op has its error in its
// result (BatchResult.Error) while the others apply; an error returned by
// Batch itself means nothing was applied and the batch may be sent again
// whole (give each op a Key, as for the single calls, so a repeat after a
// lost reply applies nothing twice). A server without the batch endpoint
// answers with a 404 APIError.
func (c *Client) Batch(ctx context.Context, req protocol.BatchRequest) (*protocol.BatchResponse, error) {
	if n := len(req.Ops); n == 0 || n > protocol.MaxBatchOps {
		return nil, &protocol.ValidationError{Field: "ops", Reason: "has " + strconv.Itoa(n) + " ops, want 1 to " + strconv.Itoa(protocol.MaxBatchOps)}
	}
	for i, op := range req.Ops {
		if err := validateOp(op); err != nil {
			return nil, fmt.Errorf("op %d: %w", i, err)
		}
	}
	var out protocol.BatchResponse
	if err := c.do(ctx, request{op: "batch", method: http.MethodPost, path: protocol.PathBatch, body: req}, &out); err != nil {
		return nil, err
	}
	if len(out.Results) != len(req.Ops) {
		return nil, &DecodeError{Op: "batch", StatusCode: http.StatusOK,
			Err: fmt.Errorf("%d results for %d ops", len(out.Results), len(req.Ops))}
	}
	for i, r := range out.Results {
		if r.Status >= 300 && r.Error == nil {
			return nil, &DecodeError{Op: "batch", StatusCode: http.StatusOK,
				Err: fmt.Errorf("op %d failed (status %d) without an error", i, r.Status)}
		}
		if r.Error != nil && r.Error.StatusCode == 0 {
			r.Error.StatusCode = r.Status
		}
		if r.Error == nil && !resultComplete(req.Ops[i].Type, r) {
			// A success that names nothing written must not let the
			// caller drop the write as done.
			return nil, &DecodeError{Op: "batch", StatusCode: http.StatusOK,
				Err: fmt.Errorf("op %d (%s) succeeded without the entity it wrote", i, req.Ops[i].Type)}
		}
	}
	return &out, nil
}

func validateOp(op protocol.BatchOp) error {
	switch op.Type {
	case protocol.OpSendMessage, protocol.OpMarkRead:
		return protocol.ValidateCID(op.CID)
	case protocol.OpUpdateMessage, protocol.OpDeleteMessage, protocol.OpSendReaction, protocol.OpDeleteReaction:
		return protocol.ValidateID("message id", op.MessageID)
	}
	return &protocol.ValidationError{Field: "op type", Reason: "is " + strconv.Quote(string(op.Type)) + ", not a batch op"}
}

// resultComplete reports whether a successful result carries what its op
// writes, as the single calls' answers must.
func resultComplete(t protocol.BatchOpType, r protocol.BatchResult) bool {
	switch t {
	case protocol.OpSendReaction, protocol.OpDeleteReaction:
		return r.Message != nil && r.Reaction != nil
	case protocol.OpMarkRead:
		return r.Read != nil
	}
	return r.Message != nil
}
