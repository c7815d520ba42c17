package api_test

import (
	"encoding/json"
	"strings"
	"testing"

	"fieldsync"

	"github.com/google/uuid"
)

// TestProblemDetailsFollowAcceptLanguage: a problem's detail, and a rejected
// push result's, read in Chinese for a caller preferring zh (the console's
// default), in English for one preferring en or sending no Accept-Language.
func TestProblemDetailsFollowAcceptLanguage(t *testing.T) {
	t.Parallel()
	srv := newFullServer(t)
	mustSeedUsers(t, srv)
	for _, c := range []struct{ lang, want string }{
		{"zh-CN", "访问令牌缺失或无效"},
		{"zh-CN,zh;q=0.9,en;q=0.8", "访问令牌缺失或无效"},
		{"en;q=0.5, zh-Hans", "访问令牌缺失或无效"},
		{"en", "missing or invalid access token"},
		{"en-US,zh-CN;q=0.3", "missing or invalid access token"},
		{"", "missing or invalid access token"},
	} {
		var p struct{ Detail, Code string }
		h := map[string]string{}
		if c.lang != "" {
			h["Accept-Language"] = c.lang
		}
		h["Authorization"] = "Bearer not-a-token"
		mustDo(t, srv, "GET", "/v1/staff", "", h, 401, &p)
		if p.Detail != c.want || p.Code != fieldsync.EUnauthorized {
			t.Errorf("Accept-Language %q: got detail %q code %s, want %q", c.lang, p.Detail, p.Code, c.want)
		}
	}

	// A push: closing a complaint still received is an invalid transition;
	// an unknown field names itself and keeps the original words.
	cs := mustLoginSession(t, srv, "cs.a1", "")
	id := uuid.NewString()
	muts := []map[string]any{
		{"mutation_id": uuid.NewString(), "collection": "complaints", "op": "create", "id": id, "fields": map[string]any{"site_id": fieldsync.DemoSiteA, "channel": "phone", "content": "楼道灯不亮"}},
		{"mutation_id": uuid.NewString(), "collection": "complaints", "op": "action", "id": id, "action": "close", "args": map[string]any{"result_summary": "x"}},
		{"mutation_id": uuid.NewString(), "collection": "complaints", "op": "update", "id": id, "base_version": 1, "fields": map[string]any{"colour": "red"}},
	}
	for _, lang := range []string{"zh-CN", "en"} {
		for _, m := range muts {
			m["mutation_id"] = uuid.NewString()
		}
		b, _ := json.Marshal(map[string]any{"device_id": cs.DeviceID, "mutations": muts})
		h := cs.Headers()
		h["Accept-Language"] = lang
		var res struct {
			Results []struct {
				Status string
				Error  *struct{ Code, Field, Detail string }
			}
		}
		mustDo(t, srv, "POST", "/v1/sync/push", string(b), h, 200, &res)
		transit, unknown := res.Results[1].Error, res.Results[2].Error
		if transit == nil || unknown == nil {
			t.Fatalf("%s: got results %+v, want the close and the update rejected", lang, res.Results)
		}
		if lang == "zh-CN" {
			if !strings.Contains(transit.Detail, "不能执行 close") || !strings.Contains(unknown.Detail, "（字段 "+unknown.Field+"）") {
				t.Errorf("zh-CN: got details %q and %q", transit.Detail, unknown.Detail)
			}
		} else if strings.ContainsAny(transit.Detail+unknown.Detail, "不字段") || !strings.Contains(transit.Detail, "cannot close") {
			t.Errorf("en: got details %q and %q", transit.Detail, unknown.Detail)
		}
	}
}
