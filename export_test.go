package outpost_test

import (
	"time"

	"github.com/outpostsync/outpost/syncmanager"
)

func offlineSync() syncmanager.Options {
	return syncmanager.Options{RetryMinDelay: 10 * time.Millisecond, RetryMaxDelay: 100 * time.Millisecond}
}
