package replay

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"provisioning/projections"
)

// Difference is one item on which two renderings of a view disagree.
type Difference struct {
	View string `json:"view"`
	// ID is the item (a task id, a batch id, ...; "~summary" for the
	// view's own figures).
	ID string `json:"id"`
	// What says how they differ: "missing in live", "only in live", or the
	// fields that differ with both values.
	What string `json:"what"`
}

func (d Difference) String() string { return d.View + " " + d.ID + ": " + d.What }

// Compare compares the canonical renderings of the views a and b (named
// aName and bName in the differences), item by item.
func Compare(a, b Views, aName, bName string) ([]Difference, error) {
	out, _, err := compareCounting(a, b, aName, bName)
	return out, err
}

// compareCounting is Compare that also returns how many items each view
// of a holds (its summary not counted), from the same renderings.
func compareCounting(a, b Views, aName, bName string) ([]Difference, map[string]int, error) {
	var out []Difference
	counts := map[string]int{}
	bs := b.All()
	for i, va := range a.All() {
		ca, err := va.Canonical()
		if err != nil {
			return nil, nil, err
		}
		counts[va.Name()] = len(ca) - 1
		cb, err := bs[i].Canonical()
		if err != nil {
			return nil, nil, err
		}
		out = append(out, compareCanonical(va.Name(), ca, cb, aName, bName)...)
	}
	return out, counts, nil
}

func compareCanonical(view string, a, b projections.Canonical, aName, bName string) []Difference {
	var out []Difference
	for _, id := range sortedKeys(a, b) {
		da, inA := a[id]
		db, inB := b[id]
		switch {
		case !inB:
			out = append(out, Difference{view, id, "missing in " + bName})
		case !inA:
			out = append(out, Difference{view, id, "only in " + bName + ", not in " + aName})
		case !bytes.Equal(da, db):
			out = append(out, Difference{view, id, fieldDiff(da, db, aName, bName)})
		}
	}
	return out
}

func sortedKeys(maps ...projections.Canonical) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range maps {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	sort.Strings(out)
	return out
}

// fieldDiff names the top-level fields on which two JSON objects differ,
// with both values (shortened).
func fieldDiff(a, b json.RawMessage, aName, bName string) string {
	var ma, mb map[string]any
	if json.Unmarshal(a, &ma) != nil || json.Unmarshal(b, &mb) != nil {
		return fmt.Sprintf("%s %s, %s %s", aName, short(a), bName, short(b))
	}
	var parts []string
	for _, k := range sortedFields(ma, mb) {
		if !reflect.DeepEqual(ma[k], mb[k]) {
			va, _ := json.Marshal(ma[k])
			vb, _ := json.Marshal(mb[k])
			parts = append(parts, fmt.Sprintf("%s: %s %s, %s %s", k, aName, short(va), bName, short(vb)))
		}
	}
	if len(parts) == 0 {
		return "differ in encoding only"
	}
	return strings.Join(parts, "; ")
}

func sortedFields(ms ...map[string]any) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range ms {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	sort.Strings(out)
	return out
}

func short(b []byte) string {
	const max = 160
	if len(b) > max {
		return string(b[:max]) + "…"
	}
	return string(b)
}
