package api_test

import (
	"testing"

	"fieldsync/api"
)

// newFullServer builds the server with every service wired, over the real
// embedded stores. Issues extend it as services land.
func newFullServer(tb testing.TB) *api.Server {
	tb.Helper()
	return newBareServer(tb)
}
