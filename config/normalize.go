package config

import "strings"

// Normalize rewrites inline tables that span lines into the one-line form
// TOML requires, adding the commas between their entries:
//
//	endpoints = [
//	  {
//	    url = "https://your-system.com/webhook"
//	    events = ["task.completed"]
//	  }
//	]
//
// becomes `endpoints = [ { url = "…", events = ["task.completed"] } ]`.
// Comments inside inline tables are dropped, as is a trailing comma
// before the closing brace. Everything outside inline tables, strings
// included, is left as it was.
func Normalize(text string) string {
	var out strings.Builder
	out.Grow(len(text))
	var stack []byte // open '{' and '[' brackets
	inTable := func() bool { return len(stack) > 0 && stack[len(stack)-1] == '{' }
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case c == '"' || c == '\'':
			n := stringEnd(text, i)
			out.WriteString(text[i:n])
			i = n - 1
		case c == '#':
			n := strings.IndexByte(text[i:], '\n')
			if n < 0 {
				n = len(text) - i
			}
			if !inTable() {
				out.WriteString(text[i : i+n])
			}
			i += n - 1
		case c == '{' || c == '[':
			stack = append(stack, c)
			out.WriteByte(c)
		case c == '}' || c == ']':
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
			if c == '}' {
				trimTrailingComma(&out)
			}
			out.WriteByte(c)
		case (c == '\n' || c == '\r') && inTable():
			prev := lastNonSpace(out.String())
			next := nextNonSpace(text, i+1)
			if prev != '{' && prev != ',' && next != '}' && next != ',' && next != 0 {
				out.WriteString(", ")
			} else {
				out.WriteByte(' ')
			}
		default:
			out.WriteByte(c)
		}
	}
	return out.String()
}

// stringEnd returns the index just past the string starting at i (basic,
// literal, or either multi-line form).
func stringEnd(text string, i int) int {
	q := text[i]
	if strings.HasPrefix(text[i:], strings.Repeat(string(q), 3)) {
		end := strings.Index(text[i+3:], strings.Repeat(string(q), 3))
		if end < 0 {
			return len(text)
		}
		end += i + 6
		for end < len(text) && text[end] == q { // """a"""" ends with quotes
			end++
		}
		return end
	}
	for j := i + 1; j < len(text); j++ {
		switch text[j] {
		case '\\':
			if q == '"' {
				j++
			}
		case q:
			return j + 1
		case '\n':
			return j
		}
	}
	return len(text)
}

func lastNonSpace(s string) byte {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r' {
			return s[i]
		}
	}
	return 0
}

func nextNonSpace(s string, i int) byte {
	for ; i < len(s); i++ {
		switch s[i] {
		case ' ', '\t', '\n', '\r':
		case '#':
			n := strings.IndexByte(s[i:], '\n')
			if n < 0 {
				return 0
			}
			i += n
		default:
			return s[i]
		}
	}
	return 0
}

func trimTrailingComma(out *strings.Builder) {
	s := out.String()
	j := len(s) - 1
	for j >= 0 && (s[j] == ' ' || s[j] == '\t') {
		j--
	}
	if j >= 0 && s[j] == ',' {
		rest := s[:j] + s[j+1:]
		out.Reset()
		out.WriteString(rest)
	}
}
