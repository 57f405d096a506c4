package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/outpostsync/outpost/protocol"
)

// RecordKey names a record: its channel, collection and id.
type RecordKey struct {
	CID, Collection, ID string
}

func (k RecordKey) validate() error {
	if err := protocol.ValidateCID(k.CID); err != nil {
		return err
	}
	return protocol.ValidateRecordKey(k.Collection, k.ID)
}

func (k RecordKey) path() string { return pathf(protocol.PathRecord, k.CID, k.Collection, k.ID) }

// recordCall makes one record call and checks that its answer is the
// record asked for.
func (c *Client) recordCall(ctx context.Context, op, method string, k RecordKey, q url.Values, body any, opts []WriteOption) (*protocol.RecordResponse, error) {
	if err := k.validate(); err != nil {
		return nil, err
	}
	var out protocol.RecordResponse
	err := c.do(ctx, request{op: op, method: method, path: k.path(), query: q, body: body, idemKey: writeOpts(opts).idemKey,
		check: func() error { return answerFor("record", out.Record.ID, k.ID) }}, &out)
	return result(&out, err)
}

// CreateRecord creates a record; it fails (409) if the record exists.
// A deleted record is created again only with req.IfVersion naming its
// tombstone's version.
func (c *Client) CreateRecord(ctx context.Context, k RecordKey, req protocol.CreateRecordRequest, opts ...WriteOption) (*protocol.RecordResponse, error) {
	return c.recordCall(ctx, "create record", http.MethodPost, k, nil, req, opts)
}

// ReplaceRecord replaces a record's whole field set; req.IfVersion is
// required.
func (c *Client) ReplaceRecord(ctx context.Context, k RecordKey, req protocol.ReplaceRecordRequest, opts ...WriteOption) (*protocol.RecordResponse, error) {
	return c.recordCall(ctx, "replace record", http.MethodPut, k, nil, req, opts)
}

// PatchRecord sets and unsets top-level fields of a record.
func (c *Client) PatchRecord(ctx context.Context, k RecordKey, req protocol.PatchRecordRequest, opts ...WriteOption) (*protocol.RecordResponse, error) {
	return c.recordCall(ctx, "patch record", http.MethodPatch, k, nil, req, opts)
}

// DeleteRecord deletes a record at req.IfVersion (required), leaving a
// tombstone.
func (c *Client) DeleteRecord(ctx context.Context, k RecordKey, req protocol.DeleteRecordRequest, opts ...WriteOption) (*protocol.RecordResponse, error) {
	if req.IfVersion == nil {
		return nil, &protocol.ValidationError{Field: "if_version", Reason: "is required"}
	}
	q := url.Values{"if_version": {strconv.FormatInt(*req.IfVersion, 10)}}
	return c.recordCall(ctx, "delete record", http.MethodDelete, k, q, nil, opts)
}

// Record reads one record (a tombstone if it was deleted).
func (c *Client) Record(ctx context.Context, k RecordKey) (*protocol.RecordResponse, error) {
	return c.recordCall(ctx, "get record", http.MethodGet, k, nil, nil, nil)
}

// Records reads a page of a channel's live records in (collection, id)
// order, after the key after ("collection/id", "" for the first page),
// with the channel's position in the same snapshot; limit 0 means the
// server's default.
func (c *Client) Records(ctx context.Context, cid, after string, limit int) (*protocol.RecordsResponse, error) {
	if err := protocol.ValidateCID(cid); err != nil {
		return nil, err
	}
	q := url.Values{}
	if after != "" {
		q.Set("after", after)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out *protocol.RecordsResponse
	decode := func(data []byte) (err error) {
		out, err = protocol.DecodeRecordsPage(data)
		return err
	}
	if err := c.do(ctx, request{op: "query records", method: http.MethodGet, path: pathf(protocol.PathRecords, cid), query: q, decode: decode}, nil); err != nil {
		return nil, err
	}
	return out, nil
}
