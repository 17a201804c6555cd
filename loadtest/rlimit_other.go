//go:build !unix

package loadtest

// openFilesLimit is unknown here: 0.
func openFilesLimit() int { return 0 }
