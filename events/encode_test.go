package events

import (
	"encoding/json"
	"testing"
	"time"
)

func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	strs := []string{"", "plain", "quote\" back\\slash", "ctl\x00\x01\x1f\n\r\t", "<html>&amp;", "héllo ✓", "bad\xffutf8", "sep\u2028\u2029", "emoji 😀"}
	for _, s := range strs {
		e := Envelope{ID: s, Type: Type(s), Aggregate: AggTask, AggregateID: s, Time: time.Date(2026, 1, 2, 3, 4, 5, 6070, time.FixedZone("x", 3600)),
			SchemaVersion: 3, Actor: s, CorrelationID: s, CausationID: s, Data: json.RawMessage(`{"a":[1,2,{"b":null}]}`)}
		want, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		if got := e.AppendJSON(nil); string(got) != string(want) {
			t.Errorf("%q:\n got %s\nwant %s", s, got, want)
		}
	}
	var empty Envelope
	want, _ := json.Marshal(empty)
	if got := empty.AppendJSON(nil); string(got) != string(want) {
		t.Errorf("zero envelope:\n got %s\nwant %s", got, want)
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "a\"b", "\xff", "\u2028", "<&>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := appendString(nil, s); string(got) != string(want) {
			t.Fatalf("%q: got %s want %s", s, got, want)
		}
	})
}
