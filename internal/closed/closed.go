// Package closed holds the one error every part of the SDK returns for a
// call on something closed, so that outpost.ErrClosed matches it whichever
// part noticed first.
package closed

import "errors"

// Err is returned by calls on a closed Client, store or manager.
var Err = errors.New("outpost: closed")
