package api_test

import (
	"context"
	"testing"

	"fieldsync"
	"fieldsync/api"
)

// fakeFirstRun counts the calls that reached it.
type fakeFirstRun struct{ calls int }

var _ api.FirstRun = (*fakeFirstRun)(nil)

func (f *fakeFirstRun) CreateFirstAdmin(context.Context, string, api.FirstAdmin) (*fieldsync.User, error) {
	f.calls++
	return &fieldsync.User{ID: "0056b45f-4055-4898-9a95-04200dae9ad6", TenantID: "acme", Username: "admin", Name: "Admin", Role: fieldsync.RoleAdmin, Active: true}, nil
}

// TestSetupAnswersOnlyOnLoopbackWhileOpen: without a first-run setup the
// route is 404; with one, a caller that is not on the server's machine is
// refused before the token is even looked at. (The loopback path, the token
// and its expiry are TestFirstRunSetupInChromium's, in cmd/fieldsync.)
func TestSetupAnswersOnlyOnLoopbackWhileOpen(t *testing.T) {
	t.Parallel()
	body := `{"token":"x","tenant":"acme","username":"admin","password":"a-long-passphrase","name":"Admin"}`
	closed := api.New(api.Options{})
	mustDo(t, closed, "POST", "/v1/setup", body, nil, 404, nil)

	f := &fakeFirstRun{}
	open := api.New(api.Options{FirstRun: f})
	// In-process requests come from 0.0.0.0, not loopback.
	var p struct{ Code string }
	mustDo(t, open, "POST", "/v1/setup", body, nil, 403, &p)
	if p.Code != fieldsync.EForbidden || f.calls != 0 {
		t.Fatalf("got code %s after %d calls, want forbidden before any", p.Code, f.calls)
	}
}
