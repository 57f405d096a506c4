package protocol

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Channel is a conversation. CID, "type:id", names it everywhere.
type Channel struct {
	CID  string `json:"cid"`
	Type string `json:"type"`
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`

	CreatedBy   string     `json:"created_by,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
	DeletedAt   *time.Time `json:"deleted_at,omitempty"`
	TruncatedAt *time.Time `json:"truncated_at,omitempty"`
	// TruncatedSeq is the seq of the channel's last channel.truncated
	// event, 0 if none: the messages of a lower seq are removed, later
	// ones stay. TruncatedAt is the same moment's time, for display.
	TruncatedSeq  int64      `json:"truncated_seq,omitempty"`
	LastMessageAt *time.Time `json:"last_message_at,omitempty"`
	MemberCount   int        `json:"member_count,omitempty"`

	// Hidden is per user: set on channel.hidden, cleared on channel.visible.
	Hidden bool `json:"hidden,omitempty"`

	Version int64           `json:"version"`
	Extra   json.RawMessage `json:"extra,omitempty"`
}

// Message is a message in a channel. Its ID is made by the client that
// sends it, so that a repeated send is recognised as the same write.
type Message struct {
	ID       string `json:"id"`
	CID      string `json:"cid"`
	UserID   string `json:"user_id"`
	Text     string `json:"text"`
	ParentID string `json:"parent_id,omitempty"`
	// Seq is the seq of the message's message.new event: its place in
	// the channel's order, which clients show it in. Zero for a message
	// the server has not stored (a client's pending write).
	Seq       int64      `json:"seq,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	UpdatedAt time.Time  `json:"updated_at"`
	DeletedAt *time.Time `json:"deleted_at,omitempty"`

	// ReactionCounts counts reactions by type, as the server last saw them.
	ReactionCounts map[string]int `json:"reaction_counts,omitempty"`

	// Redacted marks what the wire keeps of a message removed for good (a
	// hard delete or a truncate; see RemovedMessage): its id, channel and
	// version, and nothing it said. A client removes such a message and
	// keeps it out for good.
	Redacted bool `json:"redacted,omitempty"`

	Version int64           `json:"version"`
	Extra   json.RawMessage `json:"extra,omitempty"`
}

// Reaction is one user's reaction of one type to a message. The triple
// (MessageID, UserID, Type) identifies it.
type Reaction struct {
	MessageID string    `json:"message_id"`
	CID       string    `json:"cid"`
	UserID    string    `json:"user_id"`
	Type      string    `json:"type"`
	Score     int       `json:"score,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`

	Version int64           `json:"version"`
	Extra   json.RawMessage `json:"extra,omitempty"`
}

// Member is a user's membership of a channel.
type Member struct {
	CID       string    `json:"cid"`
	UserID    string    `json:"user_id"`
	Role      string    `json:"role,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	User      *User     `json:"user,omitempty"`

	Version int64 `json:"version"`
}

// Read is how far a user has read a channel.
type Read struct {
	CID               string    `json:"cid"`
	UserID            string    `json:"user_id"`
	LastReadAt        time.Time `json:"last_read_at"`
	LastReadMessageID string    `json:"last_read_message_id,omitempty"`
	UnreadMessages    int       `json:"unread_messages"`

	Version int64 `json:"version"`
}

// User is a person who uses Outpost. Its Version is the user's own change
// counter, not a channel sequence number.
type User struct {
	ID        string    `json:"id"`
	Name      string    `json:"name,omitempty"`
	Image     string    `json:"image,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`

	Version int64           `json:"version"`
	Extra   json.RawMessage `json:"extra,omitempty"`
}

// Limits on identifiers, checked by ValidateID and ValidateCID.
const (
	MaxIDLength = 128
)

// CID joins a channel type and id into the channel's CID.
func CID(channelType, channelID string) string { return channelType + ":" + channelID }

// SplitCID splits a CID into its type and id, or returns a *ValidationError.
func SplitCID(cid string) (channelType, channelID string, err error) {
	if err := ValidateCID(cid); err != nil {
		return "", "", err
	}
	t, id, _ := strings.Cut(cid, ":")
	return t, id, nil
}

// ValidateCID checks that cid is "type:id" with both parts valid ids.
func ValidateCID(cid string) error {
	t, id, ok := strings.Cut(cid, ":")
	if !ok {
		return &ValidationError{Field: "cid", Reason: fmt.Sprintf("%q is not of the form type:id", cid)}
	}
	if err := ValidateID("cid type", t); err != nil {
		return err
	}
	return ValidateID("cid id", id)
}

// ValidateID checks that an identifier is non-empty, at most MaxIDLength
// bytes, and made only of ASCII letters, digits and "-_.@!" characters. The
// field name is used in the error.
func ValidateID(field, id string) error {
	if id == "" {
		return &ValidationError{Field: field, Reason: "is empty"}
	}
	if len(id) > MaxIDLength {
		return &ValidationError{Field: field, Reason: fmt.Sprintf("is longer than %d bytes", MaxIDLength)}
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-' || c == '_' || c == '.' || c == '@' || c == '!':
		default:
			return &ValidationError{Field: field, Reason: invalidIDChar(id, i)}
		}
	}
	return nil
}

// invalidIDChar says which character at byte i makes id invalid: the
// whole character (a multi-byte one such as an emoji is named, not one
// of its bytes), and what is allowed instead.
func invalidIDChar(id string, i int) string {
	r, size := utf8.DecodeRuneInString(id[i:])
	what := fmt.Sprintf("%q", r)
	if r == utf8.RuneError && size <= 1 {
		what = fmt.Sprintf("byte 0x%02x (not UTF-8)", id[i])
	}
	return fmt.Sprintf("has the invalid character %s at byte %d (only ASCII letters, digits and -_.@! are allowed)", what, i)
}

// MaxTextBytes is the longest message text, in bytes, the server takes.
// Clients check it before they queue a message, so an over-long text is
// refused at once rather than failing later in the outbox.
const MaxTextBytes = 64 << 10

// ValidateText checks a message text: not blank, at most MaxTextBytes
// bytes. The field name is used in the error.
func ValidateText(field, text string) error {
	if strings.TrimSpace(text) == "" {
		return &ValidationError{Field: field, Reason: "is empty"}
	}
	if len(text) > MaxTextBytes {
		return &ValidationError{Field: field, Reason: fmt.Sprintf("is %d bytes, over the limit of %d bytes", len(text), MaxTextBytes)}
	}
	return nil
}
