package config

import "strings"

// Unknown lists the keys of table name that no Section call decoded:
// typos, or settings this version does not have. Call it after Section.
func (f *File) Unknown(name string) []string {
	var out []string
	for _, k := range f.md.Undecoded() {
		if len(k) > 1 && k[0] == name {
			out = append(out, strings.Join(k, "."))
		}
	}
	return out
}
