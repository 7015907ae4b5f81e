// Package config resolves settings from, in order of precedence, the
// command line, the environment (PROVISIONING_<FLAG>, dashes as
// underscores) and an optional TOML file, then the flag's default.
package config

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/BurntSushi/toml"
)

// File is a parsed configuration file: top-level keys are flag names with
// dashes or underscores; tables hold the settings of one feature.
type File struct {
	Path  string
	Raw   map[string]any
	prims map[string]toml.Primitive
	md    toml.MetaData
}

// Load reads a TOML file. An empty path is an empty file. Inline tables
// may span lines without commas, as in the API reference's [webhooks]
// example (see Normalize).
func Load(path string) (*File, error) {
	f := &File{Path: path, Raw: map[string]any{}, prims: map[string]toml.Primitive{}}
	if path == "" {
		return f, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	return Parse(path, string(data))
}

// Parse reads TOML text; name is used in errors.
func Parse(name, text string) (*File, error) {
	f := &File{Path: name, Raw: map[string]any{}, prims: map[string]toml.Primitive{}}
	text = Normalize(text)
	if _, err := toml.Decode(text, &f.Raw); err != nil {
		return nil, fmt.Errorf("config file %s: %w", name, err)
	}
	md, err := toml.Decode(text, &f.prims)
	if err != nil {
		return nil, fmt.Errorf("config file %s: %w", name, err)
	}
	f.md = md
	return f, nil
}

// Section decodes the table name (e.g. "webhooks") into v; a missing
// table leaves v alone.
func (f *File) Section(name string, v any) error {
	p, ok := f.prims[name]
	if !ok {
		return nil
	}
	if err := f.md.PrimitiveDecode(p, v); err != nil {
		return fmt.Errorf("config file %s: [%s]: %w", f.Path, name, err)
	}
	return nil
}

// EnvName is the environment variable of a flag.
func EnvName(flagName string) string {
	return "PROVISIONING_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Apply sets every flag of fs that was not given on the command line from
// the environment, then from file. It reports which source failed.
func Apply(fs *flag.FlagSet, file *File, getenv func(string) string) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil || given[f.Name] {
			return
		}
		if v := getenv(EnvName(f.Name)); v != "" {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s=%q: %w", EnvName(f.Name), v, e)
			}
			return
		}
		if file == nil {
			return
		}
		for _, key := range []string{f.Name, strings.ReplaceAll(f.Name, "-", "_")} {
			raw, ok := file.Raw[key]
			if !ok {
				continue
			}
			v := fmt.Sprint(raw)
			if list, ok := raw.([]any); ok {
				parts := make([]string, len(list))
				for i, x := range list {
					parts[i] = fmt.Sprint(x)
				}
				v = strings.Join(parts, ",")
			}
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s: %s = %q: %w", file.Path, key, v, e)
			}
			return
		}
	})
	return err
}
