package api

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"fieldsync"
)

// FuzzScanJSON holds checkJSON's fast path to the token walk's answers:
// whatever the scanner decides, the token walk decides the same.
func FuzzScanJSON(f *testing.F) {
	for _, s := range []string{
		`{"device_id":"d","mutations":[{"mutation_id":"m","fields":{"a":1,"b":[1,2.5e3,-0.1],"c":null}}]}`,
		`{"a":1,"a":2}`, `{"a\u0062":1,"ab":2}`, `[[[[]]]]`, `{"a":tru}`, `{"a":01}`, `{"a":"\x"}`,
		`1 2`, `{} {}`, `"s"`, `-`, `1.`, `1e`, `{"k":"v",}`, `[1,]`, strings.Repeat("[", 40) + strings.Repeat("]", 40),
		`{"a":{"b":{"b":1,"b":2}}}`, `{"a":1e999}`, `[-1e-999, 12345678901234567890123]`, `{"\u00e9":1,"é":2}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !utf8.Valid(b) {
			return
		}
		decided, fast := scanJSON(b)
		if !decided {
			return
		}
		slow := checkJSONTokens(b)
		if (fast == nil) != (slow == nil) || fieldsync.ErrorField(fast) != fieldsync.ErrorField(slow) ||
			fieldsync.ErrorMessage(fast) != fieldsync.ErrorMessage(slow) {
			t.Fatalf("%q: scanner says %v, token walk says %v", b, fast, slow)
		}
	})
}

func TestScanJSONDecides(t *testing.T) {
	for _, s := range []string{`{"a":1,"b":{"c":[true,false,null,"x\n"]}}`, `{"a":1,"a":2}`, strings.Repeat("[", 33) + strings.Repeat("]", 33)} {
		if decided, _ := scanJSON([]byte(s)); !decided {
			t.Fatalf("%s: the fast path should decide well-formed input", s)
		}
	}
}

// pushBody is a 500-mutation push of creates, as a phone sends it.
func pushBody() []byte {
	var b strings.Builder
	b.WriteString(`{"device_id":"d-1","mutations":[`)
	for i := range 500 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"mutation_id":"0190c3a4-5b6c-7d8e-9f01-%012d","collection":"inspections","op":"create","id":"0190c3a4-5b6c-7d8e-9f00-%012d",`+
			`"fields":{"site_id":"s1","category":"sanitation","severity":"high","description":"leak in the stairwell by door %d",`+
			`"location":"Building 2, floor 3","gps":{"lat":22.51,"lng":114.07}}}`, i, i, i)
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

// BenchmarkCheckJSON compares checkJSON's one-pass scan with the token walk
// it replaced on well-formed input (benchstat-friendly: -bench CheckJSON).
func BenchmarkCheckJSON(b *testing.B) {
	body := pushBody()
	for _, bc := range []struct {
		name string
		fn   func([]byte) error
	}{{"scan", checkJSON}, {"tokens", checkJSONTokens}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if err := bc.fn(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecodePush is the API's whole decoding of a 500-mutation push.
func BenchmarkDecodePush(b *testing.B) {
	body := pushBody()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		batch, early, _, err := decodePush(body, 500)
		if err != nil || len(early) != 0 || len(batch.Mutations) != 500 {
			b.Fatalf("%v, %d rejected early", err, len(early))
		}
	}
}

// FuzzDecodePushOnePass holds decodePush's one-pass decoding to the
// mutation-by-mutation path it stands in for: whenever the one pass takes a
// body, the other path decodes the same batch and rejects nothing.
func FuzzDecodePushOnePass(f *testing.F) {
	for _, s := range []string{
		`{"device_id":"d","mutations":[]}`,
		`{"device_id":"d","schema_version":1,"mutations":[{"mutation_id":"m","collection":"inspections","op":"create","id":"x","fields":{"a":"b","n":1.5e3}}]}`,
		`{"device_id":"d","mutations":[{"mutation_id":"m","op":"update","base_version":3,"fields":{"a":{"b":[1,2,{"c":null}]}}},null]}`,
		`{"device_id":"d","mutations":[{"mutation_id":"m","mutation_id":"n"}]}`,
		`{"device_id":"d","mutations":[{"mutation_id":"m","extra":1}]}`,
		`{"device_id":"d","mutations":[1,"x",true]}`,
		`{"device_id":"d","mutations":[{"fields":{"a":"\u00e9\n"}}]} `,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var one fieldsync.PushRequest
		if checkJSON(body) != nil || decodeStrict(body, &one) != nil || one.Mutations == nil {
			return
		}
		var req pushRequest
		if err := decodeJSONBytesChecked(body, &req, checkPushEnvelope); err != nil {
			t.Fatalf("%q: one pass takes it, the envelope decode refuses it: %v", body, err)
		}
		each, early := decodeMutations(req)
		if len(early) != 0 {
			t.Fatalf("%q: one pass takes it, mutation by mutation rejects %v", body, early)
		}
		if !reflect.DeepEqual(one, each) {
			t.Fatalf("%q: one pass decodes %+v, mutation by mutation %+v", body, one, each)
		}
	})
}

// FuzzPushScanner holds the push scanner to encoding/json: whenever it takes
// a body checkJSON passed, decodeStrict decodes the same request from it.
func FuzzPushScanner(f *testing.F) {
	for _, s := range []string{
		`{"device_id":"d","mutations":[]}`,
		`{"device_id":"d","schema_version":1,"mutations":[{"mutation_id":"m","collection":"inspections","op":"create","id":"x","fields":{"a":"b","n":1.5e3,"o":{"k":["\"",{}]}},"client_time":"t"}]}`,
		`{"mutations":[{"op":"update","base_version":3,"fields":{"a":{"b":[1,2,{"c":null}]}}}], "device_id":"d"}`,
		`{"device_id":"d","mutations":[{"op":"action","action":"close","args":{"note":"x\ny"},"base_version":-0}]}`,
		`{"device_id":"d","mutations":[{"mutation_id":"m","extra":1}]}`,
		`{"Device_ID":"d","mutations":[{"ID":"x"}]}`,
		`{"device_id":"d\u0041","mutations":[{}]}`,
		`{"device_id":"d","schema_version":1.0,"mutations":[{"base_version":1e2}]}`,
		`{"device_id":"d","mutations":[{"fields":{}},{"args":null}]} {}`,
		` { "device_id" : "d" , "mutations" : [ { "fields" : { "a" : true , "b" : [ ] } } ] } `,
		`{"device_id":"d","mutations":[{"base_version":99999999999999999999}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if checkJSON(body) != nil {
			return
		}
		got, ok := scanPush(body)
		if !ok {
			return
		}
		var want fieldsync.PushRequest
		if err := decodeStrict(body, &want); err != nil {
			t.Fatalf("%q: the scanner takes it, encoding/json refuses it: %v", body, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: the scanner reads %#v, encoding/json %#v", body, got, want)
		}
	})
}

// TestPushScannerTakesPhonesBodies: the scanner reads what phones send (else
// every push would fall back to encoding/json).
func TestPushScannerTakesPhonesBodies(t *testing.T) {
	req, ok := scanPush(pushBody())
	if !ok || len(req.Mutations) != 500 || req.Mutations[499].Fields["gps"] == nil {
		t.Fatalf("a phone's push: scanned %v, %d mutations", ok, len(req.Mutations))
	}
	var batch fieldsync.PushRequest
	if err := decodePushOnePass([]byte(`{"device_id":"d","mutations":[{"mutation_id":"m","extra":1}]}`), &batch); err == nil {
		t.Fatal("an unknown key was taken")
	}
}
