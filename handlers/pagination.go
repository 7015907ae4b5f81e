package handlers

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Page bounds of every list.
const (
	DefaultLimit = 50
	MaxLimit     = 1000
)

// Page is a parsed limit and offset.
type Page struct {
	Limit, Offset int
}

// ParsePage reads limit (1..MaxLimit, default DefaultLimit) and offset
// (>= 0, default 0); anything else is 400.
func ParsePage(r *http.Request) (Page, error) {
	p := Page{Limit: DefaultLimit}
	q := r.URL.Query()
	if v := q.Get("limit"); v != "" || q.Has("limit") {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxLimit {
			return p, Errorf(http.StatusBadRequest, "limit must be an integer from 1 to %d, not %q", MaxLimit, v)
		}
		p.Limit = n
	}
	if v := q.Get("offset"); v != "" || q.Has("offset") {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return p, Errorf(http.StatusBadRequest, "offset must be an integer >= 0, not %q", v)
		}
		p.Offset = n
	}
	return p, nil
}

// WritePage writes one page of a list with X-Total-Count, X-Limit,
// X-Offset and a Link header whose next and prev keep the request's own
// path and other parameters.
func WritePage[T any](w http.ResponseWriter, r *http.Request, p Page, total int, items []T) error {
	h := w.Header()
	h.Set("X-Total-Count", strconv.Itoa(total))
	h.Set("X-Limit", strconv.Itoa(p.Limit))
	h.Set("X-Offset", strconv.Itoa(p.Offset))
	var links []string
	// total-offset, not offset+limit: an offset near the top of the
	// integers would overflow into a negative one.
	if total-p.Offset > p.Limit {
		links = append(links, link(r, p.Offset+p.Limit, p.Limit, "next"))
	}
	if p.Offset > 0 {
		links = append(links, link(r, max(0, p.Offset-p.Limit), p.Limit, "prev"))
	}
	if len(links) > 0 {
		h.Set("Link", strings.Join(links, ", "))
	}
	if items == nil {
		items = []T{}
	}
	return WriteJSON(w, http.StatusOK, items)
}

// Window is the part of n items the page shows, as slice bounds.
func (p Page) Window(n int) (from, to int) {
	from = min(p.Offset, n)
	return from, from + min(p.Limit, n-from)
}

func link(r *http.Request, offset, limit int, rel string) string {
	q := r.URL.Query()
	q.Set("offset", strconv.Itoa(offset))
	q.Set("limit", strconv.Itoa(limit))
	u := url.URL{Path: r.URL.Path, RawQuery: q.Encode()}
	return fmt.Sprintf("<%s>; rel=%q", u.String(), rel)
}
