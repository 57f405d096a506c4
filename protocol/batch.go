package protocol

import "encoding/json"

// BatchOpType names a write in a batch. The names are the ones the
// client's outbox uses for its tasks, and each op's Body is the request of
// the single-write endpoint it stands for.
type BatchOpType string

// Batch op types, with the Body each takes.
const (
	OpSendMessage    BatchOpType = "send-message"    // SendMessageRequest; CID
	OpUpdateMessage  BatchOpType = "update-message"  // UpdateMessageRequest; MessageID
	OpDeleteMessage  BatchOpType = "delete-message"  // DeleteMessageBody; MessageID
	OpSendReaction   BatchOpType = "send-reaction"   // SendReactionRequest; MessageID
	OpDeleteReaction BatchOpType = "delete-reaction" // DeleteReactionBody; MessageID
	OpMarkRead       BatchOpType = "mark-read"       // MarkReadRequest; CID

	OpCreateRecord  BatchOpType = "create-record"  // CreateRecordRequest; CID, Collection, RecordID
	OpReplaceRecord BatchOpType = "replace-record" // ReplaceRecordRequest; CID, Collection, RecordID
	OpPatchRecord   BatchOpType = "patch-record"   // PatchRecordRequest; CID, Collection, RecordID
	OpDeleteRecord  BatchOpType = "delete-record"  // DeleteRecordRequest; CID, Collection, RecordID
)

// MaxBatchOps is the most ops one batch may hold.
const MaxBatchOps = 100

// BatchRequest is the body of POST /batch: writes the server applies in
// order, as one transaction, each as its single-write endpoint would.
type BatchRequest struct {
	Ops []BatchOp `json:"ops"`
}

// BatchOp is one write of a batch.
type BatchOp struct {
	Type BatchOpType `json:"type"`
	// Key is the op's idempotency key, as the Idempotency-Key header of
	// the single write: a repeat of an op that was applied, alone or in a
	// batch, answers with the stored result and changes nothing. A send
	// needs none (its message id does that).
	Key string `json:"key,omitempty"`
	// CID is the channel of a send-message, mark-read or record op.
	CID string `json:"cid,omitempty"`
	// Collection and RecordID name the record of a record op.
	Collection string `json:"collection,omitempty"`
	RecordID   string `json:"record_id,omitempty"`
	// MessageID is the message of the other ops.
	MessageID string `json:"message_id,omitempty"`
	// Body is the op's request, as listed beside its type.
	Body json.RawMessage `json:"body"`
}

// DeleteMessageBody is the body of a delete-message op.
type DeleteMessageBody struct {
	Hard bool `json:"hard,omitempty"`
}

// DeleteReactionBody is the body of a delete-reaction op.
type DeleteReactionBody struct {
	Type string `json:"type"`
}

// BatchResponse answers a batch with one result per op, in order. It is
// sent with status 200 even when some ops failed: each result says.
type BatchResponse struct {
	Results []BatchResult `json:"results"`
}

// BatchResult is the outcome of one op: the HTTP status its single write
// would have answered with, and either that answer's fields or the error.
type BatchResult struct {
	Status   int       `json:"status"`
	Message  *Message  `json:"message,omitempty"`
	Reaction *Reaction `json:"reaction,omitempty"`
	Read     *Read     `json:"read,omitempty"`
	Record   *Record   `json:"record,omitempty"`
	Error    *APIError `json:"error,omitempty"`
}
