package outpost_test

import (
	"time"

	"github.com/outpostsync/outpost"
	"github.com/outpostsync/outpost/syncmanager"
)

func offlineSync() syncmanager.Options {
	return syncmanager.Options{RetryMinDelay: 10 * time.Millisecond, RetryMaxDelay: 100 * time.Millisecond}
}

// sentID passes on the message id of a SendMessage, for a test that goes
// on with the message.
func sentID(w outpost.Write, err error) (string, error) { return w.MessageID, err }

// taskID passes on the task id of a write.
func taskID(w outpost.Write, err error) (string, error) { return w.TaskID, err }
