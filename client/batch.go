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
// lost reply applies nothing twice).
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
	repeatable := true
	for _, op := range req.Ops {
		repeatable = repeatable && (op.Key != "" || op.Type == protocol.OpSendMessage)
	}
	if err := c.do(ctx, request{op: "batch", method: http.MethodPost, path: protocol.PathBatch, body: req, repeatable: repeatable}, &out); err != nil {
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
		if r.Error == nil && !opKinds[req.Ops[i].Type].answer(r) {
			// A success that names nothing written must not let the
			// caller drop the write as done.
			return nil, &DecodeError{Op: "batch", StatusCode: http.StatusOK,
				Err: fmt.Errorf("op %d (%s) succeeded without the entity it wrote", i, req.Ops[i].Type)}
		}
	}
	return &out, nil
}

// opKinds says, for each op type, what the client checks of an op before
// sending it and of its answer after: the one place of this package that
// knows the kinds of write. An op of a type missing from it is refused
// before it is sent.
var opKinds = map[protocol.BatchOpType]opKind{
	protocol.OpSendMessage:    {onChannel: true, answer: answerMessage},
	protocol.OpUpdateMessage:  {answer: answerMessage},
	protocol.OpDeleteMessage:  {answer: answerMessage},
	protocol.OpSendReaction:   {answer: answerReaction},
	protocol.OpDeleteReaction: {answer: answerReaction},
	protocol.OpMarkRead:       {onChannel: true, answer: answerRead},
	protocol.OpCreateRecord:   {onRecord: true, answer: answerRecord},
	protocol.OpReplaceRecord:  {onRecord: true, answer: answerRecord},
	protocol.OpPatchRecord:    {onRecord: true, answer: answerRecord},
	protocol.OpDeleteRecord:   {onRecord: true, answer: answerRecord},
}

// opKind is what the client knows of one op type.
type opKind struct {
	// onChannel: the op names its channel (CID); onRecord: its record
	// (CID, Collection, RecordID); else its message (MessageID).
	onChannel, onRecord bool
	// answer reports whether a successful result carries what the op
	// writes, as the single calls' answers must.
	answer func(protocol.BatchResult) bool
}

func answerMessage(r protocol.BatchResult) bool  { return r.Message != nil }
func answerReaction(r protocol.BatchResult) bool { return r.Message != nil && r.Reaction != nil }
func answerRead(r protocol.BatchResult) bool     { return r.Read != nil }
func answerRecord(r protocol.BatchResult) bool   { return r.Record != nil }

func validateOp(op protocol.BatchOp) error {
	k, ok := opKinds[op.Type]
	switch {
	case !ok:
		return &protocol.ValidationError{Field: "op type", Reason: "is " + strconv.Quote(string(op.Type)) + ", not a batch op"}
	case k.onChannel:
		return protocol.ValidateCID(op.CID)
	case k.onRecord:
		if err := protocol.ValidateCID(op.CID); err != nil {
			return err
		}
		return protocol.ValidateRecordKey(op.Collection, op.RecordID)
	}
	return protocol.ValidateID("message id", op.MessageID)
}
