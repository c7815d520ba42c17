package api

import (
	"regexp"
	"sort"
	"strconv"
	"strings"

	"fieldsync"
)

// Problem details in the caller's language. Messages are written in English
// where they are made (the domain, the engine, the stores) and stay so in the
// logs; the edge translates a problem's detail (and each errors[].detail, and
// every rejected or conflicting push result's detail) for a caller whose
// Accept-Language prefers Chinese: a catalogue of the messages the desk and
// the field meet, exact or by pattern, and for any other message the code's
// sentence followed by the original words, so nothing is lost. Without the
// header, or preferring English, details stay as they are.

// prefersChinese reports whether the Accept-Language header's most preferred
// language (highest q, first among equals) is Chinese (zh, zh-CN, zh-Hans…).
func prefersChinese(header string) bool {
	if header == "" {
		return false
	}
	type tag struct {
		lang string
		q    float64
		i    int
	}
	var tags []tag
	for i, part := range strings.Split(header, ",") {
		fields := strings.Split(strings.TrimSpace(part), ";")
		t := tag{lang: strings.ToLower(strings.TrimSpace(fields[0])), q: 1, i: i}
		for _, p := range fields[1:] {
			if v, ok := strings.CutPrefix(strings.TrimSpace(p), "q="); ok {
				if q, err := strconv.ParseFloat(v, 64); err == nil {
					t.q = q
				}
			}
		}
		if t.lang != "" && t.q > 0 {
			tags = append(tags, t)
		}
	}
	sort.SliceStable(tags, func(a, b int) bool { return tags[a].q > tags[b].q })
	return len(tags) > 0 && (tags[0].lang == "zh" || strings.HasPrefix(tags[0].lang, "zh-"))
}

// zhByCode is each code's sentence.
var zhByCode = map[string]string{
	fieldsync.EInvalid:         "请求无效",
	fieldsync.EUnauthorized:    "未登录或登录已失效",
	fieldsync.EForbidden:       "无权执行此操作",
	fieldsync.ENotFound:        "找不到该资源",
	fieldsync.EMethodNotAllow:  "不支持该请求方法",
	fieldsync.EConflict:        "与其他修改冲突",
	fieldsync.ENotUploaded:     "文件尚未上传",
	fieldsync.EGone:            "记录已不存在",
	fieldsync.ECursorExpired:   "同步位置已过期，请重新同步",
	fieldsync.EPayloadTooLarge: "请求内容过大",
	fieldsync.EUnprocessable:   "内容无法处理",
	fieldsync.EInvalidTransit:  "当前状态不允许此操作",
	fieldsync.EUpgradeRequired: "请升级应用",
	fieldsync.ERateLimited:     "请求过于频繁，请稍后再试",
	fieldsync.ETimeout:         "请求超时",
	codeHeaderTooLarge:         "请求头过大",
	fieldsync.EInternal:        "服务器内部错误",
	fieldsync.EUnavailable:     "服务暂时不可用，请稍后再试",
}

// zhMessages translates whole messages.
var zhMessages = map[string]string{
	"invalid username or password":                         "用户名或密码错误",
	"too many failed logins; retry later":                  "登录失败次数过多，请稍后再试",
	"invalid refresh token":                                "刷新令牌无效",
	"session expired or revoked; log in again":             "会话已过期或被撤销，请重新登录",
	"user deactivated":                                     "用户已停用",
	"not authenticated":                                    "未登录",
	"missing or invalid access token":                      "访问令牌缺失或无效",
	"record the follow-up visit before closing":            "结案前请先记录回访",
	"the round has ended":                                  "该巡更已结束",
	"may not change this record":                           "无权修改该记录",
	"no such asset":                                        "找不到该文件",
	"request body too large":                               "请求内容过大",
	"malformed HTTP request":                               "HTTP 请求格式错误",
	"content type must be application/json":                "内容类型必须是 application/json",
	"no first-run setup is open":                           "没有待完成的首次设置",
	"a user exists already; log in instead":                "已存在用户，请直接登录",
	"tenant is required":                                   "必须填写租户",
	"device_id is not the device this token was issued to": "device_id 与令牌所属设备不符",
	"the first-run setup answers only on the server's own machine (loopback)":      "首次设置只能在服务器本机（回环地址）上进行",
	"the setup token is wrong, spent or expired; restart the server for a new one": "设置令牌错误、已使用或已过期；重启服务器以获取新的令牌",
}

// zhPatterns translate messages with values in them.
var zhPatterns = []struct {
	re *regexp.Regexp
	zh string
}{
	{regexp.MustCompile(`^cannot (\w+) a record that is (\w+)$`), "记录当前状态为 $2，不能执行 $1"},
	{regexp.MustCompile(`^role may not (\w+) this record$`), "当前角色无权对该记录执行 $1"},
	{regexp.MustCompile(`^the order was assigned by someone else since version (\d+)$`), "自版本 $1 以来该工单已被他人派工"},
	{regexp.MustCompile(`^only a supervisor or above escalates to level (\d+)$`), "只有主管及以上可以升级到第 $1 级"},
	{regexp.MustCompile(`^the complaint is already at the highest escalation level (\d+)$`), "该投诉已处于最高升级级别 $1"},
	{regexp.MustCompile(`^internal error; quote request id (.*)$`), "服务器内部错误；请提供请求编号 $1"},
}

// zhDetail is msg in Chinese: from the catalogue, else the code's sentence,
// the field it names and the original words.
func zhDetail(code, field, msg string) string {
	if s, ok := zhMessages[msg]; ok {
		return s
	}
	for _, p := range zhPatterns {
		if p.re.MatchString(msg) {
			return p.re.ReplaceAllString(msg, p.zh)
		}
	}
	s, ok := zhByCode[code]
	if !ok {
		s = zhByCode[fieldsync.EInternal]
	}
	if field != "" {
		s += "（字段 " + field + "）"
	}
	if msg != "" {
		s += "：" + msg
	}
	return s
}

// localize translates the problem's details for a Chinese reader.
func (p *problem) localize() {
	p.Detail = zhDetail(p.Code, p.Field, p.Detail)
	for i := range p.Errors {
		p.Errors[i].Detail = zhDetail(p.Code, p.Errors[i].Field, p.Errors[i].Detail)
	}
}

// localizeResults translates the details of rejected and conflicting push results.
func localizeResults(results []fieldsync.MutationResult) {
	for i := range results {
		if e := results[i].Error; e != nil {
			c := *e
			c.Detail = zhDetail(c.Code, c.Field, c.Detail)
			results[i].Error = &c
		}
	}
}
