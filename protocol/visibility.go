package protocol

// Paths of the per-user channel visibility endpoints. Each is a POST
// without a body that answers with the channel's ChannelResponse, its
// Channel.Hidden set for the caller. Any member may hide or show a
// channel for themselves; the change reaches the caller's other devices
// through their membership feed as EventChannelHidden or
// EventChannelVisible.
const (
	// PathHideChannel: POST -> ChannelResponse. Hides the channel from
	// the caller's channel list; it stays hidden until shown again, new
	// messages included.
	PathHideChannel = "/channels/{cid}/hide"
	// PathShowChannel: POST -> ChannelResponse. Shows a hidden channel
	// in the caller's channel list again.
	PathShowChannel = "/channels/{cid}/show"
)
