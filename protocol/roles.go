package protocol

import "encoding/json"

// Channel roles, carried in Member.Role. A channel has exactly one owner;
// docs/PROTOCOL.md lists what each role may do. A member stored before
// roles existed, with no role, counts as RoleMember.
const (
	RoleOwner     = "owner"
	RoleModerator = "moderator"
	RoleMember    = "member"
)

// Paths of the channel administration endpoints (see also the paths in
// api.go).
const (
	// PathMemberRole: PUT SetRoleRequest -> MembersResponse. Setting
	// RoleOwner transfers the ownership: the caller, the owner, becomes a
	// moderator.
	PathMemberRole = "/channels/{cid}/members/{user_id}/role"
	// PathTruncate: POST -> ChannelResponse. Removes every message sent
	// before it.
	PathTruncate = "/channels/{cid}/truncate"
)

// SetRoleRequest sets a member's role (PUT PathMemberRole).
type SetRoleRequest struct {
	Role string `json:"role"`
}

// UpdateChannelRequest replaces a channel's name and extra (PUT
// PathChannel). An absent extra leaves the channel's as it is.
type UpdateChannelRequest struct {
	Name  string          `json:"name"`
	Extra json.RawMessage `json:"extra,omitempty"`
}
