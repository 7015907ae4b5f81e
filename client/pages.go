package client

import (
	"context"
	"iter"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
)

// ListOptions selects one page of a list: Limit items (the server's
// default 50 when zero; at most 1000) from Offset.
type ListOptions struct {
	Limit  int
	Offset int
}

func (o ListOptions) query(q url.Values) url.Values {
	if q == nil {
		q = url.Values{}
	}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.Offset > 0 {
		q.Set("offset", strconv.Itoa(o.Offset))
	}
	return q
}

// Page is one page of a list and what the pagination headers said.
type Page[T any] struct {
	Items []T
	// Total is X-Total-Count: the number of items of the whole list, or
	// -1 when the server did not say.
	Total  int
	Limit  int
	Offset int
	// Next is the path and query of the next page (the Link header's
	// rel="next"), empty on the last page.
	Next string
}

// More reports whether another page follows.
func (p *Page[T]) More() bool { return p.Next != "" }

// list fetches one page.
func list[T any](ctx context.Context, c *Client, a api, path string, q url.Values) (*Page[T], error) {
	p := &Page[T]{}
	res, err := c.do(ctx, request{api: a, method: http.MethodGet, path: path, query: q}, &p.Items)
	if err != nil {
		return nil, err
	}
	p.Total = headerInt(res.header, "X-Total-Count", -1)
	p.Limit = headerInt(res.header, "X-Limit", len(p.Items))
	p.Offset = headerInt(res.header, "X-Offset", 0)
	p.Next = nextLink(res.header)
	if p.Next == "" && p.Total >= 0 && len(p.Items) > 0 && p.Offset+len(p.Items) < p.Total {
		// A server that counts but does not link: step by offset.
		nq := url.Values{}
		for k, v := range q {
			nq[k] = v
		}
		nq.Set("offset", strconv.Itoa(p.Offset+len(p.Items)))
		p.Next = path + "?" + nq.Encode()
	}
	return p, nil
}

// all iterates over every item of a list, fetching pages as the loop
// needs them. An error ends the iteration after being yielded.
func all[T any](ctx context.Context, c *Client, a api, path string, q url.Values) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		for {
			p, err := list[T](ctx, c, a, path, q)
			if err != nil {
				var zero T
				yield(zero, err)
				return
			}
			for _, item := range p.Items {
				if !yield(item, nil) {
					return
				}
			}
			if !p.More() || len(p.Items) == 0 {
				return
			}
			u, err := url.Parse(p.Next)
			if err != nil {
				var zero T
				yield(zero, err)
				return
			}
			path, q = u.EscapedPath(), u.Query()
		}
	}
}

func headerInt(h http.Header, key string, def int) int {
	n, err := strconv.Atoi(h.Get(key))
	if err != nil {
		return def
	}
	return n
}

var linkPattern = regexp.MustCompile(`<([^>]*)>\s*;\s*rel="?([^";]+)"?`)

// nextLink returns the target of rel="next" in the Link headers.
func nextLink(h http.Header) string {
	for _, v := range h.Values("Link") {
		for _, m := range linkPattern.FindAllStringSubmatch(v, -1) {
			if m[2] == "next" {
				return m[1]
			}
		}
	}
	return ""
}
