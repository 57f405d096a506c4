//go:build darwin || ios

package outpost

// dataDir is ~/Library/Application Support, where macOS apps keep the
// data they create for the user.
func dataDir() (string, error) {
	return homeRelative("Library", "Application Support")
}
