package api_test

import (
	"testing"
)

func TestLoginMeRefreshLogout(t *testing.T) {
	t.Parallel()
	srv := newFullServer(t)
	s := mustLoginSession(t, srv, "guard.a1", "")
	var me struct {
		ID       string   `json:"id"`
		Username string   `json:"username"`
		Role     string   `json:"role"`
		SiteIDs  []string `json:"site_ids"`
		DeviceID string   `json:"device_id"`
	}
	mustDo(t, srv, "GET", "/v1/me", "", s.Headers(), 200, &me)
	if me.Username != "guard.a1" || me.Role != "guard" || me.DeviceID != s.DeviceID || me.ID != s.UserID {
		t.Fatalf("got me %+v, want guard.a1 on %s", me, s.DeviceID)
	}
	var next struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	mustDo(t, srv, "POST", "/v1/auth/refresh", `{"refresh_token":"`+s.Refresh+`"}`, nil, 200, &next)
	if next.RefreshToken == s.Refresh || next.AccessToken == "" {
		t.Fatal("refresh did not rotate")
	}
	mustDo(t, srv, "POST", "/v1/auth/logout", "", map[string]string{"Authorization": "Bearer " + next.AccessToken}, 204, nil)
	mustDo(t, srv, "GET", "/v1/me", "", map[string]string{"Authorization": "Bearer " + next.AccessToken}, 401, nil)
	mustDo(t, srv, "GET", "/v1/me", "", s.Headers(), 401, nil)
}
