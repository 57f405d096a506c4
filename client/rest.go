package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/outpostsync/outpost/protocol"
)

// request is one REST call.
type request struct {
	op      string // names the call in errors, e.g. "send message"
	method  string
	path    string // with parameters filled in and escaped
	query   url.Values
	body    any    // marshalled to JSON; nil for no body
	idemKey string // the Idempotency-Key header, if not empty
	// repeatable: the server answers a repeat of the write as it answered
	// the write, without writing again (a send, by its message id; a
	// batch whose ops all are). Such a write, like one with an
	// idempotency key, is sent again on a new connection when the
	// kept-alive one it went out on turns out closed.
	repeatable bool
	// check, if set, checks a decoded 2xx answer: a write's answer must
	// name what was written, or a garbled success (null, {}) would be
	// taken for the write being applied and the write dropped.
	check func() error
	// decode, if set, decodes a 2xx body in place of
	// protocol.DecodeLenient into out (which is then unused).
	decode func(data []byte) error
}

// do runs r and decodes a 2xx body into out. An expired token (code 40)
// makes it ask the token provider for a new one and try once more.
func (c *Client) do(ctx context.Context, r request, out any) error {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return ErrClosed
	}
	var payload []byte
	if r.body != nil {
		var err error
		if payload, err = json.Marshal(r.body); err != nil {
			return fmt.Errorf("client: %s: encode request: %w", r.op, err)
		}
	}
	tok, err := c.currentToken(ctx)
	if err != nil {
		return err
	}
	err = c.doOnce(ctx, r, payload, tok, out)
	if isAuthRejection(err, false) && c.cfg.TokenProvider != nil {
		c.log.Debug("outpost client: token expired, refreshing", "op", r.op)
		if tok, err = c.refreshToken(ctx, tok); err != nil {
			return err
		}
		err = c.doOnce(ctx, r, payload, tok, out)
	}
	return err
}

func (c *Client) doOnce(ctx context.Context, r request, payload []byte, tok string, out any) error {
	if c.cfg.RequestTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.RequestTimeout)
		defer cancel()
	}
	u := c.baseURL().String() + r.path
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u, body)
	if err != nil {
		return fmt.Errorf("client: %s: %w", r.op, err)
	}
	req.Header.Set(protocol.HeaderAuthorization, "Bearer "+tok)
	req.Header.Set("Accept", "application/json")
	req.Header.Set(protocol.HeaderProtocol, strconv.Itoa(protocol.Version))
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	switch {
	case r.idemKey != "":
		req.Header.Set(protocol.HeaderIdempotencyKey, r.idemKey)
	case r.repeatable:
		// A nil value marks the request as idempotent to net/http, which
		// then may send it again, and sends no such header.
		req.Header[protocol.HeaderIdempotencyKey] = nil
	}
	if id := c.ServerID(); id != "" {
		req.Header.Set(protocol.HeaderServerID, id)
	}
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		return &TransportError{Op: r.op, Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		return c.errorFromResponse(r.op, resp)
	}
	data, err := readLimited(resp.Body, c.cfg.MaxResponseBytes, resp.ContentLength)
	if err != nil {
		if errors.Is(err, ErrResponseTooLarge) {
			return &DecodeError{Op: r.op, StatusCode: resp.StatusCode, Err: err}
		}
		return &TransportError{Op: r.op, Err: err}
	}
	if r.decode != nil {
		if err := r.decode(data); err != nil {
			c.log.Warn("outpost client: undecodable response", "op", r.op, "status", resp.StatusCode, "err", err)
			return &DecodeError{Op: r.op, StatusCode: resp.StatusCode, Err: err}
		}
		return nil
	}
	if out == nil {
		return nil
	}
	if err := protocol.DecodeLenient(data, out, r.op+" response"); err != nil {
		c.log.Warn("outpost client: undecodable response", "op", r.op, "status", resp.StatusCode, "err", err)
		return &DecodeError{Op: r.op, StatusCode: resp.StatusCode, Err: err}
	}
	if r.check != nil {
		if err := r.check(); err != nil {
			c.log.Warn("outpost client: response is not an answer to the request", "op", r.op, "status", resp.StatusCode, "err", err)
			return &DecodeError{Op: r.op, StatusCode: resp.StatusCode, Err: err}
		}
	}
	return nil
}

// answerFor checks that an answer names the entity the request wrote.
func answerFor(what, got, want string) error {
	if got != want {
		return fmt.Errorf("the answer is for %s %q, want %q", what, got, want)
	}
	return nil
}

// errorFromResponse turns an error response into the *protocol.APIError its
// body holds, with RetryAfter from the header, or into a *DecodeError when
// the body is not an API error.
func (c *Client) errorFromResponse(op string, resp *http.Response) error {
	data, err := readLimited(resp.Body, maxErrorBodyBytes, resp.ContentLength)
	if err != nil && !errors.Is(err, ErrResponseTooLarge) {
		return &TransportError{Op: op, Err: err}
	}
	var apiErr protocol.APIError
	if err == nil {
		err = protocol.DecodeLenient(data, &apiErr, "error body")
	}
	if err == nil && apiErr.Code == 0 && apiErr.Message == "" {
		err = &protocol.DecodeError{What: "error body", Err: errors.New("no code and no message")}
	}
	if err != nil {
		c.log.Warn("outpost client: undecodable error response", "op", op, "status", resp.StatusCode, "body", snippet(data))
		return &DecodeError{Op: op, StatusCode: resp.StatusCode, Err: err}
	}
	if apiErr.StatusCode == 0 {
		apiErr.StatusCode = resp.StatusCode
	}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		apiErr.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), c.clk.Now())
	}
	if apiErr.Code == protocol.CodeServerMismatch {
		var bound string
		if resp.Request != nil {
			bound = resp.Request.Header.Get(protocol.HeaderServerID)
		}
		return &ServerMismatchError{Bound: bound, Err: &apiErr}
	}
	return &apiErr
}

// readLimited reads r to the end, failing with ErrResponseTooLarge past max
// bytes. size, if not negative, is the length r says it has (a response's
// Content-Length): the buffer is made that large at once, where io.ReadAll
// would grow it by doubling (a sync page of events is large).
func readLimited(r io.Reader, max, size int64) ([]byte, error) {
	var buf bytes.Buffer
	if size >= 0 {
		buf.Grow(int(min(size, max)) + bytes.MinRead) // room to read the end in
	}
	_, err := buf.ReadFrom(io.LimitReader(r, max+1))
	data := buf.Bytes()
	if err != nil {
		return data, err
	}
	if int64(len(data)) > max {
		return data[:max], fmt.Errorf("%w (over %d bytes)", ErrResponseTooLarge, max)
	}
	return data, nil
}

// parseRetryAfter reads a Retry-After value, seconds or an HTTP date, as a
// wait from now. It returns zero for a missing or unreadable value.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		if secs > int64(24*time.Hour/time.Second) {
			secs = int64(24 * time.Hour / time.Second)
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// snippet returns the start of a body for a log line.
func snippet(b []byte) string {
	const n = 200
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}

// pathf fills the {name} parameters of a protocol path with escaped values,
// in order.
func pathf(pattern string, values ...string) string {
	out := pattern
	for _, v := range values {
		i := strings.IndexByte(out, '{')
		j := strings.IndexByte(out, '}')
		if i < 0 || j < i {
			break
		}
		out = out[:i] + url.PathEscape(v) + out[j+1:]
	}
	return out
}

// firstErr returns the first non-nil error, for checking a call's input
// before it is sent.
func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
