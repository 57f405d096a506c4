package server

import (
	"errors"

	"github.com/outpostsync/outpost/protocol"
)

// action is something done in a channel that not every member may do.
// What every member may do (read, send, react, mark read, type, edit and
// delete their own messages) is not an action here: membership is enough.
type action string

// The actions, named as an error message says them.
const (
	actAddMembers        action = "add members"
	actRemoveMember      action = "remove a member"
	actRemoveModerator   action = "remove a moderator"
	actRemoveOwner       action = "remove the owner"
	actLeave             action = "leave the channel"
	actSetRole           action = "change a member's role"
	actTransferOwnership action = "transfer the ownership"
	actUpdateChannel     action = "update the channel"
	actDeleteChannel     action = "delete the channel"
	actTruncateChannel   action = "truncate the channel"
	actEditOthersMessage action = "edit another member's message"
	actDeleteMembersMsg  action = "delete or undelete a member's message"
	actDeleteModsMsg     action = "delete or undelete a moderator's message"
	actDeleteOwnersMsg   action = "delete or undelete the owner's message"
)

// grant says which roles may do an action.
type grant struct{ owner, moderator, member bool }

// permissions is the one place the server's channel rules live: action x
// role. Nobody removes the owner: the owner leaves a channel by handing it
// on (actTransferOwnership) or deleting it, so a channel always has one.
// Nobody edits another's words; moderators may take down a member's, the
// owner anyone's.
var permissions = map[action]grant{
	actAddMembers:        {owner: true, moderator: true},
	actRemoveMember:      {owner: true, moderator: true},
	actRemoveModerator:   {owner: true},
	actRemoveOwner:       {},
	actLeave:             {moderator: true, member: true},
	actSetRole:           {owner: true},
	actTransferOwnership: {owner: true},
	actUpdateChannel:     {owner: true, moderator: true},
	actDeleteChannel:     {owner: true},
	actTruncateChannel:   {owner: true},
	actEditOthersMessage: {},
	actDeleteMembersMsg:  {owner: true, moderator: true},
	actDeleteModsMsg:     {owner: true},
	actDeleteOwnersMsg:   {},
}

// roleOf returns m's role; a membership stored without one is a member's.
func roleOf(m protocol.Member) string {
	switch m.Role {
	case protocol.RoleOwner, protocol.RoleModerator:
		return m.Role
	}
	return protocol.RoleMember
}

// validRole reports whether role is one a member can be given.
func validRole(role string) bool {
	return role == protocol.RoleOwner || role == protocol.RoleModerator || role == protocol.RoleMember
}

// may reports whether a member with role may do a.
func may(role string, a action) bool {
	g := permissions[a]
	switch role {
	case protocol.RoleOwner:
		return g.owner
	case protocol.RoleModerator:
		return g.moderator
	}
	return g.member
}

// authorize returns user's membership of cid if their role allows a, and
// a 403 naming the rule otherwise.
func authorize(tx Tx, cid, user string, a action) (protocol.Member, error) {
	m, err := tx.Member(cid, user)
	if errors.Is(err, ErrNotFound) {
		return m, protocol.NewAPIError(protocol.CodeNotAllowed, "you are not a member of %s", cid)
	}
	if err != nil {
		return m, err
	}
	if !may(roleOf(m), a) {
		return m, protocol.NewAPIError(protocol.CodeNotAllowed, "a channel %s may not %s (%s)", roleOf(m), a, cid)
	}
	return m, nil
}

// deleteMessageAction is the action of deleting (or undeleting) another's
// message, by the role its author has in the channel now (a member's, if
// the author has left).
func deleteMessageAction(tx Tx, cid, author string) (action, error) {
	m, err := tx.Member(cid, author)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return "", err
	}
	switch roleOf(m) {
	case protocol.RoleOwner:
		return actDeleteOwnersMsg, nil
	case protocol.RoleModerator:
		return actDeleteModsMsg, nil
	}
	return actDeleteMembersMsg, nil
}

// removeAction is the action of user removing target from a channel.
func removeAction(user string, target protocol.Member) action {
	switch {
	case roleOf(target) == protocol.RoleOwner:
		return actRemoveOwner
	case target.UserID == user:
		return actLeave
	case roleOf(target) == protocol.RoleModerator:
		return actRemoveModerator
	}
	return actRemoveMember
}
